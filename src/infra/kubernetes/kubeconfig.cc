#include "infra/kubernetes/kubeconfig.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::kubernetes {
namespace fs = std::filesystem;

namespace {

[[noreturn]] void Fail(const fs::path& file, const std::string& field, const std::string& what,
                       int line = 0) {
  ErrorLocation location;
  location.file = file.string();
  location.line = line;
  location.field_path = field;
  throw InvalidSkyPilotConfigError(fmt::format("kubeconfig {}: {}", file.string(), what), location);
}

std::string ScalarField(const YAML::Node& map, const char* key, const fs::path& file,
                        const std::string& field) {
  const YAML::Node node = map[key];
  if (!node || node.IsNull()) return {};
  if (!node.IsScalar()) {
    Fail(file, field + "." + key, "expected a string", node.Mark().line + 1);
  }
  return node.Scalar();
}

std::string Base64Field(const YAML::Node& map, const char* key, const fs::path& file,
                        const std::string& field) {
  std::string text = ScalarField(map, key, file, field);
  if (text.empty()) return {};
  auto decoded = strings::DecodeBase64(text);
  if (!decoded) {
    Fail(file, field + "." + key, "not valid base64", map[key].Mark().line + 1);
  }
  return *decoded;
}

fs::path PathField(const YAML::Node& map, const char* key, const fs::path& file,
                   const std::string& field) {
  std::string text = ScalarField(map, key, file, field);
  if (text.empty()) return {};
  fs::path path(text);
  // kubectl resolves relative paths against the kubeconfig's directory.
  if (path.is_relative()) path = file.parent_path() / path;
  return path;
}

bool BoolField(const YAML::Node& map, const char* key, const fs::path& file,
               const std::string& field) {
  const std::string text = ScalarField(map, key, file, field);
  if (!text.empty() && text != "true" && text != "false") {
    Fail(file, field + "." + key, "expected true or false", map[key].Mark().line + 1);
  }
  return text == "true";
}

// A user's `exec:` section, checked as kubectl checks it.
ExecConfig ParseExec(const YAML::Node& node, const fs::path& file, const std::string& field) {
  if (!node.IsMap()) Fail(file, field, "expected a mapping", node.Mark().line + 1);
  const int line = node.Mark().line + 1;
  ExecConfig exec;
  exec.api_version = ScalarField(node, "apiVersion", file, field);
  if (exec.api_version != kExecApiV1 && exec.api_version != kExecApiV1Beta1) {
    Fail(file, field + ".apiVersion",
         fmt::format("exec apiVersion '{}' is not supported; use {} or {}", exec.api_version,
                     kExecApiV1, kExecApiV1Beta1),
         line);
  }
  exec.command = ScalarField(node, "command", file, field);
  if (exec.command.empty()) Fail(file, field + ".command", "the exec plugin has no command", line);
  // kubectl: a relative command with a '/' is relative to the kubeconfig.
  if (exec.command.find('/') != std::string::npos && fs::path(exec.command).is_relative()) {
    exec.command = (file.parent_path() / exec.command).lexically_normal().string();
  }
  if (const YAML::Node args = node["args"]; args && !args.IsNull()) {
    if (!args.IsSequence()) Fail(file, field + ".args", "expected a list", line);
    for (size_t i = 0; i < args.size(); ++i) {
      if (!args[i].IsScalar()) {
        Fail(file, fmt::format("{}.args[{}]", field, i), "expected a string",
             args[i].Mark().line + 1);
      }
      exec.args.push_back(args[i].Scalar());
    }
  }
  if (const YAML::Node env = node["env"]; env && !env.IsNull()) {
    if (!env.IsSequence()) Fail(file, field + ".env", "expected a list of {name, value}", line);
    for (size_t i = 0; i < env.size(); ++i) {
      const std::string item = fmt::format("{}.env[{}]", field, i);
      if (!env[i].IsMap()) Fail(file, item, "expected {name, value}", env[i].Mark().line + 1);
      std::string name = ScalarField(env[i], "name", file, item);
      if (name.empty() || name.find('=') != std::string::npos) {
        Fail(file, item + ".name", "expected a variable name", env[i].Mark().line + 1);
      }
      exec.env.emplace_back(std::move(name), ScalarField(env[i], "value", file, item));
    }
  }
  exec.install_hint = ScalarField(node, "installHint", file, field);
  exec.provide_cluster_info = BoolField(node, "provideClusterInfo", file, field);
  exec.interactive_mode = ScalarField(node, "interactiveMode", file, field);
  if (!exec.interactive_mode.empty() && exec.interactive_mode != "Never" &&
      exec.interactive_mode != "IfAvailable" && exec.interactive_mode != "Always") {
    Fail(file, field + ".interactiveMode",
         fmt::format("'{}' is not Never, IfAvailable or Always", exec.interactive_mode), line);
  }
  return exec;
}

// Iterates `section` (a list of {name, <item_key>: map}), calling `each`
// with the entry's name, its inner map and its field path.
template <typename Each>
void ForEachNamed(const YAML::Node& root, const char* section, const char* item_key,
                  const fs::path& file, Each each) {
  const YAML::Node list = root[section];
  if (!list || list.IsNull()) return;
  if (!list.IsSequence()) Fail(file, section, "expected a list", list.Mark().line + 1);
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string field = fmt::format("{}[{}]", section, i);
    const YAML::Node entry = list[i];
    if (!entry.IsMap()) Fail(file, field, "expected a mapping", entry.Mark().line + 1);
    std::string name = ScalarField(entry, "name", file, field);
    if (name.empty()) Fail(file, field + ".name", "missing name", entry.Mark().line + 1);
    YAML::Node inner = entry[item_key];
    if (inner && !inner.IsNull() && !inner.IsMap()) {
      Fail(file, field + "." + item_key, "expected a mapping", inner.Mark().line + 1);
    }
    each(name, inner ? inner : YAML::Node(YAML::NodeType::Map), field + "." + item_key);
  }
}

