// RunPod: where the API key comes from (environment, a named config.toml,
// ~/.runpod/config.toml), the GraphQL client against a scripted server on
// loopback (the key sent, user text only in variables, RunPod's errors as
// typed errors, bounded retries), the failover classification of RunPod's
// words, the instance types and SkyPilot's state mapping.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "infra/runpod/api_client.h"
#include "infra/runpod/cloud.h"
#include "infra/runpod/provisioner.h"
#include "scripted_server.h"
#include "temp_dir.h"

namespace skycore::runpod {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ScriptedResponse;
using testing::ScriptedServer;
using vm::FailureKind;
using vm::InstanceState;

constexpr const char* kNoCapacity =
    "There are no longer any instances available with the requested specifications. Please "
    "refresh and try again.";

EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

ScriptedResponse Json(int status, const json& body) {
  return {status, body.dump(), 0, "application/json"};
}

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

RunpodClientOptions Fast() {
  RunpodClientOptions options;
  options.retry.initial_backoff_ms = 1;
  options.retry.max_backoff_ms = 2;
  return options;
}

// ------------------------------------------------------------ the key

TEST(RunpodKey, EnvironmentThenNamedFileThenHome) {
  testing::TempDir dir("runpod");
  const fs::path named = dir.path() / "named.toml";
  Write(named, "[default]\napi_key = \"from-named\"\n");
  Write(dir.path() / ".runpod" / "config.toml",
        "# written by runpod config\n[default]\napi_key = 'from-home'\n");
  const std::string home = dir.path().string();

  const ApiKey env = FindApiKey(FakeEnv({{"RUNPOD_API_KEY", " from-env\n"},
                                         {"SKYCORE_RUNPOD_CONFIG_FILE", named.string()},
                                         {"HOME", home}}));
  EXPECT_EQ(env.key, "from-env");
  EXPECT_EQ(env.source, "RUNPOD_API_KEY");

  const ApiKey file =
      FindApiKey(FakeEnv({{"SKYCORE_RUNPOD_CONFIG_FILE", named.string()}, {"HOME", home}}));
  EXPECT_EQ(file.key, "from-named");
  EXPECT_EQ(file.source, named.string() + " ([default] api_key)");

  const ApiKey from_home = FindApiKey(FakeEnv({{"HOME", home}}));
  EXPECT_EQ(from_home.key, "from-home");
  EXPECT_NE(from_home.source.find(".runpod/config.toml"), std::string::npos);
}

TEST(RunpodKey, MissingOrKeylessFilesSayWhatWasTried) {
  testing::TempDir dir("runpod");
  try {
    FindApiKey(FakeEnv({{"HOME", dir.path().string()}}));
    FAIL() << "no error";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("RUNPOD_API_KEY is unset"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find(".runpod/config.toml does not exist"), std::string::npos)
        << e.message();
  }
  const fs::path other = dir.path() / "other.toml";
  Write(other, "[work]\napi_key = \"not-default\"\n");
  try {
    FindApiKey(FakeEnv({{"SKYCORE_RUNPOD_CONFIG_FILE", other.string()}}));
    FAIL() << "no error";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("has no api_key in its [default] table"), std::string::npos)
        << e.message();
    EXPECT_NE(e.message().find("SKYCORE_RUNPOD_CONFIG_FILE"), std::string::npos) << e.message();
  }
  EXPECT_THROW(FindApiKey(FakeEnv({{"SKYCORE_RUNPOD_CONFIG_FILE", "/nonexistent/x.toml"}})),
               InvalidCloudCredentials);
}

TEST(RunpodKey, TomlAsTheSdkWritesIt) {
  EXPECT_EQ(ApiKeyFromToml("[default]\napi_key = \"K1\"\n"), "K1");
  EXPECT_EQ(ApiKeyFromToml("[default]\n  api_key=\"a\\\"b\\\\c\"  # comment\n"), "a\"b\\c");
  EXPECT_EQ(ApiKeyFromToml("[other]\napi_key = \"no\"\n[default]\napi_key = 'lit\\eral'\n"),
            "lit\\eral");
  EXPECT_EQ(ApiKeyFromToml("[\"default\"]\n\"api_key\" = \"quoted\"\n"), "quoted");
  EXPECT_EQ(ApiKeyFromToml("api_key = \"top-level\"\n"), std::nullopt);
  EXPECT_EQ(ApiKeyFromToml("[default]\napi_key = \"unterminated\n"), std::nullopt);
  EXPECT_EQ(ApiKeyFromToml(""), std::nullopt);
}

