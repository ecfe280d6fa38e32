// GCP: Application Default Credentials against a scripted token endpoint on
// loopback (a service-account key's RS256 assertion verified with the key,
// an authorized user's refresh token, tokens cached), which source wins,
// and where the project comes from.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "common/strings.h"
#include "infra/gcp/compute_client.h"
#include "infra/gcp/credentials.h"
#include "infra/gcp/provisioner.h"
#include "scripted_server.h"
#include "skycore/error.h"
#include "temp_dir.h"

namespace skycore::gcp {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::ScriptedResponse;
using testing::ScriptedServer;

EnvLookup FakeEnv(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

std::string Read(const fs::path& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string DecodeUrl(std::string part) {
  for (char& c : part) c = c == '-' ? '+' : c == '_' ? '/' : c;
  while (part.size() % 4) part.push_back('=');
  return strings::DecodeBase64(part).value_or("");
}

ScriptedResponse Token(const std::string& token) {
  return {200, json{{"access_token", token}, {"expires_in", 3599}}.dump(), 0, "application/json"};
}

TEST(GcpCredentials, ServiceAccountKeyIsExchangedForATokenAndCached) {
  testing::TempDir dir("gcp");
  const fs::path key = dir.path() / "key.pem";
  ASSERT_EQ(std::system(("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " +
                         key.string() + " 2>/dev/null")
                            .c_str()),
            0);
  ScriptedServer server({Token("sa-token")});
  const fs::path file = dir.path() / "sa.json";
  std::ofstream(file) << json{{"type", "service_account"},
                              {"project_id", "proj-1"},
                              {"private_key_id", "kid-1"},
                              {"private_key", Read(key)},
                              {"client_email", "sky@proj-1.iam.gserviceaccount.com"},
                              {"token_uri", server.url() + "/token"}}
                             .dump();
  int64_t now = 1000;
  CredentialsOptions options;
  options.env = FakeEnv({{"GOOGLE_APPLICATION_CREDENTIALS", file.string()}});
  options.now = [&] { return now; };
  options.on_gce = [] { return false; };
  TokenProvider tokens(options);
  EXPECT_EQ(tokens.Project(), "proj-1");
  EXPECT_NE(tokens.SourceName().find("service account sky@proj-1.iam.gserviceaccount.com"),
            std::string::npos);
  EXPECT_EQ(tokens.Token().token, "sa-token");
  EXPECT_EQ(tokens.Token().token, "sa-token");
  auto seen = server.seen();
  ASSERT_EQ(seen.size(), 1u);  // cached
  EXPECT_EQ(seen[0].path, "/token");
  const std::string prefix = "assertion=";
  const size_t at = seen[0].body.find(prefix);
  ASSERT_NE(at, std::string::npos);
  EXPECT_NE(seen[0].body.find("grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer"),
            std::string::npos);
  const auto parts = strings::Split(seen[0].body.substr(at + prefix.size()), '.');
  ASSERT_EQ(parts.size(), 3u);
  const json header = json::parse(DecodeUrl(parts[0]));
  const json claims = json::parse(DecodeUrl(parts[1]));
  EXPECT_EQ(header["kid"], "kid-1");
  EXPECT_EQ(claims["iss"], "sky@proj-1.iam.gserviceaccount.com");
  EXPECT_EQ(claims["aud"], server.url() + "/token");
  EXPECT_EQ(claims["scope"], kCloudPlatformScope);
  EXPECT_EQ(claims["exp"], 4600);
  // Signed with the key: its public half verifies the signature.
  const std::string pem = Read(key);
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  EVP_PKEY* private_key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  const std::string input = parts[0] + "." + parts[1];
  const std::string signature = DecodeUrl(parts[2]);
  EVP_DigestVerifyInit(context, nullptr, EVP_sha256(), nullptr, private_key);
  EXPECT_EQ(EVP_DigestVerify(context, reinterpret_cast<const unsigned char*>(signature.data()),
                             signature.size(), reinterpret_cast<const unsigned char*>(input.data()),
                             input.size()),
            1);
  EVP_MD_CTX_free(context);
  EVP_PKEY_free(private_key);
  BIO_free(bio);

  now = 4400;  // within five minutes of expiry: a new one
  server.Script({Token("sa-token-2")});
  EXPECT_EQ(tokens.Token().token, "sa-token-2");
}

TEST(GcpCredentials, AuthorizedUserRefreshAndItsRefusal) {
  testing::TempDir dir("gcp");
  ScriptedServer server(
      {Token("user-token"),
       {400,
        R"({"error":"invalid_grant","error_description":"Token has been expired or revoked."})", 0,
        "application/json"}});
  const fs::path gcloud = dir.path() / "gcloud";
  fs::create_directories(gcloud / "configurations");
  std::ofstream(gcloud / "application_default_credentials.json") << json{
      {"type", "authorized_user"},
      {"client_id", "cid"},
      {"client_secret", "cs"},
      {"refresh_token", "rt"},
      {"token_uri", server.url() + "/token"}}.dump();
  std::ofstream(gcloud / "active_config") << "work\n";
  std::ofstream(gcloud / "configurations" / "config_work") << "[core]\naccount = a@b\n"
                                                              "project = from-gcloud\n";
  CredentialsOptions options;
  options.env = FakeEnv({{"CLOUDSDK_CONFIG", gcloud.string()}});
  options.on_gce = [] { return false; };
  TokenProvider tokens(options);
  EXPECT_EQ(tokens.Project(), "from-gcloud");
  EXPECT_NE(tokens.SourceName().find("gcloud application-default login"), std::string::npos);
  EXPECT_EQ(tokens.Token().token, "user-token");
  EXPECT_NE(server.seen()[0].body.find("refresh_token=rt"), std::string::npos);
  tokens.Invalidate();
  try {
    tokens.Token();
    FAIL() << "no error";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("invalid_grant: Token has been expired or revoked."),
              std::string::npos)
        << e.message();
    EXPECT_NE(e.message().find("gcloud auth application-default login"), std::string::npos);
  }
}

TEST(GcpCredentials, NothingConfiguredNamesEverySource) {
  testing::TempDir dir("gcp");
  CredentialsOptions options;
  options.env = FakeEnv({{"HOME", dir.path().string()}});
  options.on_gce = [] { return false; };  // never the metadata server off GCE
  TokenProvider tokens(options);
  EXPECT_EQ(tokens.Project(), "");
  try {
    tokens.Token();
    FAIL() << "no error";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("GOOGLE_APPLICATION_CREDENTIALS"), std::string::npos);
    EXPECT_NE(e.message().find("not a GCE VM"), std::string::npos);
  }
  const fs::path bad = dir.path() / "bad.json";
  std::ofstream(bad) << R"({"type": "external_account"})";
  EXPECT_THROW(ReadCredentialsFile(bad), InvalidCloudCredentials);
  std::ofstream(bad) << R"({"type": "service_account", "client_email": "x"})";
  try {
    ReadCredentialsFile(bad);
    FAIL() << "no error";
  } catch (const InvalidCloudCredentials& e) {
    EXPECT_NE(e.message().find("\"private_key\""), std::string::npos) << e.message();
  }
}

// A token source of an authorized-user login whose token endpoint is `url`.
std::shared_ptr<TokenProvider> LoginTokens(const std::string& url) {
  CredentialsOptions options;
  options.env = FakeEnv({});
  options.on_gce = [] { return false; };
  options.inline_credentials = json{
      {"type", "authorized_user"},
      {"client_id", "cid"},
      {"client_secret", "cs"},
      {"refresh_token", "rt"},
      {"token_uri",
       url + "/token"}}.dump();
  options.inline_source = "a test login";
  return std::make_shared<TokenProvider>(options);
}

ScriptedResponse Json(int status, const json& body) {
  return {status, body.dump(), 0, "application/json"};
}

TEST(GcpCompute, AFailedOperationIsWaitedForAndClassifiedAsAStockout) {
  const json pending = {{"name", "op-1"},
                        {"status", "PENDING"},
                        {"operationType", "insert"},
                        {"zone", "https://x/compute/v1/projects/p/zones/us-central1-a"},
                        {"targetLink",
                         "https://x/compute/v1/projects/p/zones/us-central1-a/"
                         "instances/c-1-head"}};
  json running = pending;
  running["status"] = "RUNNING";
  json failed = pending;
  failed["status"] = "DONE";
  failed["httpErrorStatusCode"] = 503;
  failed["error"] = {
      {"errors", json::array({{{"code", "ZONE_RESOURCE_POOL_EXHAUSTED"},
                               {"message", "The zone does not have enough resources"}}})}};
  ScriptedServer server({Token("t"), Json(200, pending), Json(200, running), Json(200, failed)});
  const ComputeClient compute(server.url() + "/compute/v1", "p", LoginTokens(server.url()));
  const auto operation =
      compute.Begin("POST", compute.ProjectPath("zones/us-central1-a/instances"), {{"name", "x"}});
  try {
    compute.Wait(operation, std::chrono::steady_clock::now() + std::chrono::seconds(10));
    FAIL() << "no error";
  } catch (const GcpApiError& e) {
    EXPECT_EQ(e.reason(), "ZONE_RESOURCE_POOL_EXHAUSTED");
    EXPECT_TRUE(e.detail().from_operation);
    EXPECT_EQ(e.detail().http_status, 503);
    EXPECT_NE(e.message().find("instances/c-1-head"), std::string::npos) << e.message();
    const auto failure = ClassifyGcpError(e);
    ASSERT_TRUE(failure);
    EXPECT_EQ(failure->kind, vm::FailureKind::kCapacity);
  }
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(seen[1].path, "/compute/v1/projects/p/zones/us-central1-a/instances");
  EXPECT_EQ(seen[1].headers.at("authorization"), "Bearer t");
  EXPECT_EQ(seen[2].method, "POST");
  EXPECT_EQ(seen[2].path, "/compute/v1/projects/p/zones/us-central1-a/operations/op-1/wait");
}

TEST(GcpCompute, AggregatedListsAreFlattenedAcrossPages) {
  ScriptedServer server(
      {Token("t"),
       Json(200, {{"items",
                   {{"zones/a", {{"instances", json::array({{{"name", "one"}}})}}},
                    {"zones/b", {{"warning", {{"code", "NO_RESULTS_ON_PAGE"}}}}}}},
                  {"nextPageToken", "next"}}),
       Json(200, {{"items", {{"zones/c", {{"instances", json::array({{{"name", "two"}}})}}}}}})});
  const ComputeClient compute(server.url() + "/compute/v1/", "p", LoginTokens(server.url()));
  const auto items = compute.List(compute.ProjectPath("aggregated/instances"), "labels.k = \"v\"");
  ASSERT_EQ(items.size(), 2u);
  EXPECT_EQ(items[0].value("name", ""), "one");
  EXPECT_EQ(items[1].value("name", ""), "two");
  const auto seen = server.seen();
  EXPECT_NE(seen[1].path.find("filter=labels.k%20%3D%20%22v%22"), std::string::npos)
      << seen[1].path;
  EXPECT_NE(seen[2].path.find("pageToken=next"), std::string::npos) << seen[2].path;
}

TEST(GcpCompute, ARefusedTokenIsRenewedOnceThenNamedWithItsSource) {
  const json refused = {{"error",
                         {{"code", 401},
                          {"message", "Request had invalid authentication credentials."},
                          {"errors", json::array({{{"reason", "authError"}}})}}}};
  ScriptedServer server({Token("t1"), Json(401, refused), Token("t2"), Json(401, refused)});
  const ComputeClient compute(server.url() + "/compute/v1/", "p", LoginTokens(server.url()));
  try {
    compute.Get(compute.ProjectPath("zones"));
    FAIL() << "no error";
  } catch (const GcpCredentialsRefused& e) {
    EXPECT_NE(e.message().find("a test login"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("project p"), std::string::npos) << e.message();
    EXPECT_EQ(ClassifyGcpError(e)->kind, vm::FailureKind::kAuth);
  }
  EXPECT_EQ(server.seen().size(), 4u);
}

TEST(GcpProvisioning, NamesStatesAcceleratorsAndQuota) {
  EXPECT_EQ(GceName("My_Cluster.2-ab12"), "my-cluster-2-ab12");
  EXPECT_EQ(GceName("9lives"), "sky-9lives");
  EXPECT_EQ(GceAcceleratorType("T4"), "nvidia-tesla-t4");
  EXPECT_EQ(GceAcceleratorType("H100"), "nvidia-h100-80gb");
  EXPECT_EQ(GceAcceleratorType("A10G"), "");
  EXPECT_EQ(InstanceStateOf("STAGING"), vm::InstanceState::kPending);
  EXPECT_EQ(InstanceStateOf("RUNNING"), vm::InstanceState::kRunning);
  EXPECT_EQ(InstanceStateOf("TERMINATED"), vm::InstanceState::kStopped);  // GCE's "stopped"
  EXPECT_EQ(InstanceStateOf("STOPPING"), vm::InstanceState::kStopping);
  const GcpApiError quota("Quota 'CPUS' exceeded.",
                          GcpErrorDetail{"POST", "x", "QUOTA_EXCEEDED", "", 403, true, 1});
  EXPECT_EQ(ClassifyGcpError(quota)->kind, vm::FailureKind::kQuota);
  const GcpApiError missing_type(
      "no such type",
      GcpErrorDetail{"POST", "x", "invalid",
                     "Machine type with name 'a3-highgpu-8g' does not exist in zone 'us-east1-b'.",
                     400, false, 1});
  EXPECT_EQ(ClassifyGcpError(missing_type)->kind, vm::FailureKind::kCapacity);
  const GcpApiError bad_image("bad",
                              GcpErrorDetail{"POST", "x", "invalid", "bad image", 400, false, 1});
  EXPECT_EQ(ClassifyGcpError(bad_image)->kind, vm::FailureKind::kBadRequest);
  const GcpApiError throttled("slow",
                              GcpErrorDetail{"GET", "x", "rateLimitExceeded", "", 403, false, 5});
  EXPECT_EQ(ClassifyGcpError(throttled)->kind, vm::FailureKind::kTransient);
}

TEST(GcpTpu, ATpuOperationIsPolledByNameAndItsStockoutClassified) {
  const json running = {{"name", "projects/p/locations/us-central1-a/operations/op-7"},
                        {"metadata", {{"verb", "create"}, {"target", "projects/p/nodes/n"}}},
                        {"done", false}};
  json failed = running;
  failed["done"] = true;
  failed["error"] = {{"code", 8}, {"message", "There is no more capacity in the zone"}};
  ScriptedServer server({Token("t"), Json(200, running), Json(200, failed)});
  const ComputeClient tpu(server.url() + "/tpu/v2/", "p", LoginTokens(server.url()));
  try {
    tpu.WaitLongRunning(tpu.Begin("POST", tpu.ProjectPath("locations/us-central1-a/nodes?nodeId=n"),
                                  {{"acceleratorType", "v5litepod-8"}}),
                        std::chrono::steady_clock::now() + std::chrono::seconds(10));
    FAIL() << "no error";
  } catch (const GcpApiError& e) {
    EXPECT_EQ(e.reason(), "RESOURCE_EXHAUSTED");
    EXPECT_EQ(ClassifyGcpError(e)->kind, vm::FailureKind::kCapacity);
  }
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[2].method, "GET");
  EXPECT_EQ(seen[2].path, "/tpu/v2/projects/p/locations/us-central1-a/operations/op-7");
  // A quota refusal of a TPU operation blocks the region instead.
  const GcpApiError quota(
      "quota", GcpErrorDetail{"GET", "x", "RESOURCE_EXHAUSTED",
                              "Quota limit 'TPUV5sLitepodPerProjectPerZone'", 0, true, 1});
  EXPECT_EQ(ClassifyGcpError(quota)->kind, vm::FailureKind::kQuota);
}

TEST(GcpTpu, AcceleratorTypesAndStates) {
  EXPECT_EQ(TpuAcceleratorType("tpu-v5litepod-8"), "v5litepod-8");
  EXPECT_EQ(TpuAcceleratorType("tpu-v5e-4"), "v5litepod-4");
  EXPECT_EQ(TpuAcceleratorType("H100"), "");
  EXPECT_EQ(TpuStateOf("CREATING"), vm::InstanceState::kPending);
  EXPECT_EQ(TpuStateOf("READY"), vm::InstanceState::kRunning);
  EXPECT_EQ(TpuStateOf("PREEMPTED"), vm::InstanceState::kStopped);
  EXPECT_EQ(TpuStateOf("DELETING"), vm::InstanceState::kTerminating);
}

}  // namespace
}  // namespace skycore::gcp
