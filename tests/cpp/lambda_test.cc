// Lambda Cloud: where the API key comes from, the client's retries and
// errors against a scripted server on loopback, the failover classification
// of Lambda's error codes, SkyPilot's state mapping and names, and the
// requests a launch sends.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>

#include "infra/lambda/api_client.h"
#include "infra/lambda/cloud.h"
#include "infra/lambda/provisioner.h"
#include "scripted_server.h"
#include "temp_dir.h"

namespace skycore::lambda {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ScriptedResponse;
using testing::ScriptedServer;
using vm::FailureKind;
using vm::InstanceState;

EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

ScriptedResponse Json(int status, const json& body) {
  return {status, body.dump(), 0, "application/json", {}};
}

ScriptedResponse Data(const json& data) { return Json(200, {{"data", data}}); }

ScriptedResponse LambdaError(int status, const std::string& code, const std::string& message) {
  return Json(status, {{"error", {{"code", code}, {"message", message}}}});
}

LambdaClientOptions Quick() {
  LambdaClientOptions options;
  options.retry.initial_backoff_ms = 1;
  options.retry.max_backoff_ms = 5;
  options.retry.max_attempts = 3;
  return options;
}

std::shared_ptr<LambdaClient> ClientOf(const ScriptedServer& server) {
  return std::make_shared<LambdaClient>(server.url() + "/api/v1", ApiKey{"k-1", "LAMBDA_API_KEY"},
                                        Quick());
}

void Write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// The error `call` throws.
template <typename Fn>
std::unique_ptr<Error> Thrown(Fn call) {
  try {
    call();
  } catch (const LambdaCredentialsRefused& e) {
    return std::make_unique<LambdaCredentialsRefused>(e);
  } catch (const LambdaApiError& e) {
    return std::make_unique<LambdaApiError>(e);
  } catch (const Error& e) {
    return std::make_unique<Error>(e);
  }
  return nullptr;
}

// ------------------------------------------------------------ the API key

TEST(LambdaKeys, ParsesSkyPilotsFile) {
  EXPECT_EQ(ParseLambdaKeys("api_key = secret_abc\n"), "secret_abc");
  EXPECT_EQ(ParseLambdaKeys("# a comment\nother = x\napi_key=secret_def  \n"), "secret_def");
  EXPECT_EQ(ParseLambdaKeys("other = x\n"), std::nullopt);
  EXPECT_EQ(ParseLambdaKeys("api_key = \n"), std::nullopt);
}

TEST(LambdaKeys, SourcesInOrder) {
  testing::TempDir dir("lambda");
  const fs::path home = dir.path() / "home";
  Write(home / ".lambda_cloud" / "lambda_keys", "api_key = from-home\n");
  const fs::path named = dir.path() / "keys";
  Write(named, "api_key = from-named\n");

  const ApiKey env_key = ResolveApiKey(FakeEnv({{"LAMBDA_API_KEY", "from-env"},
                                                {"SKYCORE_LAMBDA_KEYS_FILE", named.string()},
                                                {"HOME", home.string()}}));
  EXPECT_EQ(env_key.key, "from-env");
  EXPECT_EQ(env_key.source, "LAMBDA_API_KEY");

  const ApiKey named_key = ResolveApiKey(
      FakeEnv({{"SKYCORE_LAMBDA_KEYS_FILE", named.string()}, {"HOME", home.string()}}));
  EXPECT_EQ(named_key.key, "from-named");
  EXPECT_EQ(named_key.source, "SKYCORE_LAMBDA_KEYS_FILE=" + named.string());

  const ApiKey home_key = ResolveApiKey(FakeEnv({{"HOME", home.string()}}));
  EXPECT_EQ(home_key.key, "from-home");
  EXPECT_EQ(home_key.source, (home / ".lambda_cloud" / "lambda_keys").string());
}

TEST(LambdaKeys, ANamedFileThatFailsIsNotSkipped) {
  testing::TempDir dir("lambda");
  const fs::path home = dir.path() / "home";
  Write(home / ".lambda_cloud" / "lambda_keys", "api_key = from-home\n");
  const fs::path empty = dir.path() / "empty";
  Write(empty, "nothing here\n");
  try {
    ResolveApiKey(FakeEnv({{"SKYCORE_LAMBDA_KEYS_FILE", empty.string()}, {"HOME", home.string()}}));
    FAIL() << "a keys file without api_key was accepted";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find(empty.string()), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("api_key"), std::string::npos) << e.message();
  }
  EXPECT_THROW(ResolveApiKey(FakeEnv({{"SKYCORE_LAMBDA_KEYS_FILE", "/nonexistent/keys"}})),
               InvalidCloudCredentials);
}

