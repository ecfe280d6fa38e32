// Kubernetes authentication: exec credential plugins (the kubeconfig's exec
// section, the request a plugin gets, its v1/v1beta1 answers, errors), their
// credentials' cache, and the in-cluster context of a pod. Plugins here are
// shell scripts in a temporary directory; the real API server is exercised
// by tests/python/test_k8s_auth.py.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "infra/kubernetes/credential_plugin.h"
#include "infra/kubernetes/kubeconfig.h"
#include "skycore/error.h"
#include "temp_dir.h"

namespace skycore::kubernetes {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

// Each test's own directory under /tmp.
struct TempDir : skycore::testing::TempDir {
  TempDir() : skycore::testing::TempDir("k8s_auth") {}
};

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

void WriteScript(const fs::path& path, const std::string& body) {
  std::ofstream(path) << "#!/bin/sh\n" << body;
  fs::permissions(path, fs::perms::owner_all);
}

int Lines(const fs::path& path) {
  const std::string text = ReadFile(path);
  return static_cast<int>(std::count(text.begin(), text.end(), '\n'));
}

Kubeconfig Parse(const std::string& text, const std::string& file = "/cfg/config") {
  Kubeconfig config;
  MergeKubeconfigText(text, file, config);
  return config;
}

std::string ExecKubeconfig(const std::string& exec_lines) {
  return "current-context: ctx\n"
         "clusters:\n- name: c\n  cluster: {server: 'https://10.1.2.3:6443'}\n"
         "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n"
         "users:\n- name: u\n  user:\n    exec:\n" +
         exec_lines;
}

int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

template <typename E, typename F>
std::string ErrorOf(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error thrown";
  return {};
}

// ------------------------------------------------------------ exec config

TEST(KubeAuthTest, ParsesTheExecSection) {
  auto config =
      Parse(ExecKubeconfig("      apiVersion: client.authentication.k8s.io/v1\n"
                           "      command: ./bin/plugin\n"
                           "      args: [get-token, --cluster, prod]\n"
                           "      env:\n      - {name: REGION, value: eu}\n      - {name: EMPTY}\n"
                           "      installHint: brew install plugin\n"
                           "      provideClusterInfo: true\n"
                           "      interactiveMode: Never\n"));
  const ExecConfig& exec = *config.users.at("u").exec;
  EXPECT_EQ(exec.api_version, kExecApiV1);
  // A relative command with a '/' is relative to the kubeconfig's directory.
  EXPECT_EQ(exec.command, "/cfg/bin/plugin");
  EXPECT_EQ(exec.args, (std::vector<std::string>{"get-token", "--cluster", "prod"}));
  ASSERT_EQ(exec.env.size(), 2u);
  EXPECT_EQ(exec.env[0], (std::pair<std::string, std::string>{"REGION", "eu"}));
  EXPECT_EQ(exec.env[1].second, "");
  EXPECT_EQ(exec.install_hint, "brew install plugin");
  EXPECT_TRUE(exec.provide_cluster_info);
  EXPECT_EQ(exec.interactive_mode, "Never");

  // A bare name is looked up in PATH when it runs.
  auto bare =
      Parse(ExecKubeconfig("      apiVersion: client.authentication.k8s.io/v1beta1\n"
                           "      command: gke-gcloud-auth-plugin\n"));
  EXPECT_EQ(bare.users.at("u").exec->command, "gke-gcloud-auth-plugin");
  EXPECT_FALSE(bare.users.at("u").exec->provide_cluster_info);
}

TEST(KubeAuthTest, RejectsAMalformedExecSection) {
  auto error = ErrorOf<InvalidSkyPilotConfigError>([] {
    Parse(
        ExecKubeconfig("      apiVersion: client.authentication.k8s.io/v1alpha1\n"
                       "      command: plugin\n"));
  });
  EXPECT_NE(error.find("v1alpha1' is not supported"), std::string::npos) << error;
  EXPECT_NE(error.find("users[0].user.exec.apiVersion"), std::string::npos) << error;
  error = ErrorOf<InvalidSkyPilotConfigError>(
      [] { Parse(ExecKubeconfig("      apiVersion: client.authentication.k8s.io/v1\n")); });
  EXPECT_NE(error.find("no command"), std::string::npos) << error;
  error = ErrorOf<InvalidSkyPilotConfigError>([] {
    Parse(
        ExecKubeconfig("      apiVersion: client.authentication.k8s.io/v1\n"
                       "      command: p\n      interactiveMode: Sometimes\n"));
  });
  EXPECT_NE(error.find("'Sometimes' is not Never, IfAvailable or Always"), std::string::npos)
      << error;
  EXPECT_THROW(Parse(ExecKubeconfig("      apiVersion: client.authentication.k8s.io/v1\n"
                                    "      command: p\n      env: [{value: x}]\n")),
               InvalidSkyPilotConfigError);
}

TEST(KubeAuthTest, RequestJsonCarriesTheClusterOnlyWhenAsked) {
  ExecConfig exec;
  exec.api_version = kExecApiV1Beta1;
  exec.command = "p";
  const ExecClusterInfo cluster{"https://10.1.2.3:6443", "hello", true};
  auto request = json::parse(ExecRequestJson(exec, cluster));
  EXPECT_EQ(request, json::parse(R"({"apiVersion":"client.authentication.k8s.io/v1beta1",
      "kind":"ExecCredential","spec":{"interactive":false}})"));
  exec.provide_cluster_info = true;
  request = json::parse(ExecRequestJson(exec, cluster));
  EXPECT_EQ(request["spec"]["cluster"], json::parse(R"({"server":"https://10.1.2.3:6443",
                "certificate-authority-data":"aGVsbG8=","insecure-skip-tls-verify":true})"));
}

// ---------------------------------------------------------- plugin answers

TEST(KubeAuthTest, ParsesV1AndV1beta1Credentials) {
  ExecConfig exec;
  exec.api_version = kExecApiV1;
  auto token = ParseExecCredential(
      R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential",
          "status":{"token":"abc","expirationTimestamp":"2030-01-02T03:04:05Z"}})",
      exec, "plugin");
  EXPECT_EQ(token.token, "abc");
  EXPECT_EQ(token.expires_at, 1893553445);
  exec.api_version = kExecApiV1Beta1;
  auto cert = ParseExecCredential(
      R"({"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential",
          "status":{"clientCertificateData":"CERT","clientKeyData":"KEY"}})",
      exec, "plugin");
  EXPECT_EQ(cert.client_cert_pem, "CERT");
  EXPECT_EQ(cert.client_key_pem, "KEY");
  EXPECT_EQ(cert.expires_at, 0);
}