TEST(RunpodKey, EndpointDefaultsToRunpods) {
  EXPECT_EQ(EndpointFrom(FakeEnv({})), "https://api.runpod.io/graphql");
  EXPECT_EQ(EndpointFrom(FakeEnv({{"SKYCORE_RUNPOD_ENDPOINT", "http://127.0.0.1:9/graphql"}})),
            "http://127.0.0.1:9/graphql");
}

// ------------------------------------------------------------ the client

TEST(RunpodClient, SendsTheKeyAndUserTextOnlyAsVariables) {
  ScriptedServer server({Json(200, {{"data", {{"podStop", {{"id", "p1"}}}}}})});
  const RunpodClient client(server.url() + "/graphql", {"rpa_KEY", "RUNPOD_API_KEY"}, Fast());
  const std::string hostile = "x\"} ) { podTerminate(input: {podId: \"all\"}) }\n#";
  const json data = client.Execute(
      "podStop", "mutation Stop($input: PodStopInput!) { podStop(input: $input) { id } }",
      {{"input", {{"podId", hostile}}}});
  EXPECT_EQ(data["podStop"]["id"], "p1");
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "POST");
  EXPECT_EQ(seen[0].path, "/graphql");
  EXPECT_EQ(seen[0].headers.at("authorization"), "Bearer rpa_KEY");
  const json body = json::parse(seen[0].body);
  EXPECT_EQ(body["query"],
            "mutation Stop($input: PodStopInput!) { podStop(input: $input) { id } }");
  EXPECT_EQ(body["variables"]["input"]["podId"], hostile);  // intact, as data
}

TEST(RunpodClient, FieldErrorsBecomeTypedErrorsWithRunpodsWords) {
  ScriptedServer server(
      {Json(200, {{"errors", json::array({{{"message", kNoCapacity},
                                           {"path", {"podRentInterruptable"}},
                                           {"extensions", {{"code", "RUNPOD"}}}}})},
                  {"data", {{"podRentInterruptable", nullptr}}}})});
  const RunpodClient client(server.url(), {"k", "RUNPOD_API_KEY"}, Fast());
  try {
    client.Execute("podRentInterruptable", "mutation { podRentInterruptable { id } }");
    FAIL() << "no error";
  } catch (const RunpodApiError& e) {
    EXPECT_EQ(e.detail().message, kNoCapacity);
    EXPECT_EQ(e.detail().code, "RUNPOD");
    EXPECT_EQ(e.detail().http_status, 200);
    EXPECT_NE(e.message().find(kNoCapacity), std::string::npos) << e.message();
    const auto failure = ClassifyRunpodError(e);
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->kind, FailureKind::kCapacity);
  }
}

