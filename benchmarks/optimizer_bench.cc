// Optimizer benchmarks over the synthetic 250k-row catalog (see catalog_bench.cc).
// Targets: one task A100:8, any infra, warm: < 1 ms p50; 10-task chain with
// egress: < 5 ms.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>

#include "skycore/optimizer.h"
#include "skycore/yaml.h"

namespace {

namespace fs = std::filesystem;

const skycore::Catalog& BenchCatalog() {
  static const skycore::Catalog catalog = [] {
    const char* dir = std::getenv("SKYCORE_BENCH_CATALOG");
    fs::path root = dir != nullptr ? dir : "/tmp/skycore-catalog-250k";
    std::vector<std::pair<std::string, fs::path>> files;
    for (const auto& entry : fs::directory_iterator(root)) {
      if (entry.path().extension() == ".csv") files.emplace_back(entry.path().stem(), entry.path());
    }
    return skycore::Catalog::LoadFiles(files, nullptr, true);
  }();
  return catalog;
}

void BM_OptimizeA100x8(benchmark::State& state) {
  const auto& catalog = BenchCatalog();
  skycore::Dag dag = skycore::LoadDagYaml("resources:\n  accelerators: A100:8\nrun: x\n");
  for (auto _ : state) {
    skycore::Plan plan = skycore::Optimize(dag, catalog);
    benchmark::DoNotOptimize(plan.compute_cost);
  }
}
BENCHMARK(BM_OptimizeA100x8)
    ->Unit(benchmark::kMicrosecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

void BM_OptimizeChain10(benchmark::State& state) {
  const auto& catalog = BenchCatalog();
  std::string yaml = "name: chain\n";
  const char* shapes[] = {"accelerators: A100:8", "accelerators: L4:1", "cpus: 16+",
                          "accelerators: H100:8", "accelerators: T4:4"};
  for (int i = 0; i < 10; ++i) {
    yaml += "---\nname: t" + std::to_string(i) + "\nresources:\n  " + shapes[i % 5] +
            "\noutputs:\n  s3://bucket/out" + std::to_string(i) + ": 50\nrun: x\n";
  }
  skycore::Dag dag = skycore::LoadDagYaml(yaml);
  for (auto _ : state) {
    skycore::Plan plan = skycore::Optimize(dag, catalog);
    benchmark::DoNotOptimize(plan.compute_cost);
  }
}
BENCHMARK(BM_OptimizeChain10)
    ->Unit(benchmark::kMillisecond)
    ->Repetitions(5)
    ->ReportAggregatesOnly(true);

}  // namespace

BENCHMARK_MAIN();
