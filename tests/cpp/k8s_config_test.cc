// Kubernetes: kubeconfig parsing and merging as kubectl does it, context
// resolution, quantities, GPU labels and the inventory built from API lists.
// The real API server is exercised by tests/python/test_k8s_inventory.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "infra/kubernetes/allowed_contexts.h"
#include "infra/kubernetes/inventory.h"
#include "infra/kubernetes/kubeconfig.h"
#include "infra/kubernetes/quantity.h"
#include "skycore/catalog.h"
#include "skycore/error.h"
#include "skycore/optimizer.h"
#include "skycore/yaml.h"

namespace skycore::kubernetes {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

// "hello" in base64.
constexpr const char* kHelloBase64 = "aGVsbG8=";

Kubeconfig Parse(const std::string& text, const std::string& file = "/cfg/a.yaml") {
  Kubeconfig config;
  MergeKubeconfigText(text, file, config);
  return config;
}

const char* kConfigA = R"(
apiVersion: v1
kind: Config
current-context: alpha
clusters:
- name: c1
  cluster:
    server: https://10.0.0.1:6443/
    certificate-authority-data: aGVsbG8=
- name: c2
  cluster:
    server: https://10.0.0.2:6443
    certificate-authority: certs/ca.pem
    insecure-skip-tls-verify: true
users:
- name: u1
  user:
    client-certificate-data: aGVsbG8=
    client-key-data: aGVsbG8=
- name: u2
  user:
    token: abc123
- name: u3
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: aws
      args: [eks, get-token]
contexts:
- name: alpha
  context: {cluster: c1, user: u1, namespace: team}
- name: beta
  context: {cluster: c2, user: u2}
- name: gamma
  context: {cluster: c1, user: u3}
)";

TEST(KubeconfigTest, ParsesClustersUsersContexts) {
  auto config = Parse(kConfigA);
  EXPECT_EQ(config.current_context, "alpha");
  ASSERT_EQ(config.context_names.size(), 3u);
  EXPECT_EQ(config.clusters.at("c1").certificate_authority_data, "hello");
  EXPECT_FALSE(config.clusters.at("c1").insecure_skip_tls_verify);
  EXPECT_TRUE(config.clusters.at("c2").insecure_skip_tls_verify);
  // Relative paths are relative to the kubeconfig's directory.
  EXPECT_EQ(config.clusters.at("c2").certificate_authority, fs::path("/cfg/certs/ca.pem"));
  EXPECT_EQ(config.users.at("u2").token, "abc123");
  ASSERT_TRUE(config.users.at("u3").exec.has_value());
  EXPECT_EQ(config.users.at("u3").exec->command, "aws");

  auto alpha = ResolveContext(config);
  EXPECT_EQ(alpha.context, "alpha");
  EXPECT_EQ(alpha.server, "https://10.0.0.1:6443");  // trailing slash dropped
  EXPECT_EQ(alpha.namespace_name, "team");
  EXPECT_EQ(alpha.ca_pem, "hello");
  EXPECT_EQ(alpha.client_cert_pem, "hello");
  EXPECT_EQ(alpha.client_key_pem, "hello");
  EXPECT_EQ(alpha.user_name, "u1");
}

TEST(KubeconfigTest, MissingFileOfAContextIsAConfigError) {
  auto config = Parse(kConfigA);
  EXPECT_THROW(ResolveContext(config, "beta"), InvalidSkyPilotConfigError);  // no certs/ca.pem
  try {
    ResolveContext(config, "alhpa");
    FAIL();
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("'alhpa' is not defined"), std::string::npos);
    ASSERT_FALSE(e.suggestions().empty());
    EXPECT_EQ(e.suggestions()[0], "alpha");
  }
}

TEST(KubeconfigTest, MergesFirstWinsAcrossFiles) {
  const fs::path dir = fs::temp_directory_path() / "skycore_k8s_config_test";
  fs::create_directories(dir);
  std::ofstream(dir / "one") << "current-context: one\n"
                                "clusters:\n- name: c\n  cluster: {server: https://first}\n"
                                "contexts:\n- name: one\n  context: {cluster: c}\n";
  std::ofstream(dir / "two") << "current-context: two\n"
                                "clusters:\n- name: c\n  cluster: {server: https://second}\n"
                                "- name: d\n  cluster: {server: https://d}\n"
                                "contexts:\n- name: two\n  context: {cluster: d}\n";
  auto env = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "KUBECONFIG") {
      return (dir / "one").string() + "::" + (dir / "missing").string() + ":" +
             (dir / "two").string();
    }
    return std::nullopt;
  };
  auto config = LoadKubeconfig(KubeconfigPaths(env));
  EXPECT_EQ(config.files.size(), 2u);  // the missing file is skipped
  EXPECT_EQ(config.current_context, "one");
  EXPECT_EQ(config.clusters.at("c").server, "https://first");
  EXPECT_EQ(ResolveContext(config, "two").server, "https://d");
  fs::remove_all(dir);
}

