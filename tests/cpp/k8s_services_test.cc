// Open ports: `kubernetes.ports`, the LoadBalancer Service's manifest and
// address, the ports a cluster's launched resources open, and the endpoints of
// hosts. Serving through a real API server and the fixture's load balancer is
// tests/python/test_k8s_ports.py.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "backend/cluster_backend.h"
#include "infra/kubernetes/services.h"
#include "skycore/error.h"

namespace skycore {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

TEST(K8sServices, LoadBalancerManifestSelectsTheHeadPodWithOnePortEach) {
  kubernetes::LoadBalancerRequest request;
  request.cluster_name = "My_Cluster";
  request.namespace_name = "team";
  request.ports = {8080, 9000};
  request.metadata = {{"labels", {{"team", "ml"}, {"parent", "not-ours"}}},
                      {"annotations", {{"a", "b"}}}};
  const json service = kubernetes::LoadBalancerManifest(request);
  EXPECT_EQ(kubernetes::LoadBalancerName("My_Cluster"), "my-cluster--skypilot-lb");
  EXPECT_EQ(service["kind"], "Service");
  EXPECT_EQ(service["metadata"]["name"], "my-cluster--skypilot-lb");
  EXPECT_EQ(service["metadata"]["namespace"], "team");
  EXPECT_EQ(service["metadata"]["labels"], (json{{"team", "ml"},
                                                 {"parent", "skypilot"},
                                                 {"skypilot-cluster", "My_Cluster"},
                                                 {"skypilot-cluster-name", "My_Cluster"}}));
  EXPECT_EQ(service["metadata"]["annotations"], (json{{"a", "b"}}));
  EXPECT_EQ(service["spec"]["type"], "LoadBalancer");
  EXPECT_EQ(service["spec"]["selector"],
            (json{{"skypilot-cluster-name", "My_Cluster"}, {"skypilot-head-node", "1"}}));
  ASSERT_EQ(service["spec"]["ports"].size(), 2u);
  EXPECT_EQ(
      service["spec"]["ports"][1],
      (json{{"name", "port-9000"}, {"protocol", "TCP"}, {"port", 9000}, {"targetPort", 9000}}));
}

TEST(K8sServices, LoadBalancerAddressIsTheFirstIngressIpOrHostname) {
  EXPECT_EQ(kubernetes::LoadBalancerAddress(json::object()), "");
  EXPECT_EQ(kubernetes::LoadBalancerAddress({{"status", {{"loadBalancer", json::object()}}}}), "");
  EXPECT_EQ(
      kubernetes::LoadBalancerAddress(
          {{"status",
            {{"loadBalancer", {{"ingress", {{{"ip", "127.0.20.1"}}, {{"ip", "10.0.0.1"}}}}}}}}}),
      "127.0.20.1");
  EXPECT_EQ(
      kubernetes::LoadBalancerAddress(
          {{"status", {{"loadBalancer", {{"ingress", {{{"hostname", "lb.example.com"}}}}}}}}}),
      "lb.example.com");
}

TEST(K8sServices, NodePortServiceAndItsPorts) {
  kubernetes::LoadBalancerRequest request;
  request.cluster_name = "c";
  request.namespace_name = "ns";
  request.ports = {8080};
  request.type = "NodePort";
  const json service = kubernetes::LoadBalancerManifest(request);
  EXPECT_EQ(service["spec"]["type"], "NodePort");
  json assigned = service;
  assigned["spec"]["ports"][0]["nodePort"] = 31234;
  EXPECT_EQ(kubernetes::NodePortOf(assigned, 8080), 31234);
  EXPECT_EQ(kubernetes::NodePortOf(assigned, 9090), 0);
  EXPECT_EQ(kubernetes::NodePortOf(service, 8080), 0);  // not assigned yet
  EXPECT_EQ(kubernetes::ParsePortMode("nodeport", "f"), kubernetes::PortMode::kNodePort);
  EXPECT_STREQ(kubernetes::PortModeName(kubernetes::PortMode::kNodePort), "nodeport");
}

TEST(K8sServices, PortModeFromConfigWithContextOverrides) {
  const fs::path dir =
      fs::temp_directory_path() / ("k8s_services_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "config.yaml";
  using kubernetes::PortMode;
  EXPECT_EQ(kubernetes::ReadPortMode(dir / "absent.yaml", "x"), PortMode::kLoadBalancer);
  std::ofstream(path) << "kubernetes:\n"
                         "  ports: podip\n"
                         "  context_configs:\n"
                         "    lb: {ports: loadbalancer}\n";
  EXPECT_EQ(kubernetes::ReadPortMode(path, "skycore"), PortMode::kPodIp);
  EXPECT_EQ(kubernetes::ReadPortMode(path, "lb"), PortMode::kLoadBalancer);
  std::ofstream(path) << "kubernetes:\n  ports: ingress\n";
  EXPECT_EQ(kubernetes::ReadPortMode(path, "skycore"), PortMode::kIngress);
  std::ofstream(path) << "kubernetes:\n  provision_timeout: 5\n";
  EXPECT_EQ(kubernetes::ReadPortMode(path, "skycore"), PortMode::kLoadBalancer);

  std::ofstream(path) << "kubernetes:\n  ports: podipp\n";
  try {
    kubernetes::ReadPortMode(path, "skycore");
    FAIL() << "an invalid kubernetes.ports was accepted";
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_NE(e.message().find(path.string()), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("kubernetes.ports is 'podipp'"), std::string::npos) << e.message();
    EXPECT_NE(e.message().find("'loadbalancer', 'nodeport', 'ingress' or 'podip'"),
              std::string::npos)
        << e.message();
    EXPECT_EQ(e.location().field_path, "kubernetes.ports");
    EXPECT_EQ(e.location().line, 2);
    EXPECT_EQ(e.suggestions(), std::vector<std::string>{"podip"});
  }
  std::ofstream(path) << "kubernetes:\n  ports: [podip]\n";
  EXPECT_THROW(kubernetes::ReadPortMode(path, "skycore"), InvalidSkyPilotConfigError);
  fs::remove_all(dir);
}

TEST(OpenPorts, LaunchedResourcesPortsAndRanges) {
  EXPECT_TRUE(backend::OpenPortsOf(json::object()).empty());
  EXPECT_EQ(backend::OpenPortsOf({{"ports", 8080}}), std::vector<int>{8080});
  EXPECT_EQ(backend::OpenPortsOf({{"ports", "8080"}}), std::vector<int>{8080});
  EXPECT_EQ(backend::OpenPortsOf({{"ports", {"9000-9002", "8080", 9001}}}),
            (std::vector<int>{9000, 9001, 9002, 8080}));
  EXPECT_EQ(backend::OpenPortsOf({{"ports", "1-65535"}}).size(), 1000u);
}

TEST(OpenPorts, HostEndpointsUseTheHostAddress) {
  auto ssh = backend::HostEndpoints("127.0.0.7", {8080, 9000}, "unknown");
  EXPECT_EQ(ssh[8080].address, "127.0.0.7:8080");
  EXPECT_EQ(ssh[9000].address, "127.0.0.7:9000");
  EXPECT_EQ(backend::HostEndpoints("::1", {80}, "x")[80].address, "[::1]:80");
  auto none = backend::HostEndpoints("", {80}, "no head yet");
  EXPECT_EQ(none[80].address, "");
  EXPECT_EQ(none[80].note, "no head yet");
}

TEST(OpenPorts, EachBackendMapsPortsToItsHeadAddress) {
  const backend::BackendContext context;
  const json local = {{"infra", "local"}};
  EXPECT_EQ(backend::BackendForHandle(local, context)->Endpoints(local, {8080})[8080].address,
            "127.0.0.1:8080");
  const json ssh = {{"infra", "ssh"}, {"pool", "p"}, {"head_ip", "127.0.0.5"}};
  EXPECT_EQ(backend::BackendForHandle(ssh, context)->Endpoints(ssh, {8080})[8080].address,
            "127.0.0.5:8080");
  const json slurm = {{"infra", "slurm"}, {"head_ip", "node-3"}};
  EXPECT_EQ(backend::BackendForHandle(slurm, context)->Endpoints(slurm, {22})[22].address,
            "node-3:22");
}

}  // namespace
}  // namespace skycore