std::string ReadWholeFile(const fs::path& path, const std::string& context,
                          const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw InvalidSkyPilotConfigError(
        fmt::format("context '{}': cannot read {} {}", context, what, path.string()));
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

std::vector<fs::path> KubeconfigPaths(const EnvLookup& env) {
  std::vector<fs::path> paths;
  if (auto value = env("KUBECONFIG"); value && !value->empty()) {
    for (const auto& part : strings::Split(*value, ':')) {
      if (!part.empty()) paths.emplace_back(part);
    }
    if (!paths.empty()) return paths;
  }
  if (auto home = env("HOME"); home && !home->empty()) {
    paths.push_back(fs::path(*home) / ".kube" / "config");
  }
  return paths;
}

void MergeKubeconfigText(const std::string& text, const fs::path& file, Kubeconfig& into) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    Fail(file, "", "not valid YAML: " + e.msg, e.mark.line + 1);
  }
  into.files.push_back(file);
  if (!root || root.IsNull()) return;  // an empty file adds nothing
  if (!root.IsMap()) Fail(file, "", "expected a mapping at the top level");
  if (into.current_context.empty()) {
    into.current_context = ScalarField(root, "current-context", file, "");
  }
  const std::string source = file.string();
  ForEachNamed(
      root, "clusters", "cluster", file,
      [&](const std::string& name, const YAML::Node& map, const std::string& field) {
        if (into.clusters.count(name)) return;  // first wins
        KubeCluster cluster;
        cluster.source = source;
        cluster.server = ScalarField(map, "server", file, field);
        cluster.certificate_authority_data =
            Base64Field(map, "certificate-authority-data", file, field);
        cluster.certificate_authority = PathField(map, "certificate-authority", file, field);
        const std::string insecure = ScalarField(map, "insecure-skip-tls-verify", file, field);
        if (!insecure.empty() && insecure != "true" && insecure != "false") {
          Fail(file, field + ".insecure-skip-tls-verify", "expected true or false");
        }
        cluster.insecure_skip_tls_verify = insecure == "true";
        into.clusters.emplace(name, std::move(cluster));
      });
  ForEachNamed(root, "users", "user", file,
               [&](const std::string& name, const YAML::Node& map, const std::string& field) {
                 if (into.users.count(name)) return;
                 KubeUser user;
                 user.source = source;
                 user.client_certificate_data =
                     Base64Field(map, "client-certificate-data", file, field);
                 user.client_certificate = PathField(map, "client-certificate", file, field);
                 user.client_key_data = Base64Field(map, "client-key-data", file, field);
                 user.client_key = PathField(map, "client-key", file, field);
                 user.token = ScalarField(map, "token", file, field);
                 user.token_file = PathField(map, "tokenFile", file, field);
                 if (const YAML::Node exec = map["exec"]; exec && !exec.IsNull()) {
                   user.exec = ParseExec(exec, file, field + ".exec");
                 }
                 user.has_auth_provider =
                     static_cast<bool>(map["auth-provider"]) && !map["auth-provider"].IsNull();
                 into.users.emplace(name, std::move(user));
               });
  ForEachNamed(root, "contexts", "context", file,
               [&](const std::string& name, const YAML::Node& map, const std::string& field) {
                 if (into.contexts.count(name)) return;
                 KubeContext context;
                 context.source = source;
                 context.cluster = ScalarField(map, "cluster", file, field);
                 context.user = ScalarField(map, "user", file, field);
                 context.namespace_name = ScalarField(map, "namespace", file, field);
                 into.context_names.push_back(name);
                 into.contexts.emplace(name, std::move(context));
               });
}