TEST(LambdaKeys, NoSourceSaysWhereToPutOne) {
  testing::TempDir dir("lambda");
  try {
    ResolveApiKey(FakeEnv({{"HOME", dir.path().string()}}));
    FAIL() << "no key, no error";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("LAMBDA_API_KEY"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find(".lambda_cloud/lambda_keys"), std::string::npos) << e.message();
  }
}

// ------------------------------------------------------------ the client

TEST(LambdaClient, SendsTheKeyAndUnwrapsData) {
  ScriptedServer server({Data(json::array({{{"id", "a"}, {"name", "x-head"}}}))});
  const auto instances = ClientOf(server)->ListInstances();
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0]["id"], "a");
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].path, "/api/v1/instances");
  EXPECT_EQ(seen[0].headers.at("authorization"), "Bearer k-1");
}

TEST(LambdaClient, ThrottlingAndServerErrorsAreRetriedBounded) {
  ScriptedServer server({LambdaError(429, "global/rate-limited", "Too many requests."),
                         LambdaError(500, "global/internal-error", "oops"), Data(json::array())});
  EXPECT_TRUE(ClientOf(server)->SshKeys().empty());
  EXPECT_EQ(server.seen().size(), 3u);

  ScriptedServer failing({LambdaError(500, "global/internal-error", "oops")});
  const auto error = Thrown([&] { ClientOf(failing)->SshKeys(); });
  ASSERT_NE(dynamic_cast<LambdaApiError*>(error.get()), nullptr);
  EXPECT_EQ(failing.seen().size(), 3u);  // max_attempts
  EXPECT_NE(error->message().find("global/internal-error"), std::string::npos);
}

TEST(LambdaClient, ALaunchIsNotRepeatedAfterAServerError) {
  // It may have made instances before failing; RunInstances counts by name.
  ScriptedServer server({LambdaError(500, "global/internal-error", "oops")});
  EXPECT_THROW(ClientOf(server)->Launch("us-east-1", "gpu_1x_a10", "k", 1, "c-head"),
               LambdaApiError);
  EXPECT_EQ(server.seen().size(), 1u);

  // A throttled one made nothing: asked again.
  ScriptedServer throttled({LambdaError(429, "global/rate-limited", "Too many launch requests."),
                            Data({{"instance_ids", {"i-1"}}})});
  EXPECT_EQ(ClientOf(throttled)->Launch("us-east-1", "gpu_1x_a10", "k", 1, "c-head"),
            std::vector<std::string>{"i-1"});
  EXPECT_EQ(throttled.seen().size(), 2u);
}

TEST(LambdaClient, ARefusedKeyNamesItsSource) {
  ScriptedServer server(
      {LambdaError(401, "global/invalid-api-key", "API key was invalid, expired, or deleted.")});
  const auto error = Thrown([&] { ClientOf(server)->InstanceTypes(); });
  const auto* refused = dynamic_cast<LambdaCredentialsRefused*>(error.get());
  ASSERT_NE(refused, nullptr);
  EXPECT_EQ(refused->detail().code, "global/invalid-api-key");
  EXPECT_NE(error->message().find("LAMBDA_API_KEY"), std::string::npos) << error->message();
  EXPECT_EQ(server.seen().size(), 1u);  // never retried
}

// ------------------------------------------------------------ classification