TEST(KubeconfigTest, DefaultPathIsHomeKubeConfig) {
  auto env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "HOME") return "/home/me";
    return std::nullopt;
  };
  auto paths = KubeconfigPaths(env);
  ASSERT_EQ(paths.size(), 1u);
  EXPECT_EQ(paths[0], fs::path("/home/me/.kube/config"));
}

TEST(KubeconfigTest, MalformedFieldsNameTheFileAndField) {
  try {
    Parse("clusters:\n- name: c\n  cluster:\n    certificate-authority-data: '!!notb64'\n");
    FAIL();
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_EQ(e.location().file, "/cfg/a.yaml");
    EXPECT_EQ(e.field_path(), "clusters[0].cluster.certificate-authority-data");
  }
  EXPECT_THROW(Parse("clusters: {a: 1}\n"), InvalidSkyPilotConfigError);
  EXPECT_THROW(Parse("clusters: [\n"), InvalidSkyPilotConfigError);
  EXPECT_THROW(LoadKubeconfig({"/nonexistent/kubeconfig"}), InvalidSkyPilotConfigError);
  (void)kHelloBase64;
}

TEST(KubeconfigTest, StandaloneKubeconfigReadsBackAsTheSameCredentials) {
  ContextCredentials credentials;
  credentials.context = "ctx";
  credentials.server = "https://127.0.0.1:6443";
  credentials.namespace_name = "team";
  credentials.user_name = "admin";
  credentials.ca_pem = "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n";
  credentials.client_cert_pem = "cert\n";
  credentials.client_key_pem = "key\n";
  credentials.token = "t0ken";
  const std::string text = StandaloneKubeconfig(credentials);
  EXPECT_EQ(text.find("BEGIN CERTIFICATE"), std::string::npos);  // embedded as base64
  const ContextCredentials read = ResolveContext(Parse(text, "/pod/kube/config"));
  EXPECT_EQ(read.context, "ctx");
  EXPECT_EQ(read.server, credentials.server);
  EXPECT_EQ(read.namespace_name, "team");
  EXPECT_EQ(read.user_name, "admin");
  EXPECT_EQ(read.ca_pem, credentials.ca_pem);
  EXPECT_EQ(read.client_cert_pem, "cert\n");
  EXPECT_EQ(read.client_key_pem, "key\n");
  EXPECT_EQ(read.token, "t0ken");
  EXPECT_FALSE(read.insecure_skip_tls_verify);
}

TEST(QuantityTest, ParsesKubernetesQuantities) {
  EXPECT_DOUBLE_EQ(ParseQuantity("2"), 2);
  EXPECT_DOUBLE_EQ(ParseQuantity("500m"), 0.5);
  EXPECT_DOUBLE_EQ(ParseQuantity("16Gi"), 16.0 * 1024 * 1024 * 1024);
  EXPECT_DOUBLE_EQ(ParseQuantity("128974848"), 128974848);
  EXPECT_DOUBLE_EQ(ParseQuantity("129M"), 129e6);
  EXPECT_DOUBLE_EQ(ParseQuantity("1Ki"), 1024);
  EXPECT_DOUBLE_EQ(ParseQuantity("1e3"), 1000);
  EXPECT_DOUBLE_EQ(ParseQuantity("1.5"), 1.5);
  EXPECT_THROW(ParseQuantity(""), InvalidSkyPilotConfigError);
  EXPECT_THROW(ParseQuantity("Gi"), InvalidSkyPilotConfigError);
  EXPECT_THROW(ParseQuantity("12xyz"), InvalidSkyPilotConfigError);
}