InClusterConfig InClusterFromEnvironment(const EnvLookup& env) {
  InClusterConfig in_cluster;
  const auto host = env("KUBERNETES_SERVICE_HOST");
  const auto port = env("KUBERNETES_SERVICE_PORT");
  if (host && !host->empty() && port && !port->empty()) {
    const bool ipv6 = host->find(':') != std::string::npos;
    in_cluster.server = "https://";
    if (ipv6) in_cluster.server += '[';
    in_cluster.server += *host;
    if (ipv6) in_cluster.server += ']';
    in_cluster.server += ":";
    in_cluster.server += *port;
  }
  if (auto name = env("SKYPILOT_IN_CLUSTER_CONTEXT_NAME"); name && !name->empty()) {
    in_cluster.context = *name;
  }
  if (auto dir = env("SKYCORE_K8S_SERVICEACCOUNT_DIR"); dir && !dir->empty()) {
    in_cluster.service_account_dir = *dir;
  }
  return in_cluster;
}

std::optional<std::string> ProcessEnvironment(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

namespace {

// The in-cluster context as if a kubeconfig named it: the token is a
// tokenFile, so each resolution reads the current one.
void AddInClusterContext(const InClusterConfig& in_cluster, Kubeconfig& config) {
  const std::string& name = in_cluster.context;
  if (config.contexts.count(name) || config.clusters.count(name) || config.users.count(name)) {
    return;  // a kubeconfig's own entry of that name wins
  }
  const fs::path& dir = in_cluster.service_account_dir;
  const std::string source = dir.string();
  std::error_code ec;
  KubeCluster cluster;
  cluster.server = in_cluster.server;
  cluster.source = source;
  if (fs::exists(dir / "ca.crt", ec)) cluster.certificate_authority = dir / "ca.crt";
  KubeUser user;
  user.token_file = dir / "token";
  user.source = source;
  KubeContext context;
  context.cluster = name;
  context.user = name;
  context.source = source;
  std::ifstream in(dir / "namespace");
  std::stringstream buffer;
  buffer << in.rdbuf();
  context.namespace_name = std::string(strings::Trim(buffer.str()));
  config.clusters.emplace(name, std::move(cluster));
  config.users.emplace(name, std::move(user));
  config.contexts.emplace(name, std::move(context));
  config.context_names.push_back(name);
}

}  // namespace

Kubeconfig LoadKubeconfig(const std::vector<fs::path>& paths, const InClusterConfig& in_cluster) {
  Kubeconfig config;
  std::vector<std::string> tried;
  for (const auto& path : paths) {
    std::ifstream in(path, std::ios::binary);
    tried.push_back(path.string());
    if (!in) continue;  // kubectl skips missing files of $KUBECONFIG
    std::stringstream buffer;
    buffer << in.rdbuf();
    MergeKubeconfigText(buffer.str(), path, config);
  }
  if (!in_cluster.server.empty()) {
    AddInClusterContext(in_cluster, config);
    if (config.files.empty()) config.current_context = in_cluster.context;
    return config;
  }
  if (config.files.empty()) {
    throw InvalidSkyPilotConfigError(
        fmt::format("no kubeconfig found (looked for {}); set KUBECONFIG or write ~/.kube/config",
                    tried.empty() ? std::string("$KUBECONFIG and ~/.kube/config")
                                  : strings::JoinQuoted(tried, " and ")));
  }
  return config;
}

namespace {

int64_t NowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Fills `out`'s token or certificate from the user's exec plugin: a cached
// credential unless `fresh`, else a new one from the plugin (then cached).
void ApplyExecCredential(ContextCredentials& out, const ExecConfig& exec,
                         const ResolveOptions& options, bool fresh) {
  const ExecClusterInfo cluster{out.server, out.ca_pem, out.insecure_skip_tls_verify};
  const std::string key = CredentialCacheKey(exec, out.server);
  std::optional<ExecCredential> credential;
  if (options.cache && !fresh) credential = options.cache->Lookup(key, NowSeconds());
  if (!credential) {
    if (options.cache) options.cache->Drop(key);
    credential = RunExecPlugin(exec, cluster, {options.exec_timeout_s, out.context, out.user_name});
    if (options.cache) options.cache->Store(key, *credential);
  }
  out.token = credential->token;
  out.client_cert_pem = credential->client_cert_pem;
  out.client_key_pem = credential->client_key_pem;
  ContextCredentials base = out;
  base.renew = nullptr;
  out.renew = [base = std::move(base), exec, options]() {
    ContextCredentials renewed = base;
    ApplyExecCredential(renewed, exec, options, true);
    return renewed;
  };
}

}  // namespace

ContextCredentials ResolveContext(const Kubeconfig& config, const std::string& context_name,
                                  const ResolveOptions& options) {
  const std::string name = context_name.empty() ? config.current_context : context_name;
  const std::string files = config.files.empty() ? "" : config.files.front().string();
  if (name.empty()) {
    throw InvalidSkyPilotConfigError(
        fmt::format("kubeconfig {}: no current-context is set; run `kubectl config "
                    "use-context <name>`",
                    files),
        {files, 0, 0, "current-context"});
  }
  auto context_it = config.contexts.find(name);
  if (context_it == config.contexts.end()) {
    throw InvalidSkyPilotConfigError(
        fmt::format("kubeconfig {}: context '{}' is not defined", files, name),
        {files, 0, 0, "contexts"}, strings::CloseMatches(name, config.context_names));
  }
  const KubeContext& context = context_it->second;
  auto cluster_it = config.clusters.find(context.cluster);
  if (cluster_it == config.clusters.end()) {
    throw InvalidSkyPilotConfigError(
        fmt::format("kubeconfig {}: context '{}' names cluster '{}', which is not defined",
                    context.source, name, context.cluster),
        {context.source, 0, 0, "contexts.context.cluster"});
  }
  const KubeCluster& cluster = cluster_it->second;
  if (cluster.server.empty()) {
    throw InvalidSkyPilotConfigError(
        fmt::format("kubeconfig {}: cluster '{}' has no server", cluster.source, context.cluster),
        {cluster.source, 0, 0, "clusters.cluster.server"});
  }
  ContextCredentials out;
  out.context = name;
  out.server = cluster.server;
  while (!out.server.empty() && out.server.back() == '/') out.server.pop_back();
  out.namespace_name = context.namespace_name.empty() ? "default" : context.namespace_name;
  out.user_name = context.user;
  out.insecure_skip_tls_verify = cluster.insecure_skip_tls_verify;
  out.ca_pem = !cluster.certificate_authority_data.empty() ? cluster.certificate_authority_data
               : cluster.certificate_authority.empty()
                   ? std::string()
                   : ReadWholeFile(cluster.certificate_authority, name, "certificate-authority");
  if (context.user.empty()) return out;
  auto user_it = config.users.find(context.user);
  if (user_it == config.users.end()) {
    throw InvalidSkyPilotConfigError(
        fmt::format("kubeconfig {}: context '{}' names user '{}', which is not defined",
                    context.source, name, context.user),
        {context.source, 0, 0, "contexts.context.user"});
  }
  const KubeUser& user = user_it->second;
  out.client_cert_pem = !user.client_certificate_data.empty() ? user.client_certificate_data
                        : user.client_certificate.empty()
                            ? std::string()
                            : ReadWholeFile(user.client_certificate, name, "client-certificate");
  out.client_key_pem = !user.client_key_data.empty() ? user.client_key_data
                       : user.client_key.empty()
                           ? std::string()
                           : ReadWholeFile(user.client_key, name, "client-key");
  out.token = user.token;
  if (out.token.empty() && !user.token_file.empty()) {
    out.token = std::string(strings::Trim(ReadWholeFile(user.token_file, name, "tokenFile")));
  }
  // As in kubectl, a certificate or token of the user's own wins over its
  // plugin.
  const bool has_static = !out.client_cert_pem.empty() || !out.token.empty();
  if (!has_static && user.exec) {
    ApplyExecCredential(out, *user.exec, options, false);
    return out;
  }
  if (!has_static && user.has_auth_provider) {
    throw NotSupportedError(fmt::format(
        "kubeconfig {}: user '{}' of context '{}' authenticates with an auth-provider plugin, "
        "which kubectl itself no longer supports; use the provider's exec credential plugin "
        "(e.g. gke-gcloud-auth-plugin or kubelogin), a client certificate or a token",
        user.source, context.user, name));
  }
  if (out.client_cert_pem.empty() != out.client_key_pem.empty()) {
    throw InvalidSkyPilotConfigError(
        fmt::format("kubeconfig {}: user '{}' has a client certificate without its key (or a "
                    "key without its certificate)",
                    user.source, context.user),
        {user.source, 0, 0, "users.user.client-key"});
  }
  return out;
}

std::string StandaloneKubeconfig(const ContextCredentials& credentials) {
  using nlohmann::json;
  json cluster = {{"server", credentials.server}};
  if (!credentials.ca_pem.empty()) {
    cluster["certificate-authority-data"] = strings::EncodeBase64(credentials.ca_pem);
  }
  if (credentials.insecure_skip_tls_verify) cluster["insecure-skip-tls-verify"] = true;
  json user = json::object();
  if (!credentials.client_cert_pem.empty()) {
    user["client-certificate-data"] = strings::EncodeBase64(credentials.client_cert_pem);
    user["client-key-data"] = strings::EncodeBase64(credentials.client_key_pem);
  }
  if (!credentials.token.empty()) user["token"] = credentials.token;
  const std::string& name = credentials.context;
  const std::string user_name = credentials.user_name.empty() ? name : credentials.user_name;
  // JSON is YAML: kubectl and LoadKubeconfig read it as it is.
  const json config = {
      {"apiVersion", "v1"},
      {"kind", "Config"},
      {"current-context", name},
      {"clusters", json::array({{{"name", name}, {"cluster", cluster}}})},
      {"users", json::array({{{"name", user_name}, {"user", user}}})},
      {"contexts", json::array({{{"name", name},
                                 {"context",
                                  {{"cluster", name},
                                   {"user", user_name},
                                   {"namespace", credentials.namespace_name}}}}})}};
  return config.dump(2) + "\n";
}

}  // namespace skycore::kubernetes