TEST(LambdaClassify, ErrorCodesSteerFailover) {
  auto kind = [](long status, const std::string& code) {
    LambdaErrorDetail detail;
    detail.code = code;
    detail.http_status = status;
    const auto failure = ClassifyLambdaError(LambdaApiError("x", detail));
    EXPECT_TRUE(failure.has_value());
    return failure ? failure->kind : FailureKind::kBadRequest;
  };
  EXPECT_EQ(kind(400, "instance-operations/launch/insufficient-capacity"), FailureKind::kCapacity);
  EXPECT_EQ(kind(400, "global/quota-exceeded"), FailureKind::kQuota);
  EXPECT_EQ(kind(429, "global/rate-limited"), FailureKind::kTransient);
  EXPECT_EQ(kind(500, "global/internal-error"), FailureKind::kTransient);
  EXPECT_EQ(kind(503, ""), FailureKind::kTransient);
  EXPECT_EQ(kind(0, ""), FailureKind::kTransient);  // no answer
  EXPECT_EQ(kind(404, "global/object-does-not-exist"), FailureKind::kBadRequest);
  EXPECT_EQ(kind(400, "global/invalid-parameters"), FailureKind::kBadRequest);

  LambdaErrorDetail refused;
  refused.code = "global/invalid-api-key";
  const auto auth = ClassifyLambdaError(LambdaCredentialsRefused("no", refused));
  ASSERT_TRUE(auth);
  EXPECT_EQ(auth->kind, FailureKind::kAuth);
  EXPECT_EQ(auth->cloud_code, "global/invalid-api-key");
  EXPECT_EQ(ClassifyLambdaError(InvalidCloudCredentials("no key"))->kind, FailureKind::kAuth);
  EXPECT_FALSE(ClassifyLambdaError(IoError("disk full")).has_value());
}

TEST(LambdaState, SkyPilotsMapping) {
  EXPECT_EQ(LambdaState("booting"), InstanceState::kPending);
  EXPECT_EQ(LambdaState("active"), InstanceState::kRunning);
  EXPECT_EQ(LambdaState("unhealthy"), InstanceState::kPending);
  EXPECT_EQ(LambdaState("terminating"), InstanceState::kTerminating);
  EXPECT_EQ(LambdaState("terminated"), InstanceState::kTerminated);
}

// ------------------------------------------------------------ names and rules

TEST(LambdaSshKey, NamedFromTheKeyAndFoundAgain) {
  const std::string key = "ssh-ed25519 AAAAC3Nza-mine me@here";
  const std::string prefix = SshKeyPrefix(key);
  EXPECT_EQ(prefix.rfind("sky-key-", 0), 0u);
  EXPECT_EQ(prefix.size(), std::string("sky-key-").size() + 8);
  EXPECT_EQ(prefix, SshKeyPrefix("ssh-ed25519 AAAAC3Nza-mine other-comment\n"));

  bool exists = true;
  EXPECT_EQ(UniqueSshKeyName({}, prefix, key, exists), prefix);
  EXPECT_FALSE(exists);
  const json registered = {{"name", prefix + "-2"}, {"public_key", "ssh-ed25519 AAAAC3Nza-mine"}};
  EXPECT_EQ(UniqueSshKeyName({registered}, prefix, key, exists), prefix + "-2");
  EXPECT_TRUE(exists);
  const std::vector<json> others = {{{"name", prefix}, {"public_key", "ssh-ed25519 other"}},
                                    {{"name", prefix + "-3"}, {"public_key", "ssh-rsa x"}},
                                    {{"name", "unrelated-9"}, {"public_key", "ssh-rsa y"}}};
  EXPECT_EQ(UniqueSshKeyName(others, prefix, key, exists), prefix + "-4");
  EXPECT_FALSE(exists);
}

