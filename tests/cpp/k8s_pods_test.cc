// Kubernetes pods: SkyPilot's pod_config merge rules, the pod manifest, the
// `kubernetes:` config section and reading a pod's progress. Launching on a
// real API server is tests/python/test_k8s_launch.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "agent/node_spec.h"
#include "infra/kubernetes/pod_commands.h"
#include "infra/kubernetes/pods.h"
#include "skycore/error.h"

namespace skycore::kubernetes {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

TEST(K8sPodConfigMerge, MappingsMergeRecursivelyAndScalarsReplace) {
  json base = {{"spec", {{"restartPolicy", "Never"}, {"nodeSelector", {{"a", "1"}}}}}};
  MergePodConfig(base, {{"spec",
                         {{"restartPolicy", "Always"},
                          {"nodeSelector", {{"b", "2"}}},
                          {"runtimeClassName", "gvisor"}}}});
  EXPECT_EQ(base["spec"]["restartPolicy"], "Always");
  EXPECT_EQ(base["spec"]["nodeSelector"], (json{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(base["spec"]["runtimeClassName"], "gvisor");
}

TEST(K8sPodConfigMerge, FirstContainerMergesOtherListsAppendOrMergeByKey) {
  json base = {
      {"containers",
       {{{"name", "ray-node"}, {"image", "a"}, {"env", {{{"name", "X"}, {"value", "1"}}}}}}},
      {"tolerations", {{{"key", "gpu"}}}},
      {"volumes", {{{"name", "v1"}, {"emptyDir", json::object()}}}}};
  MergePodConfig(base,
                 {{"containers",
                   {{{"image", "b"},
                     {"env", {{{"name", "X"}, {"value", "2"}}, {{"name", "Y"}, {"value", "3"}}}}}}},
                  {"tolerations", {{{"key", "other"}}}},
                  {"volumes",
                   {{{"name", "v1"}, {"emptyDir", {{"medium", "Memory"}}}},
                    {{"name", "v2"}, {"hostPath", {{"path", "/x"}}}}}}});
  ASSERT_EQ(base["containers"].size(), 1u);
  EXPECT_EQ(base["containers"][0]["name"], "ray-node");
  EXPECT_EQ(base["containers"][0]["image"], "b");
  EXPECT_EQ(base["containers"][0]["env"],
            (json{{{"name", "X"}, {"value", "2"}}, {{"name", "Y"}, {"value", "3"}}}));
  EXPECT_EQ(base["tolerations"], (json{{{"key", "gpu"}}, {{"key", "other"}}}));
  ASSERT_EQ(base["volumes"].size(), 2u);
  EXPECT_EQ(base["volumes"][0]["emptyDir"]["medium"], "Memory");
  EXPECT_EQ(base["volumes"][1]["name"], "v2");
}

TEST(K8sPodManifest, LabelsResourcesAndGpuToleration) {
  PodRequest request;
  request.cluster_name = "My_Cluster";
  request.user = "alice";
  request.pod_name = PodName("My_Cluster", 0);
  request.namespace_name = "team";
  request.head = true;
  request.cpus = 0.5;
  request.memory_gb = 4;
  request.gpus = 2;
  const json pod = PodManifest(
      request, {{"metadata", {{"labels", {{"team", "x"}, {"skypilot-cluster", "forged"}}}}},
                {"spec", {{"runtimeClassName", "gvisor"}}}});
  EXPECT_EQ(pod["metadata"]["name"], "my-cluster-head");
  EXPECT_EQ(PodName("dev", 2), "dev-worker2");
  EXPECT_EQ(pod["metadata"]["namespace"], "team");
  const json labels = pod["metadata"]["labels"];
  EXPECT_EQ(labels["skypilot-cluster"], "My_Cluster");  // pod_config cannot take it over
  EXPECT_EQ(labels["skypilot-cluster-name"], "My_Cluster");
  EXPECT_EQ(labels["skypilot-user"], "alice");
  EXPECT_EQ(labels["skypilot-head-node"], "1");
  EXPECT_EQ(labels["team"], "x");
  EXPECT_EQ(pod["spec"]["runtimeClassName"], "gvisor");
  const json resources = pod["spec"]["containers"][0]["resources"];
  EXPECT_EQ(resources["requests"]["cpu"], "500m");
  EXPECT_EQ(resources["requests"]["memory"], "4G");  // SkyPilot's unit
  EXPECT_EQ(resources["requests"]["nvidia.com/gpu"], "2");
  // As SkyPilot's pods: GPUs limited, CPU and memory not (by default).
  EXPECT_EQ(resources["limits"], json({{"nvidia.com/gpu", "2"}}));
  EXPECT_EQ(pod["spec"]["tolerations"][0]["key"], "nvidia.com/gpu");

  request.gpus = 0;
  EXPECT_FALSE(PodManifest(request, json::object())["spec"].contains("tolerations"));
}

TEST(K8sPodManifest, LimitsFollowSetPodResourceLimits) {
  PodRequest request;
  request.pod_name = "c-head";
  request.cpus = 2;
  request.memory_gb = 1.5;
  EXPECT_EQ(PodManifest(request, json::object())["spec"]["containers"][0]["resources"],
            json({{"requests", {{"cpu", "2"}, {"memory", "1500M"}}}, {"limits", json::object()}}));
  request.limits_multiplier = 1;  // true: Guaranteed QoS
  EXPECT_EQ(PodManifest(request, json::object())["spec"]["containers"][0]["resources"]["limits"],
            json({{"cpu", "2"}, {"memory", "1500M"}}));
  request.limits_multiplier = 1.5;
  EXPECT_EQ(PodManifest(request, json::object())["spec"]["containers"][0]["resources"]["limits"],
            json({{"cpu", "3"}, {"memory", "2250M"}}));

  const auto dir = std::filesystem::temp_directory_path() / "skycore_k8s_limits_test";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.yaml") << "kubernetes:\n  set_pod_resource_limits: true\n";
  EXPECT_DOUBLE_EQ(ReadKubernetesConfig(dir / "config.yaml", "ctx").pod_limits_multiplier, 1);
  EXPECT_DOUBLE_EQ(ReadKubernetesConfig(dir / "none.yaml", "ctx").pod_limits_multiplier, 0);
  EXPECT_DOUBLE_EQ(ReadKubernetesConfig(dir / "none.yaml", "ctx", {{"set_pod_resource_limits", 2}})
                       .pod_limits_multiplier,
                   2);
  EXPECT_THROW(ReadKubernetesConfig(dir / "none.yaml", "ctx", {{"set_pod_resource_limits", "yes"}}),
               InvalidSkyPilotConfigError);
  std::filesystem::remove_all(dir);
}

TEST(K8sPodProgress, ReadsRunningUnschedulableAndImagePull) {
  EXPECT_EQ(ProgressOf({{"status", {{"phase", "Running"}, {"podIP", "10.0.0.5"}}}}).ip, "10.0.0.5");
  const auto unschedulable = ProgressOf(
      {{"status",
        {{"phase", "Pending"},
         {"conditions",
          {{{"type", "PodScheduled"},
            {"status", "False"},
            {"reason", "Unschedulable"},
            {"message", "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}}}}}}});
  EXPECT_EQ(unschedulable.kind, PodProgress::Kind::kUnschedulable);
  EXPECT_NE(unschedulable.reason.find("Insufficient nvidia.com/gpu"), std::string::npos);
  const auto pull = ProgressOf(
      {{"status",
        {{"phase", "Pending"},
         {"containerStatuses",
          {{{"image", "nope:1"},
            {"state",
             {{"waiting", {{"reason", "ImagePullBackOff"}, {"message", "back-off"}}}}}}}}}}});
  EXPECT_EQ(pull.kind, PodProgress::Kind::kImagePull);
  EXPECT_EQ(pull.image, "nope:1");
  EXPECT_EQ(ProgressOf({{"status", {{"phase", "Pending"}}}}).kind, PodProgress::Kind::kPending);
  EXPECT_EQ(ProgressOf({{"status", {{"phase", "Pending"}}}}).reason, "not scheduled yet");
  const auto initializing =
      ProgressOf({{"spec", {{"nodeName", "n1"}}},
                  {"status",
                   {{"phase", "Pending"},
                    {"initContainerStatuses",
                     {{{"name", "setup"}, {"state", {{"running", json::object()}}}}}}}}});
  EXPECT_EQ(initializing.reason, "on node n1, init container setup running");
}

TEST(K8sConfig, ContextConfigsOverrideAndMergePodConfig) {
  const fs::path dir = fs::temp_directory_path() / ("k8s_pods_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "config.yaml";
  std::ofstream(path) << "kubernetes:\n"
                         "  provision_timeout: 5\n"
                         "  custom_metadata: {labels: {a: '0', c: '3'}, annotations: {n: x}}\n"
                         "  pod_config:\n"
                         "    metadata: {labels: {a: '1'}}\n"
                         "  context_configs:\n"
                         "    other:\n"
                         "      provision_timeout: 9\n"
                         "      pod_config: {metadata: {labels: {b: '2'}}}\n";
  const auto plain = ReadKubernetesConfig(path, "skycore");
  EXPECT_EQ(plain.provision_timeout_s, 5);
  EXPECT_EQ(plain.pod_config["metadata"]["labels"], (json{{"a", "1"}, {"c", "3"}}));
  EXPECT_EQ(plain.pod_config["metadata"]["annotations"], (json{{"n", "x"}}));
  const auto other = ReadKubernetesConfig(path, "other");
  EXPECT_EQ(other.provision_timeout_s, 9);
  EXPECT_EQ(other.pod_config["metadata"]["labels"], (json{{"a", "1"}, {"b", "2"}, {"c", "3"}}));
  std::ofstream(path) << "kubernetes:\n  pod_config: [1]\n";
  EXPECT_THROW(ReadKubernetesConfig(path, "skycore"), InvalidSkyPilotConfigError);
  EXPECT_EQ(ReadKubernetesConfig(dir / "absent.yaml", "x").provision_timeout_s, 60);
  fs::remove_all(dir);
}

TEST(K8sConfig, TaskOverridesMergeOverTheFileAndContextConfigsOverBoth) {
  const fs::path dir = fs::temp_directory_path() / ("k8s_cfg_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "config.yaml";
  std::ofstream(path) << "kubernetes:\n"
                         "  provision_timeout: 5\n"
                         "  remote_identity: LOCAL_CREDENTIALS\n"
                         "  pod_config: {metadata: {labels: {a: '1'}}}\n"
                         "  context_configs:\n"
                         "    other: {namespace: team-b}\n";
  const json task = {{"provision_timeout", 600},
                     {"autoscaler", "Karpenter"},
                     {"remote_identity", "trainer"},
                     {"pod_config", {{"metadata", {{"labels", {{"b", "2"}}}}}}}};
  const auto merged = ReadKubernetesConfig(path, "skycore", task);
  EXPECT_EQ(merged.provision_timeout_s, 600);
  EXPECT_EQ(merged.autoscaler, "karpenter");
  EXPECT_EQ(merged.ServiceAccount(), "trainer");
  EXPECT_EQ(merged.namespace_name, "");
  EXPECT_EQ(merged.pod_config["metadata"]["labels"], (json{{"a", "1"}, {"b", "2"}}));
  EXPECT_EQ(ReadKubernetesConfig(path, "other", task).namespace_name, "team-b");
  EXPECT_EQ(ReadKubernetesConfig(path, "skycore").ServiceAccount(), "");
  EXPECT_EQ(ReadKubernetesConfig(path, "skycore", json{{"remote_identity", "SERVICE_ACCOUNT"}})
                .ServiceAccount(),
            "skypilot-service-account");

  try {
    ReadKubernetesConfig(path, "skycore", json{{"pod_confg", json::object()}});
    FAIL() << "an unknown key was accepted";
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("unknown field kubernetes.pod_confg"), std::string::npos)
        << e.what();
    ASSERT_FALSE(e.suggestions().empty());
    EXPECT_EQ(e.suggestions().front(), "pod_config");
  }
  try {
    ReadKubernetesConfig(path, "skycore", json{{"autoscaler", "gkee"}});
    FAIL() << "an unknown autoscaler was accepted";
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("kubernetes.autoscaler is 'gkee'"), std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("'karpenter'"), std::string::npos) << e.what();
    EXPECT_EQ(e.suggestions(), std::vector<std::string>{"gke"});
  }
  std::ofstream(path) << "kubernetes:\n  provison_timeout: 5\n";
  try {
    ReadKubernetesConfig(path, "skycore");
    FAIL() << "an unknown key in the file was accepted";
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_EQ(e.suggestions(), std::vector<std::string>{"provision_timeout"});
  }
  fs::remove_all(dir);
}

TEST(K8sPods, ServiceAccountAndImageReachTheManifest) {
  PodRequest request;
  request.cluster_name = "c";
  request.pod_name = "c-head";
  request.namespace_name = "ns";
  request.image = "registry.example/team/image:1";
  request.service_account = "trainer";
  const json pod = PodManifest(request, json::object());
  EXPECT_EQ(pod["spec"]["serviceAccountName"], "trainer");
  EXPECT_EQ(pod["spec"]["containers"][0]["image"], "registry.example/team/image:1");
  request.service_account.clear();
  EXPECT_FALSE(PodManifest(request, json::object())["spec"].contains("serviceAccountName"));
}

TEST(K8sPodCommandsTest, WorkersStartRanksThroughTheirPodsExec) {
  const nlohmann::json handle = {{"cluster_name", "c"},
                                 {"context", "ctx"},
                                 {"namespace", "team"},
                                 {"pods", {"c-head", "c-worker1"}},
                                 {"node_ips", {"10.0.0.1", "10.0.0.2"}},
                                 {"root", "/h/.skycore"},
                                 {"pod_roots", {"/h/.skycore", "/w/.skycore"}},
                                 {"num_nodes", 2},
                                 {"cpus_per_node", 2.0},
                                 {"memory_gib_per_node", 4.0},
                                 {"gpus_per_node", 1}};
  EXPECT_EQ(backend::k8s::NodeWorkdir(handle, 1), "/w/.skycore/clusters/c/node1/sky_workdir");
  const auto target = backend::k8s::PodTarget(handle, 1);
  EXPECT_EQ(target.pod, "c-worker1");
  EXPECT_EQ(target.namespace_name, "team");
  const agent::NodeSpec spec = agent::ParseNodeSpec(backend::k8s::AgentNodeSpec(handle).dump());
  ASSERT_EQ(spec.nodes.size(), 2u);
  EXPECT_EQ(spec.nodes[0].runner.kind, agent::RankRunner::Kind::kLocal);
  EXPECT_EQ(spec.nodes[0].workdir, "/h/.skycore/clusters/c/node0/sky_workdir");
  EXPECT_EQ(spec.nodes[1].ip, "10.0.0.2");
  const agent::RankRunner& worker = spec.nodes[1].runner;
  EXPECT_EQ(worker.kind, agent::RankRunner::Kind::kKubernetes);
  EXPECT_EQ(worker.pod, "c-worker1");
  EXPECT_EQ(worker.namespace_name, "team");
  EXPECT_EQ(worker.container, "ray-node");
  EXPECT_EQ(worker.kubeconfig, "/h/.skycore/clusters/c/kube/config");
  EXPECT_EQ(worker.context, "ctx");
  EXPECT_EQ(spec.nodes[1].gpu_ids, std::vector<int>{0});

  // As a service account, the head reaches the workers in-cluster.
  nlohmann::json as_account = handle;
  as_account["remote_identity"] = "trainer";
  EXPECT_FALSE(backend::k8s::UsesLocalCredentials(as_account));
  const agent::NodeSpec account_spec =
      agent::ParseNodeSpec(backend::k8s::AgentNodeSpec(as_account).dump());
  EXPECT_EQ(account_spec.nodes[1].runner.context, "in-cluster");
}

}  // namespace
}  // namespace skycore::kubernetes