TEST(KubeAuthTest, RejectsBadCredentialsWithoutQuotingThem) {
  ExecConfig exec;
  exec.api_version = kExecApiV1;
  const std::string what = "Kubernetes context 'ctx': the exec credential plugin 'p'";
  auto error =
      ErrorOf<NetworkError>([&] { ParseExecCredential("token: s3cret-not-json {", exec, what); });
  EXPECT_NE(error.find("context 'ctx'"), std::string::npos) << error;
  EXPECT_NE(error.find("no ExecCredential JSON"), std::string::npos) << error;
  EXPECT_EQ(error.find("s3cret"), std::string::npos) << error;
  error = ErrorOf<NetworkError>([&] {
    ParseExecCredential(R"({"apiVersion":"client.authentication.k8s.io/v1beta1",
        "kind":"ExecCredential","status":{"token":"t"}})",
                        exec, what);
  });
  EXPECT_NE(error.find("expected kind 'ExecCredential' of apiVersion "
                       "'client.authentication.k8s.io/v1'"),
            std::string::npos)
      << error;
  error = ErrorOf<NetworkError>([&] {
    ParseExecCredential(
        R"({"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}})",
        exec, what);
  });
  EXPECT_NE(error.find("without status.token"), std::string::npos) << error;
  error = ErrorOf<NetworkError>([&] {
    ParseExecCredential(R"({"apiVersion":"client.authentication.k8s.io/v1",
        "kind":"ExecCredential","status":{"clientCertificateData":"C"}})",
                        exec, what);
  });
  EXPECT_NE(error.find("both are needed"), std::string::npos) << error;
  error = ErrorOf<NetworkError>([&] {
    ParseExecCredential(R"({"apiVersion":"client.authentication.k8s.io/v1",
        "kind":"ExecCredential","status":{"token":"t","expirationTimestamp":"tomorrow"}})",
                        exec, what);
  });
  EXPECT_NE(error.find("'tomorrow', which is not an RFC 3339 time"), std::string::npos) << error;
}