TEST(LambdaFirewall, AddsOnlyUncoveredPorts) {
  const std::vector<json> rules = {
      {{"protocol", "tcp"}, {"port_range", {22, 22}}, {"source_network", "0.0.0.0/0"}},
      {{"protocol", "tcp"}, {"port_range", {8000, 8100}}, {"source_network", "0.0.0.0/0"}}};
  EXPECT_FALSE(RulesWithPorts(rules, {22, 8080}).has_value());
  const auto added = RulesWithPorts(rules, {8080, 9000});
  ASSERT_TRUE(added);
  ASSERT_EQ(added->size(), 3u);
  EXPECT_EQ(added->back()["port_range"], json::array({9000, 9000}));
  EXPECT_EQ(added->back()["protocol"], "tcp");
  EXPECT_EQ(added->back()["source_network"], "0.0.0.0/0");
}

// ------------------------------------------------------------ the provisioner

json Instance(const std::string& id, const std::string& name, const std::string& status,
              const std::string& region = "us-east-1") {
  json instance = {{"id", id}, {"name", name}, {"status", status}, {"region", {{"name", region}}}};
  if (status == "active") {
    instance["ip"] = "127.0.0.9";
    instance["private_ip"] = "127.0.0.9";
  }
  return instance;
}

vm::ProvisionRequest Request(int count) {
  vm::ProvisionRequest request;
  request.cluster_name = "c";
  request.cluster_name_on_cloud = "c-1a2b";
  request.region = "us-east-1";
  request.instance_type = "gpu_1x_a10";
  request.count = count;
  request.provider_config = {{"ssh_key_name", "sky-key-0123abcd"}};
  return request;
}

json Types(const std::vector<std::string>& regions) {
  json available = json::array();
  for (const auto& region : regions) available.push_back({{"name", region}});
  return {{"gpu_1x_a10", {{"regions_with_capacity_available", available}}}};
}

TEST(LambdaProvisioner, LaunchesTheHeadThenTheWorkersByName) {
  ScriptedServer server({Data(json::array({Instance("other", "x-head", "active")})),
                         Data(Types({"us-east-1"})), Data({{"instance_ids", {"h"}}}),
                         Data({{"instance_ids", {"w1", "w2"}}})});
  LambdaProvisioner provisioner(ClientOf(server), {});
  const auto record = provisioner.RunInstances(Request(3));
  EXPECT_EQ(record.head_instance_id, "h");
  EXPECT_EQ(record.created_instance_ids, (std::vector<std::string>{"h", "w1", "w2"}));
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[1].path, "/api/v1/instance-types");
  EXPECT_EQ(seen[2].path, "/api/v1/instance-operations/launch");
  EXPECT_EQ(json::parse(seen[2].body),
            LaunchBody("us-east-1", "gpu_1x_a10", "sky-key-0123abcd", 1, "c-1a2b-head"));
  EXPECT_EQ(json::parse(seen[2].body), json({{"region_name", "us-east-1"},
                                             {"instance_type_name", "gpu_1x_a10"},
                                             {"ssh_key_names", {"sky-key-0123abcd"}},
                                             {"quantity", 1},
                                             {"name", "c-1a2b-head"}}));
  EXPECT_EQ(json::parse(seen[3].body)["name"], "c-1a2b-worker");
  EXPECT_EQ(json::parse(seen[3].body)["quantity"], 2);
}

TEST(LambdaProvisioner, ReusesWhatIsThereAndLaunchesOnlyTheRest) {
  ScriptedServer server({Data(json::array({Instance("h", "c-1a2b-head", "active"),
                                           Instance("w1", "c-1a2b-worker", "booting"),
                                           Instance("gone", "c-1a2b-worker", "terminating")})),
                         Data(Types({"us-east-1"})), Data({{"instance_ids", {"w2"}}})});
  LambdaProvisioner provisioner(ClientOf(server), {});
  const auto record = provisioner.RunInstances(Request(3));
  EXPECT_EQ(record.head_instance_id, "h");
  EXPECT_EQ(record.created_instance_ids, std::vector<std::string>{"w2"});
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(json::parse(seen[2].body)["name"], "c-1a2b-worker");
  EXPECT_EQ(json::parse(seen[2].body)["quantity"], 1);
}