TEST(GpuLabelsTest, FollowSkyPilotOrderAndNames) {
  EXPECT_EQ(GpuNameFromLabels({{"skypilot.co/accelerator", "h100"},
                               {"nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB"}}),
            "H100");
  EXPECT_EQ(GpuNameFromLabels({{"cloud.google.com/gke-accelerator", "nvidia-h100-80gb"}}), "H100");
  EXPECT_EQ(GpuNameFromLabels({{"cloud.google.com/gke-accelerator", "nvidia-tesla-t4"}}), "T4");
  EXPECT_EQ(GpuNameFromLabels({{"karpenter.k8s.aws/instance-gpu-name", "l4"}}), "L4");
  EXPECT_EQ(GpuNameFromLabels({{"nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"}}), "H100");
  EXPECT_EQ(GpuNameFromLabels({{"nvidia.com/gpu.product", "NVIDIA-A100-SXM4-80GB"}}), "A100-80GB");
  EXPECT_EQ(GpuNameFromLabels({{"nvidia.com/gpu.product", "NVIDIA-RTX-A6000"}}), "RTXA6000");
  EXPECT_EQ(GpuNameFromLabels(json::object()), "");
}

json Node(const std::string& name, const std::string& gpus, const std::string& product) {
  json node = {{"metadata", {{"name", name}, {"labels", json::object()}}},
               {"status",
                {{"allocatable", {{"cpu", "16"}, {"memory", "64Gi"}}},
                 {"conditions", {{{"type", "Ready"}, {"status", "True"}}}}}}};
  if (!gpus.empty()) {
    node["status"]["allocatable"]["nvidia.com/gpu"] = gpus;
    node["metadata"]["labels"]["nvidia.com/gpu.product"] = product;
  }
  return node;
}

json Pod(const std::string& node, const std::string& phase, const json& requests) {
  return {
      {"spec", {{"nodeName", node}, {"containers", {{{"resources", {{"requests", requests}}}}}}}},
      {"status", {{"phase", phase}}}};
}

TEST(InventoryTest, FreeIsAllocatableMinusRequestsOfRunningPods) {
  json nodes = {{"items", {Node("gpu-0", "8", "NVIDIA-H100-80GB-HBM3"), Node("cpu-0", "", "")}}};
  json pods = {{"items",
                {Pod("gpu-0", "Running", {{"nvidia.com/gpu", "2"}, {"cpu", "500m"}}),
                 Pod("gpu-0", "Succeeded", {{"nvidia.com/gpu", "4"}}),
                 Pod("cpu-0", "Pending", {{"memory", "16Gi"}}), Pod("", "Pending", {})}}};
  auto inventory = BuildInventory("ctx", nodes, pods);
  ASSERT_EQ(inventory.nodes.size(), 2u);
  const auto& gpu = inventory.nodes[0];
  EXPECT_EQ(gpu.gpu_name, "H100");
  EXPECT_EQ(gpu.gpu_total, 8);
  EXPECT_EQ(gpu.gpu_free, 6);
  EXPECT_DOUBLE_EQ(gpu.cpus_free, 15.5);
  EXPECT_DOUBLE_EQ(inventory.nodes[1].memory_free_gib, 48);
  EXPECT_EQ(inventory.nodes[1].gpu_name, "");

  Inventory all;
  all.contexts.push_back(inventory);
  auto round_trip = Inventory::FromJson(all.ToJson());
  ASSERT_TRUE(round_trip);
  EXPECT_EQ(round_trip->contexts[0].nodes[0].gpu_free, 6);

  const std::string csv = InventoryCatalogCsv(all);
  EXPECT_NE(csv.find("16CPU--64GB--H100:8,H100,8,16,64,,0.0,,ctx,"), std::string::npos) << csv;
  EXPECT_NE(csv.find("16CPU--64GB,,,16,64,,0.0,,ctx,"), std::string::npos) << csv;
  Catalog catalog = Catalog::FromCsvText("kubernetes", csv, "<kubernetes>");
  EXPECT_EQ(catalog.num_rows(), 9u);  // one CPU-only shape + H100 x1..x8
}

