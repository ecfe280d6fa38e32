// Catalog load benchmarks over a synthetic 250k-row catalog.
//   python3 benchmarks/gen_catalog.py /tmp/skycore-catalog-250k
//   SKYCORE_BENCH_CATALOG=/tmp/skycore-catalog-250k build-opt-rel/catalog_bench
// Targets: cold load from the binary cache < 50 ms; CSV >= 200 MB/s; loaded
// catalog < 64 MiB RSS (reported as the rss_mib counter).
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "skycore/catalog.h"

namespace {

namespace fs = std::filesystem;

std::vector<std::pair<std::string, fs::path>> Files() {
  const char* dir = std::getenv("SKYCORE_BENCH_CATALOG");
  fs::path root = dir != nullptr ? dir : "/tmp/skycore-catalog-250k";
  std::vector<std::pair<std::string, fs::path>> files;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.path().extension() == ".csv") files.emplace_back(entry.path().stem(), entry.path());
  }
  return files;
}

double RssMib() {
  std::ifstream statm("/proc/self/statm");
  long pages = 0, resident = 0;
  statm >> pages >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) /
         (1024.0 * 1024.0);
}

void BM_LoadCsv(benchmark::State& state) {
  auto files = Files();
  size_t bytes = 0;
  for (const auto& [infra, path] : files) bytes += fs::file_size(path);
  size_t rows = 0;
  for (auto _ : state) {
    skycore::Catalog catalog = skycore::Catalog::LoadFiles(files, nullptr, /*use_cache=*/false);
    rows = catalog.num_rows();
    benchmark::DoNotOptimize(rows);
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
  state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_LoadCsv)->Unit(benchmark::kMillisecond);

void BM_LoadFromCache(benchmark::State& state) {
  auto files = Files();
  skycore::Catalog::LoadFiles(files, nullptr, true);  // writes the caches
  size_t rows = 0;
  for (auto _ : state) {
    skycore::Catalog catalog = skycore::Catalog::LoadFiles(files, nullptr, true);
    rows = catalog.num_rows();
    benchmark::DoNotOptimize(rows);
  }
  state.counters["rows"] = static_cast<double>(rows);
}
BENCHMARK(BM_LoadFromCache)->Unit(benchmark::kMillisecond);

void BM_LoadedRss(benchmark::State& state) {
  auto files = Files();
  double before = RssMib();
  std::optional<skycore::Catalog> catalog;
  for (auto _ : state) catalog = skycore::Catalog::LoadFiles(files, nullptr, true);
  state.counters["rss_mib"] = RssMib() - before;
  state.counters["rss_total_mib"] = RssMib();
}
BENCHMARK(BM_LoadedRss)->Iterations(1)->Unit(benchmark::kMillisecond);

void BM_ListAccelerators(benchmark::State& state) {
  skycore::Catalog catalog = skycore::Catalog::LoadFiles(Files(), nullptr, true);
  skycore::AcceleratorQuery query;
  query.name_filter = "A100";
  for (auto _ : state) benchmark::DoNotOptimize(catalog.ListAccelerators(query).size());
}
BENCHMARK(BM_ListAccelerators)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