TEST(LambdaProvisioner, NoCapacityInTheListSpendsNoLaunch) {
  ScriptedServer server({Data(json::array()), Data(Types({"us-west-1", "us-south-1"}))});
  LambdaProvisioner provisioner(ClientOf(server), {});
  const auto error = Thrown([&] { provisioner.RunInstances(Request(1)); });
  ASSERT_NE(error, nullptr);
  const auto failure = provisioner.Classify(*error);
  ASSERT_TRUE(failure);
  EXPECT_EQ(failure->kind, FailureKind::kCapacity);
  EXPECT_NE(error->message().find("us-west-1, us-south-1"), std::string::npos) << error->message();
  EXPECT_EQ(server.seen().size(), 2u);
}

TEST(LambdaProvisioner, QueriesAndTerminatesTheClusterOnly) {
  const json listed = json::array({Instance("h", "c-1a2b-head", "active"),
                                   Instance("w", "c-1a2b-worker", "unhealthy"),
                                   Instance("t", "c-1a2b-worker", "terminating"),
                                   Instance("elsewhere", "c-1a2b-worker", "active", "us-west-1"),
                                   Instance("x", "c-1a2b-headless", "active")});
  ScriptedServer server({Data(listed), Data(listed), Data(listed), Data({})});
  LambdaProvisioner provisioner(ClientOf(server), {});
  const auto states = provisioner.QueryInstances("us-east-1", "c-1a2b", true);
  EXPECT_EQ(states, (std::map<std::string, InstanceState>{{"h", InstanceState::kRunning},
                                                          {"w", InstanceState::kPending},
                                                          {"t", InstanceState::kTerminating}}));
  const auto info = provisioner.GetClusterInfo("us-east-1", "c-1a2b");
  EXPECT_EQ(info.head_instance_id, "h");
  ASSERT_EQ(info.instances.size(), 2u);  // active and unhealthy have addresses
  EXPECT_EQ(info.instances[0].instance_id, "h");
  EXPECT_EQ(info.instances[0].external_ip, "127.0.0.9");
  EXPECT_EQ(info.instances[0].ssh_port, 22);
  EXPECT_EQ(info.ssh_user, "ubuntu");

  provisioner.TerminateInstances("us-east-1", "c-1a2b", false);
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[3].path, "/api/v1/instance-operations/terminate");
  EXPECT_EQ(json::parse(seen[3].body), json({{"instance_ids", {"h", "w"}}}));
}

TEST(LambdaProvisioner, StopIsRefusedWithoutACall) {
  ScriptedServer server({Data(json::array())});
  LambdaProvisioner provisioner(ClientOf(server), {});
  try {
    provisioner.StopInstances("us-east-1", "c-1a2b", false);
    FAIL() << "Lambda stopped something";
  } catch (const NotSupportedError& e) {
    EXPECT_NE(e.message().find("does not support stopping"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("sky down"), std::string::npos) << e.message();
  }
  EXPECT_TRUE(server.seen().empty());
}

TEST(LambdaProvisioner, RegistersItsKeyOnce) {
  const std::string key = "ssh-ed25519 AAAAC3Nza-mine me@here";
  const std::string prefix = SshKeyPrefix(key);
  ScriptedServer server({Data(json::array()), Data({{"id", "1"}, {"name", prefix}})});
  LambdaProvisioner provisioner(ClientOf(server), {});
  EXPECT_EQ(provisioner.EnsureSshKey(key), prefix);
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[1].method, "POST");
  EXPECT_EQ(json::parse(seen[1].body), json({{"name", prefix}, {"public_key", key}}));

  server.Script({Data(json::array({{{"id", "1"}, {"name", prefix}, {"public_key", key}}}))});
  EXPECT_EQ(provisioner.EnsureSshKey(key), prefix);
  EXPECT_EQ(server.seen().size(), 3u);  // a list, no POST
}

// ------------------------------------------------------------ the cloud

