// The Kubernetes inventory at scale: a synthetic NodeList of 7,500 nodes in
// the test cluster's scale-mode GPU mix (H100, A100, L4, T4, H200, CPU-only),
// built into an inventory, turned into catalog rows (one per context and node
// shape) and optimized over. Target (issue "Kubernetes infra"): optimization
// under 5 ms warm. The catalog benchmark checks that 7,500 nodes collapse to a
// handful of rows (one per shape and GPU count), so a fast wrong answer fails.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>

#include "infra/kubernetes/inventory.h"
#include "skycore/catalog.h"
#include "skycore/optimizer.h"
#include "skycore/yaml.h"

namespace {

using json = nlohmann::json;
constexpr int kNodes = 7500;

// One node as the API server returns it, managedFields and all.
json Node(int i) {
  struct Shape {
    const char* group;
    const char* product;  // nvidia.com/gpu.product; empty: CPU-only
    int gpus;
    int cpus;
  };
  static const Shape kShapes[] = {{"h100", "NVIDIA-H100-80GB-HBM3", 8, 208},
                                  {"a100", "NVIDIA-A100-SXM4-40GB", 8, 128},
                                  {"l4", "NVIDIA-L4", 4, 48},
                                  {"t4", "Tesla-T4", 1, 16},
                                  {"h200", "NVIDIA-H200", 8, 224},
                                  {"cpu", "", 0, 64}};
  const Shape& shape = kShapes[i % 6];
  const std::string name = std::string("scale-") + shape.group + "-" + std::to_string(i);
  json labels = {{"kubernetes.io/hostname", name},
                 {"kubernetes.io/os", "linux"},
                 {"skycore.dev/scale-node", "true"},
                 {"skycore.dev/node-group", shape.group}};
  json allocatable = {{"cpu", std::to_string(shape.cpus)},
                      {"memory", "1Ti"},
                      {"pods", "110"},
                      {"ephemeral-storage", "500Gi"}};
  if (shape.gpus > 0) {
    labels["nvidia.com/gpu.product"] = shape.product;
    labels["skypilot.co/accelerator"] = shape.group;
    allocatable["nvidia.com/gpu"] = std::to_string(shape.gpus);
  }
  json conditions = json::array();
  for (const char* type : {"Ready", "MemoryPressure", "DiskPressure", "PIDPressure"}) {
    conditions.push_back({{"type", type},
                          {"status", std::string(type) == "Ready" ? "True" : "False"},
                          {"lastHeartbeatTime", "2026-11-26T00:08:48Z"},
                          {"reason", "KubeletReady"},
                          {"message", "kubelet is posting ready status"}});
  }
  return {{"metadata",
           {{"name", name},
            {"uid", "87c5827d-8d80-4259-ac7e-21300a995569"},
            {"labels", labels},
            {"managedFields",
             json::array({{{"manager", "register-nodes"},
                           {"fieldsV1", {{"f:metadata", {{"f:labels", labels}}}}}}})}}},
          {"spec", {{"taints", json::array({{{"key", "nvidia.com/gpu"}, {"value", "present"}}})}}},
          {"status",
           {{"capacity", allocatable},
            {"allocatable", allocatable},
            {"conditions", conditions},
            {"addresses", json::array({{{"type", "InternalIP"}, {"address", "127.200.0.1"}}})},
            {"nodeInfo", {{"kubeletVersion", "v0.0.0-scale"}, {"architecture", "amd64"}}}}}};
}

const std::string& NodeListText() {
  static const std::string text = [] {
    json list = {{"kind", "NodeList"}, {"apiVersion", "v1"}, {"items", json::array()}};
    for (int i = 0; i < kNodes; ++i) list["items"].push_back(Node(i));
    return list.dump();
  }();
  return text;
}

skycore::kubernetes::Inventory BenchInventory() {
  skycore::kubernetes::Inventory inventory;
  inventory.contexts.push_back(skycore::kubernetes::BuildInventory(
      "scale", json::parse(NodeListText()), json::object({{"items", json::array()}})));
  return inventory;
}

const skycore::Catalog& BenchCatalog() {
  static const skycore::Catalog catalog = [] {
    const std::string csv = skycore::kubernetes::InventoryCatalogCsv(BenchInventory());
    return skycore::Catalog::FromCsvText("kubernetes", csv, "<kubernetes>");
  }();
  return catalog;
}

// Parse (as a plain json::parse; the client prunes while parsing) and build.
void BM_BuildInventory7500(benchmark::State& state) {
  const std::string& text = NodeListText();
  for (auto _ : state) {
    auto inventory = skycore::kubernetes::BuildInventory("scale", json::parse(text), json());
    if (inventory.nodes.size() != kNodes) throw std::logic_error("wrong node count");
    benchmark::DoNotOptimize(inventory);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_BuildInventory7500)->Unit(benchmark::kMillisecond);

void BM_InventoryCatalogCsv7500(benchmark::State& state) {
  const auto inventory = BenchInventory();
  size_t rows = 0;
  for (auto _ : state) {
    const std::string csv = skycore::kubernetes::InventoryCatalogCsv(inventory);
    rows = static_cast<size_t>(std::count(csv.begin(), csv.end(), '\n')) - 1;
    benchmark::DoNotOptimize(csv);
  }
  // 5 GPU shapes x (0..gpus counts, deduplicated) + 1 CPU shape: tens, not thousands.
  if (rows == 0 || rows > 64) throw std::logic_error("catalog rows: " + std::to_string(rows));
  state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_InventoryCatalogCsv7500)->Unit(benchmark::kMicrosecond);

void BM_OptimizeK8sH100x8(benchmark::State& state) {
  const auto& catalog = BenchCatalog();
  skycore::Dag dag =
      skycore::LoadDagYaml("resources:\n  infra: k8s\n  accelerators: H100:8\nrun: x\n");
  for (auto _ : state) {
    skycore::Plan plan = skycore::Optimize(dag, catalog);
    benchmark::DoNotOptimize(plan.compute_cost);
  }
  state.counters["catalog_rows"] = static_cast<double>(catalog.num_rows());
}
BENCHMARK(BM_OptimizeK8sH100x8)
    ->Unit(benchmark::kMicrosecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace
BENCHMARK_MAIN();