TEST(InventoryTest, ContextsWithRoomPlanBeforeFullOnes) {
  json nodes = {{"items", {Node("gpu-0", "8", "NVIDIA-H100-80GB-HBM3")}}};
  json busy = {{"items", {Pod("gpu-0", "Running", {{"nvidia.com/gpu", "8"}})}}};
  Inventory inventory;
  // The full context first: file order alone would pick it.
  inventory.contexts.push_back(BuildInventory("full", nodes, busy));
  inventory.contexts.push_back(BuildInventory("roomy", nodes, json{{"items", json::array()}}));
  Catalog catalog =
      Catalog::FromCsvText("kubernetes", InventoryCatalogCsv(inventory), "<kubernetes>");
  // 8 CPUs: the default for 8 GPUs (32) is more than these 16-CPU nodes hold.
  Dag dag =
      LoadDagYaml("resources: {accelerators: H100:8, cpus: 8, infra: k8s}\nrun: nvidia-smi\n");
  Plan plan = Optimize(dag, catalog, {});
  ASSERT_EQ(plan.tasks.size(), 1u);
  EXPECT_EQ(plan.tasks[0].chosen.region, "roomy");
  ASSERT_FALSE(plan.tasks[0].failover.empty());
  EXPECT_EQ(plan.tasks[0].failover[0].region, "full");
}

TEST(InventoryTest, AnAutoscalingContextPlansTypesNoNodeHoldsYet) {
  json nodes = {{"items", {Node("cpu-0", "", "")}}};
  Inventory inventory;
  inventory.contexts.push_back(BuildInventory("scaling", nodes, json{{"items", json::array()}}));
  auto chosen = [&](const std::set<std::string>& autoscaling, const std::string& resources) {
    Catalog catalog = Catalog::FromCsvText(
        "kubernetes", InventoryCatalogCsv(inventory, autoscaling), "<kubernetes>");
    Dag dag = LoadDagYaml("resources: " + resources + "\nrun: nvidia-smi\n");
    return Optimize(dag, catalog, {}).tasks.at(0).chosen;
  };
  // Without an autoscaler only what a node holds is planned.
  EXPECT_THROW(chosen({}, "{infra: k8s, cpus: 64}"), ResourcesUnavailableError);
  EXPECT_THROW(chosen({}, "{infra: k8s, accelerators: L4:1}"), ResourcesUnavailableError);
  // With one, anything: the pod waits for the node the autoscaler adds.
  const Candidate big = chosen({"scaling"}, "{infra: k8s, cpus: 64}");
  EXPECT_EQ(big.instance_type, "64CPU--64GB");
  EXPECT_EQ(big.region, "scaling");
  EXPECT_DOUBLE_EQ(big.vcpus, 64);
  const Candidate gpu = chosen({"scaling"}, "{infra: k8s, accelerators: L4:2}");
  EXPECT_EQ(gpu.instance_type, "8CPU--32GB--L4:2");
  EXPECT_EQ(gpu.accelerator_name, "L4");
  // What an existing node holds is still planned on it.
  EXPECT_EQ(chosen({"scaling"}, "{infra: k8s, cpus: 2}").instance_type, "2CPU--2GB");
}

}  // namespace
}  // namespace skycore::kubernetes

namespace skycore::kubernetes {
namespace {

TEST(AllowedContextsTest, ReadsSkyPilotConfigKey) {
  const fs::path dir = fs::temp_directory_path() / "skycore_k8s_allowed_test";
  fs::create_directories(dir);
  EXPECT_TRUE(ReadAllowedContexts(dir / "missing.yaml").empty());
  std::ofstream(dir / "a.yaml") << "kubernetes:\n  allowed_contexts: [a, b]\n";
  EXPECT_EQ(ReadAllowedContexts(dir / "a.yaml"), (std::vector<std::string>{"a", "b"}));
  std::ofstream(dir / "b.yaml") << "kubernetes:\n  allowed_contexts: a\n";
  try {
    ReadAllowedContexts(dir / "b.yaml");
    FAIL();
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_EQ(e.field_path(), "kubernetes.allowed_contexts");
    EXPECT_EQ(e.location().line, 2);
  }
  Kubeconfig config;
  config.current_context = "cur";
  EXPECT_EQ(ContextsToUse(config, {}), (std::vector<std::string>{"cur"}));
  EXPECT_EQ(ContextsToUse(config, {"x"}), (std::vector<std::string>{"x"}));
  std::ofstream(dir / "c.yaml") << "kubernetes:\n  allowed_contexts: all\n";
  const auto every = ReadAllowedContexts(dir / "c.yaml");
  config.context_names = {"cur", "other"};
  EXPECT_EQ(ContextsToUse(config, every), (std::vector<std::string>{"cur", "other"}));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace skycore::kubernetes