TEST(LambdaCloud, TheHeadGetsTheKeyAndEndpoint) {
  const LambdaCloud cloud(LambdaSettings{},
                          FakeEnv({{"LAMBDA_API_KEY", "k-9"},
                                   {"SKYCORE_LAMBDA_ENDPOINT", "http://127.0.0.1:1/api/v1"}}));
  const json head = cloud.HeadConfig("us-east-1");
  EXPECT_EQ(head["api_key"], "k-9");
  EXPECT_EQ(head["endpoint"], "http://127.0.0.1:1/api/v1");
  EXPECT_EQ(head["source"], "LAMBDA_API_KEY");
  EXPECT_EQ(head["ssh_user"], "ubuntu");
  EXPECT_NE(cloud.ProvisionerFromHeadConfig(head), nullptr);
  EXPECT_THROW(cloud.ProvisionerFromHeadConfig(json::object()), InvalidCloudCredentials);
  EXPECT_NE(cloud.WhyNoStop().find("does not support stopping"), std::string::npos);
  EXPECT_EQ(LambdaEndpoint(FakeEnv({})), kDefaultEndpoint);
}

TEST(LambdaCloud, ConfigSectionKnowsItsKeys) {
  testing::TempDir dir("lambda");
  const fs::path config = dir.path() / "config.yaml";
  Write(config, "lambda:\n  ssh_user: me\n");
  EXPECT_EQ(ReadLambdaSettings(config).ssh_user, "me");
  EXPECT_EQ(ReadLambdaSettings(dir.path() / "absent.yaml").ssh_user, "ubuntu");
  Write(config, "lambda:\n  ssh_usr: me\n");
  try {
    ReadLambdaSettings(config);
    FAIL() << "an unknown key was accepted";
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_NE(e.message().find("lambda.ssh_usr"), std::string::npos) << e.message();
    EXPECT_EQ(e.suggestions(), std::vector<std::string>{"ssh_user"});
  }
}

TEST(LambdaOfferings, LiveTypesBecomeCatalogRowsPerRegionWithCapacity) {
  const json types = {
      {"gpu_8x_a100_80gb_sxm4",
       {{"instance_type",
         {{"price_cents_per_hour", 1432},
          {"specs", {{"vcpus", 240}, {"memory_gib", 1800}, {"gpus", 8}}}}},
        {"regions_with_capacity_available",
         json::array({{{"name", "us-east-1"}}, {{"name", "us-west-2"}}})}}},
      {"gpu_1x_a10",
       {{"instance_type",
         {{"price_cents_per_hour", 75}, {"specs", {{"vcpus", 30}, {"memory_gib", 200}}}}},
        {"regions_with_capacity_available", json::array()}}},
      {"cpu_4x_general", {{"instance_type", {{"price_cents_per_hour", 10}}}}}};
  const std::string csv = OfferingsCsv(types);
  EXPECT_EQ(csv,
            "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,"
            "SpotPrice\n"
            "gpu_8x_a100_80gb_sxm4,A100-80GB,8,240,1800,14.32,us-east-1,,\n"
            "gpu_8x_a100_80gb_sxm4,A100-80GB,8,240,1800,14.32,us-west-2,,\n");
}

TEST(LambdaOfferings, OnlyAFreshSuccessfulCheckIsUsed) {
  testing::TempDir dir("lambda-offerings");
  EXPECT_FALSE(CachedLambdaOfferings(dir.path()));
  fs::create_directories(dir.path() / "lambda");
  std::ofstream(dir.path() / "lambda" / "offerings.csv") << "rows";
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  std::ofstream(dir.path() / "lambda" / "check.json")
      << json{{"version", 1}, {"enabled", true}, {"checked_at", now}}.dump();
  EXPECT_EQ(CachedLambdaOfferings(dir.path()).value_or(""), "rows");
  std::ofstream(dir.path() / "lambda" / "check.json")
      << json{{"version", 1}, {"enabled", true}, {"checked_at", now - 3600}}.dump();
  EXPECT_FALSE(CachedLambdaOfferings(dir.path()));
}

}  // namespace
}  // namespace skycore::lambda