TEST(KubeAuthTest, ParsesRfc3339Times) {
  EXPECT_EQ(ParseRfc3339("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseRfc3339("2030-01-02T03:04:05Z"), 1893553445);
  EXPECT_EQ(ParseRfc3339("2030-01-02T03:04:05.123456789Z"), 1893553445);
  EXPECT_EQ(ParseRfc3339("2030-01-02T05:04:05+02:00"), 1893553445);
  EXPECT_EQ(ParseRfc3339("2030-01-01T22:04:05-05:00"), 1893553445);
  EXPECT_FALSE(ParseRfc3339("2030-01-02T03:04:05"));  // no zone
  EXPECT_FALSE(ParseRfc3339("2030-13-02T03:04:05Z"));
  EXPECT_FALSE(ParseRfc3339("2030-01-02T03:04:05Zjunk"));
  EXPECT_FALSE(ParseRfc3339(""));
}

// ------------------------------------------------------------------ cache

TEST(KubeAuthTest, CredentialsAreValidUntilThirtySecondsBeforeExpiry) {
  ExecCredential credential{"t", "", "", 1000};
  EXPECT_TRUE(StillValid(credential, 969));
  EXPECT_FALSE(StillValid(credential, 970));
  EXPECT_FALSE(StillValid(credential, 2000));
  credential.expires_at = 0;
  EXPECT_TRUE(StillValid(credential, 1'000'000'000));
}

TEST(KubeAuthTest, CacheKeepsExpiringCredentialsOnDiskPrivately) {
  TempDir temp;
  const fs::path dir = CredentialCacheDir(temp.path() / "state");
  EXPECT_EQ(dir, temp.path() / "state" / "kubernetes" / "credentials");
  const int64_t now = Now();
  {
    CredentialCache cache(dir);
    cache.Store("expiring", {"t1", "", "", now + 3600});
    cache.Store("forever", {"t2", "", "", 0});
    EXPECT_EQ(cache.Lookup("forever", now)->token, "t2");  // in memory
  }
  EXPECT_EQ(fs::status(dir).permissions() & fs::perms::all, fs::perms::owner_all);
  EXPECT_EQ(fs::status(dir / "expiring.json").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_FALSE(fs::exists(dir / "forever.json"));  // no expiry: memory only

  CredentialCache later(dir);  // the next process
  EXPECT_EQ(later.Lookup("expiring", now)->token, "t1");
  EXPECT_FALSE(later.Lookup("forever", now));
  EXPECT_FALSE(later.Lookup("expiring", now + 3600 - 10));  // about to expire
  later.Drop("expiring");
  EXPECT_FALSE(fs::exists(dir / "expiring.json"));
  EXPECT_FALSE(CredentialCache(dir).Lookup("expiring", now));
}

TEST(KubeAuthTest, CacheKeyDependsOnConfigAndServer) {
  ExecConfig exec;
  exec.api_version = kExecApiV1;
  exec.command = "p";
  const std::string key = CredentialCacheKey(exec, "https://a");
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key, CredentialCacheKey(exec, "https://a"));
  EXPECT_NE(key, CredentialCacheKey(exec, "https://b"));
  exec.args = {"--profile", "other"};
  EXPECT_NE(key, CredentialCacheKey(exec, "https://a"));
}

// ------------------------------------------------------------ running one

ExecConfig ScriptExec(const fs::path& script) {
  ExecConfig exec;
  exec.api_version = kExecApiV1;
  exec.command = script.string();
  return exec;
}

const char* kPrintToken =
    "cat <<EOF\n"
    "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
    "\"status\":{\"token\":\"tok-$(wc -l < \"$(dirname \"$0\")/count\" | tr -d ' ')\","
    "\"expirationTimestamp\":\"2099-01-01T00:00:00Z\"}}\n"
    "EOF\n";

TEST(KubeAuthTest, RunsThePluginWithTheRequestAndItsEnvironment) {
  TempDir temp;
  const fs::path script = temp.path() / "plugin";
  WriteScript(script,
              "d=$(dirname \"$0\"); echo run >>\"$d/count\"\n"
              "printf '%s' \"$KUBERNETES_EXEC_INFO\" >\"$d/request\"\n"
              "printf '%s %s' \"$REGION\" \"$*\" >\"$d/env\"\n"
              "test -t 0 && echo 'stdin is a terminal' >&2\n"
              "echo 'a warning on stderr' >&2\n" +
                  std::string(kPrintToken));
  ExecConfig exec = ScriptExec(script);
  exec.args = {"get-token", "--fast"};
  exec.env = {{"REGION", "eu"}};
  exec.provide_cluster_info = true;
  auto credential = RunExecPlugin(exec, {"https://h:1", "", false}, {5, "ctx", "u"});
  EXPECT_EQ(credential.token, "tok-1");
  EXPECT_EQ(credential.expires_at, *ParseRfc3339("2099-01-01T00:00:00Z"));
  const auto request = json::parse(ReadFile(temp.path() / "request"));
  EXPECT_EQ(request["kind"], "ExecCredential");
  EXPECT_EQ(request["apiVersion"], kExecApiV1);
  EXPECT_EQ(request["spec"]["interactive"], false);
  EXPECT_EQ(request["spec"]["cluster"]["server"], "https://h:1");
  EXPECT_EQ(ReadFile(temp.path() / "env"), "eu get-token --fast");
}

TEST(KubeAuthTest, AFailingPluginNamesContextCommandExitCodeAndStderr) {
  TempDir temp;
  const fs::path script = temp.path() / "plugin";
  WriteScript(script,
              "for i in $(seq 1 30); do echo \"line $i\" >&2; done\n"
              "echo 'error: you must be logged in' >&2\nexit 3\n");
  const auto error = ErrorOf<NetworkError>([&] {
    RunExecPlugin(ScriptExec(script), {}, {5, "prod", "admin"});
  });
  EXPECT_NE(error.find("Kubernetes context 'prod'"), std::string::npos) << error;
  EXPECT_NE(error.find(fmt::format("'{}' failed (exit code 3)", script.string())),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("error: you must be logged in"), std::string::npos) << error;
  EXPECT_NE(error.find("line 30"), std::string::npos) << error;
  EXPECT_EQ(error.find("line 5\n"), std::string::npos) << error;  // only the last 20 lines
}

TEST(KubeAuthTest, AMissingPluginShowsItsInstallHint) {
  ExecConfig exec;
  exec.api_version = kExecApiV1;
  exec.command = "skycore-no-such-credential-plugin";
  exec.install_hint = "Install it with: brew install no-such-plugin";
  const auto error = ErrorOf<NetworkError>([&] { RunExecPlugin(exec, {}, {5, "prod", "admin"}); });
  EXPECT_NE(error.find("context 'prod'"), std::string::npos) << error;
  EXPECT_NE(error.find("'skycore-no-such-credential-plugin' of user 'admin' was not found in PATH"),
            std::string::npos)
      << error;
  EXPECT_NE(error.find("brew install no-such-plugin"), std::string::npos) << error;
}

TEST(KubeAuthTest, AHungPluginIsStoppedAtTheTimeout) {
  TempDir temp;
  const fs::path script = temp.path() / "plugin";
  // The grandchild holds stdout open: only killing the group ends the wait.
  WriteScript(script, "sleep 30 &\nsleep 30\n");
  const auto start = std::chrono::steady_clock::now();
  const auto error = ErrorOf<NetworkError>([&] {
    RunExecPlugin(ScriptExec(script), {}, {0.5, "prod", "admin"});
  });
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
  EXPECT_NE(error.find("did not finish within 0.5 s"), std::string::npos) << error;
}

TEST(KubeAuthTest, InteractiveModeAlwaysIsNotSupported) {
  ExecConfig exec = ScriptExec("/bin/true");
  exec.interactive_mode = "Always";
  EXPECT_THROW(RunExecPlugin(exec, {}, {5, "prod", "admin"}), NotSupportedError);
}

// ------------------------------------------------- resolving with a plugin

TEST(KubeAuthTest, ResolveRunsThePluginOnceAndRenewsOnRequest) {
  TempDir temp;
  WriteScript(temp.path() / "plugin",
              std::string("echo run >>\"$(dirname \"$0\")/count\"\n") + kPrintToken);
  std::ofstream(temp.path() / "config") << ExecKubeconfig(
      "      apiVersion: client.authentication.k8s.io/v1\n"
      "      command: ./plugin\n");
  const auto config = LoadKubeconfig({temp.path() / "config"});
  ResolveOptions options;
  options.cache = std::make_shared<CredentialCache>(temp.path() / "cache");
  auto first = ResolveContext(config, "", options);
  EXPECT_EQ(first.token, "tok-1");
  EXPECT_EQ(first.server, "https://10.1.2.3:6443");
  ASSERT_TRUE(first.renew);
  // A later process, with its own cache object, reuses the file.
  ResolveOptions later;
  later.cache = std::make_shared<CredentialCache>(temp.path() / "cache");
  EXPECT_EQ(ResolveContext(config, "", later).token, "tok-1");
  EXPECT_EQ(Lines(temp.path() / "count"), 1);
  // What ApiClient does on a 401: the plugin runs again, the cache follows.
  auto renewed = first.renew();
  EXPECT_EQ(renewed.token, "tok-2");
  EXPECT_EQ(renewed.context, "ctx");
  EXPECT_EQ(ResolveContext(config, "", options).token, "tok-2");
  ResolveOptions third;
  third.cache = std::make_shared<CredentialCache>(temp.path() / "cache");
  EXPECT_EQ(ResolveContext(config, "", third).token, "tok-2");
  // Without a cache, each resolution runs it.
  EXPECT_EQ(ResolveContext(config).token, "tok-3");
  EXPECT_EQ(Lines(temp.path() / "count"), 3);
}

TEST(KubeAuthTest, AUsersOwnTokenWinsOverItsPlugin) {
  auto config = Parse(
      "current-context: ctx\n"
      "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
      "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n"
      "users:\n- name: u\n  user:\n    token: static\n    exec:\n"
      "      apiVersion: client.authentication.k8s.io/v1\n"
      "      command: skycore-no-such-credential-plugin\n");
  auto credentials = ResolveContext(config);
  EXPECT_EQ(credentials.token, "static");
  EXPECT_FALSE(credentials.renew);
}

TEST(KubeAuthTest, AuthProviderUsersAreNotSupported) {
  auto config = Parse(
      "current-context: ctx\n"
      "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
      "contexts:\n- name: ctx\n  context: {cluster: c, user: u}\n"
      "users:\n- name: u\n  user:\n    auth-provider: {name: gcp}\n");
  const auto error = ErrorOf<NotSupportedError>([&] { ResolveContext(config); });
  EXPECT_NE(error.find("auth-provider"), std::string::npos) << error;
}

// ------------------------------------------------------------- in-cluster

TEST(KubeAuthTest, InClusterConfigComesFromTheEnvironment) {
  std::map<std::string, std::string> vars = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                             {"KUBERNETES_SERVICE_PORT", "443"}};
  auto env = [&](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
  auto in_cluster = InClusterFromEnvironment(env);
  EXPECT_EQ(in_cluster.server, "https://10.96.0.1:443");
  EXPECT_EQ(in_cluster.context, "in-cluster");
  EXPECT_EQ(in_cluster.service_account_dir, "/var/run/secrets/kubernetes.io/serviceaccount");
  vars["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  vars["SKYCORE_K8S_SERVICEACCOUNT_DIR"] = "/tmp/sa";
  vars["SKYPILOT_IN_CLUSTER_CONTEXT_NAME"] = "home";
  in_cluster = InClusterFromEnvironment(env);
  EXPECT_EQ(in_cluster.server, "https://[fd00::1]:443");
  EXPECT_EQ(in_cluster.service_account_dir, "/tmp/sa");
  EXPECT_EQ(in_cluster.context, "home");
  vars.erase("KUBERNETES_SERVICE_PORT");
  EXPECT_EQ(InClusterFromEnvironment(env).server, "");
}

TEST(KubeAuthTest, InClusterContextReadsTheServiceAccountEachTime) {
  TempDir temp;
  const fs::path sa = temp.path() / "sa";
  fs::create_directories(sa);
  std::ofstream(sa / "token") << "token-1\n";
  std::ofstream(sa / "ca.crt") << "CA PEM";
  std::ofstream(sa / "namespace") << "team-a";
  InClusterConfig in_cluster;
  in_cluster.server = "https://10.96.0.1:443";
  in_cluster.service_account_dir = sa;
  // No kubeconfig file: the in-cluster context is the current one.
  auto config = LoadKubeconfig({temp.path() / "missing"}, in_cluster);
  EXPECT_EQ(config.current_context, "in-cluster");
  auto credentials = ResolveContext(config);
  EXPECT_EQ(credentials.context, "in-cluster");
  EXPECT_EQ(credentials.server, "https://10.96.0.1:443");
  EXPECT_EQ(credentials.token, "token-1");
  EXPECT_EQ(credentials.ca_pem, "CA PEM");
  EXPECT_EQ(credentials.namespace_name, "team-a");
  std::ofstream(sa / "token") << "token-2\n";  // the kubelet rotated it
  EXPECT_EQ(ResolveContext(config).token, "token-2");

  // With a kubeconfig, its current context stays current and in-cluster can
  // still be named (allowed_contexts).
  std::ofstream(temp.path() / "config")
      << "current-context: mine\n"
         "clusters:\n- name: c\n  cluster: {server: 'https://h'}\n"
         "contexts:\n- name: mine\n  context: {cluster: c}\n";
  config = LoadKubeconfig({temp.path() / "config"}, in_cluster);
  EXPECT_EQ(config.current_context, "mine");
  EXPECT_EQ(ResolveContext(config, "in-cluster").token, "token-2");

  // Neither a kubeconfig nor a pod: the old error.
  EXPECT_THROW(LoadKubeconfig({temp.path() / "missing"}, {}), InvalidSkyPilotConfigError);
  // A pod without a token: the error names the file.
  fs::remove(sa / "token");
  config = LoadKubeconfig({temp.path() / "missing"}, in_cluster);
  const auto error = ErrorOf<InvalidSkyPilotConfigError>([&] { ResolveContext(config); });
  EXPECT_NE(error.find((sa / "token").string()), std::string::npos) << error;
}

}  // namespace
}  // namespace skycore::kubernetes