TEST(RunpodClient, RefusedKeyNamesItsSource) {
  ScriptedServer server({Json(401, {{"errors", json::array({{{"message", "Unauthorized"}}})}})});
  const RunpodClient client(server.url(),
                            {"bad", "/home/u/.runpod/config.toml ([default] api_key)"}, Fast());
  try {
    client.Execute("myself", "query { myself { id } }");
    FAIL() << "no error";
  } catch (const RunpodCredentialsRefused& e) {
    EXPECT_NE(e.message().find("/home/u/.runpod/config.toml"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("Unauthorized"), std::string::npos) << e.message();
    EXPECT_EQ(ClassifyRunpodError(e)->kind, FailureKind::kAuth);
  }
  EXPECT_EQ(server.seen().size(), 1u);  // never retried
}

TEST(RunpodClient, ThrottlingAndServerErrorsAreRetriedBounded) {
  ScriptedServer server({Json(429, {{"errors", json::array({{{"message", "slow down"}}})}}),
                         Json(502, json::object()),
                         Json(200, {{"data", {{"myself", {{"id", "u"}}}}}})});
  const RunpodClient client(server.url(), {"k", "RUNPOD_API_KEY"}, Fast());
  EXPECT_EQ(client.Execute("myself", "query { myself { id } }")["myself"]["id"], "u");
  EXPECT_EQ(server.seen().size(), 3u);

  ScriptedServer failing({Json(503, {{"errors", json::array({{{"message", "down"}}})}})});
  const RunpodClient bounded(failing.url(), {"k", "RUNPOD_API_KEY"}, Fast());
  try {
    bounded.Execute("myself", "query { myself { id } }");
    FAIL() << "no error";
  } catch (const RunpodApiError& e) {
    EXPECT_EQ(e.detail().http_status, 503);
    EXPECT_EQ(ClassifyRunpodError(e)->kind, FailureKind::kTransient);
  }
  EXPECT_EQ(failing.seen().size(), 4u);  // max_attempts
}

TEST(RunpodClient, ValidationErrorsAreBadRequests) {
  ScriptedServer server({Json(
      400,
      {{"errors", json::array({{{"message", "Cannot query field \"bogus\" on type \"Pod\"."},
                                {"extensions", {{"code", "GRAPHQL_VALIDATION_FAILED"}}}}})}})});
  const RunpodClient client(server.url(), {"k", "RUNPOD_API_KEY"}, Fast());
  try {
    client.Execute("myself", "query { myself { pods { bogus } } }");
    FAIL() << "no error";
  } catch (const RunpodApiError& e) {
    EXPECT_EQ(e.detail().code, "GRAPHQL_VALIDATION_FAILED");
    EXPECT_EQ(ClassifyRunpodError(e)->kind, FailureKind::kBadRequest);
  }
  EXPECT_EQ(server.seen().size(), 1u);
}

// ------------------------------------------------------------ classification

TEST(RunpodClassify, CapacityWordsAuthAndTransport) {
  auto failure = [](std::string message, long status) {
    return ClassifyRunpodError(RunpodApiError(fmt::format("RunPod x failed: {}", message),
                                              {"x", message, "RUNPOD", status, 1}));
  };
  EXPECT_EQ(failure(kNoCapacity, 200)->kind, FailureKind::kCapacity);
  EXPECT_EQ(
      failure("There are not enough free GPUs on the host machine to start this pod.", 200)->kind,
      FailureKind::kCapacity);
  EXPECT_EQ(failure("Your bid price $0.01/hr is below the minimum bid price of $0.3/hr", 200)->kind,
            FailureKind::kCapacity);
  EXPECT_EQ(failure("Image name or template id is required.", 200)->kind, FailureKind::kBadRequest);
  EXPECT_EQ(failure("connection refused", 0)->kind, FailureKind::kTransient);
  EXPECT_EQ(failure("slow down", 429)->kind, FailureKind::kTransient);
  EXPECT_EQ(ClassifyRunpodError(InvalidCloudCredentials("no key"))->kind, FailureKind::kAuth);
  EXPECT_EQ(ClassifyRunpodError(InvalidTaskError("bad type"))->kind, FailureKind::kBadRequest);
  EXPECT_EQ(ClassifyRunpodError(IoError("disk")), std::nullopt);
}

// ------------------------------------------------------------ pods

TEST(RunpodPods, InstanceTypesAsRunpodNamesThem) {
  const PodShape shape = ParseInstanceType("2x_H100-SXM_SECURE");
  EXPECT_EQ(shape.gpu_type_id, "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(shape.gpu_count, 2);
  EXPECT_EQ(shape.cloud_type, "SECURE");
  EXPECT_EQ(ParseInstanceType("1x_L4_COMMUNITY").gpu_type_id, "NVIDIA L4");
  EXPECT_THROW(ParseInstanceType("cpu3c-2-4"), InvalidTaskError);
  EXPECT_THROW(ParseInstanceType("0x_L4_SECURE"), InvalidTaskError);
  EXPECT_THROW(ParseInstanceType("1x_NOPE_SECURE"), InvalidTaskError);
}

TEST(RunpodPods, StatesAsSkyPilotMapsThem) {
  EXPECT_EQ(PodState("RUNNING", true), InstanceState::kRunning);
  EXPECT_EQ(PodState("RUNNING", false), InstanceState::kPending);
  EXPECT_EQ(PodState("CREATED", false), InstanceState::kPending);
  EXPECT_EQ(PodState("RESTARTING", true), InstanceState::kPending);
  EXPECT_EQ(PodState("EXITED", false), InstanceState::kStopped);
  EXPECT_EQ(PodState("PAUSED", false), InstanceState::kStopped);
  EXPECT_EQ(PodState("TERMINATED", false), InstanceState::kTerminated);
}

TEST(RunpodPods, SshIsThePublicPortMappedTo22) {
  const json listed = {{"id", "abc"},
                       {"name", "c-1a2b-head"},
                       {"desiredStatus", "RUNNING"},
                       {"podType", "RESERVED"},
                       {"gpuCount", 1},
                       {"ports", "22/tcp,8080/tcp"},
                       {"runtime",
                        {{"ports", json::array({{{"ip", "10.1.2.3"},
                                                 {"isIpPublic", false},
                                                 {"privatePort", 22},
                                                 {"publicPort", 22},
                                                 {"type", "tcp"}},
                                                {{"ip", "127.0.0.9"},
                                                 {"isIpPublic", true},
                                                 {"privatePort", 8080},
                                                 {"publicPort", 8080},
                                                 {"type", "tcp"}},
                                                {{"ip", "127.0.0.9"},
                                                 {"isIpPublic", true},
                                                 {"privatePort", 22},
                                                 {"publicPort", 40022},
                                                 {"type", "tcp"}}})}}}};
  const Pod pod = ParsePod(listed);
  EXPECT_TRUE(pod.head);
  EXPECT_EQ(pod.external_ip, "127.0.0.9");
  EXPECT_EQ(pod.ssh_port, 40022);
  EXPECT_EQ(pod.internal_ip, "10.1.2.3");
  EXPECT_EQ(pod.state, InstanceState::kRunning);

  json starting = listed;
  starting["runtime"] = nullptr;
  starting["name"] = "c-1a2b-worker";
  const Pod pending = ParsePod(starting);
  EXPECT_FALSE(pending.head);
  EXPECT_EQ(pending.state, InstanceState::kPending);
  EXPECT_EQ(pending.ssh_port, 0);
}

TEST(RunpodPods, DeployInputCarriesKeyPortsAndPlace) {
  vm::ProvisionRequest request;
  request.region = "US";
  request.zone = "US-KS-2";
  request.disk_size_gb = 100;
  request.ports = {8080, 22, 8080};
  request.ssh_public_key = "ssh-ed25519 AAAA me@host";
  const PodShape shape = ParseInstanceType("2x_L4_SECURE");
  const json on_demand =
      DeployInput(request, shape, "c-1a2b-head", "runpod/base:1.0.2-ubuntu2204", 24, std::nullopt);
  EXPECT_EQ(on_demand["name"], "c-1a2b-head");
  EXPECT_EQ(on_demand["gpuTypeId"], "NVIDIA L4");
  EXPECT_EQ(on_demand["gpuCount"], 2);
  EXPECT_EQ(on_demand["cloudType"], "SECURE");
  EXPECT_EQ(on_demand["ports"], "22/tcp,8080/tcp");
  EXPECT_EQ(on_demand["countryCode"], "US");
  EXPECT_EQ(on_demand["dataCenterId"], "US-KS-2");
  EXPECT_EQ(on_demand["containerDiskInGb"], 100);
  EXPECT_EQ(on_demand["minMemoryInGb"], 48);
  EXPECT_EQ(on_demand["minVcpuCount"], 8);
  EXPECT_EQ(on_demand["env"],
            json::array({{{"key", "PUBLIC_KEY"}, {"value", "ssh-ed25519 AAAA me@host"}}}));
  EXPECT_FALSE(on_demand.contains("bidPerGpu"));
  const json spot = DeployInput(request, shape, "c-1a2b-head", "img", 24, 0.29);
  EXPECT_DOUBLE_EQ(spot["bidPerGpu"].get<double>(), 0.29);
}

// ------------------------------------------------------------ settings

TEST(RunpodSettings, OnlyKnownKeys) {
  testing::TempDir dir("runpod");
  const fs::path config = dir.path() / "config.yaml";
  Write(config, "runpod:\n  ssh_user: ubuntu\n");
  EXPECT_EQ(ReadRunpodSettings(config).ssh_user, "ubuntu");
  EXPECT_EQ(ReadRunpodSettings(dir.path() / "absent.yaml").ssh_user, "root");
  Write(config, "runpod:\n  ssh_usr: ubuntu\n");
  try {
    ReadRunpodSettings(config);
    FAIL() << "no error";
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_EQ(e.field_path(), "runpod.ssh_usr");
    ASSERT_FALSE(e.suggestions().empty());
    EXPECT_EQ(e.suggestions()[0], "ssh_user");
  }
}

}  // namespace
}  // namespace skycore::runpod
