// The SDK on the local infra, end to end (real skyletd built beside this
// binary, real SQLite state in a temporary directory, real job processes):
//   BM_LaunchDetachedNewCluster  Launch(detach) of a one-line task on a new
//                                cluster until the job is RUNNING (target < 150 ms)
//   BM_ExecDetached              Exec(detach) on an UP cluster until the job
//                                is RUNNING (target < 30 ms)
//   BM_Status100                 Status() with 100 clusters recorded (target < 20 ms)
// These measure the library; `benchmarks/lifecycle.py` times the `sky` CLI
// processes, which add process start-up.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "skycore/sdk.h"
#include "skycore/yaml.h"

namespace {

namespace fs = std::filesystem;
using namespace skycore;

struct Env {
  fs::path root;
  std::unique_ptr<Sky> sky;
  explicit Env(const std::string& name) {
    root = fs::temp_directory_path() / ("skycore-sdk-bench-" + name + std::to_string(::getpid()));
    fs::remove_all(root);
    SkyOptions options;
    options.state_dir = root / "state";
    options.bin_dir = fs::read_symlink("/proc/self/exe").parent_path();
    sky = std::make_unique<Sky>(options);
  }
  ~Env() {
    NullSink quiet;
    for (const auto& record : sky->Status()) {
      try {
        sky->Down(record.name, quiet, true);
      } catch (const Error&) {
      }
    }
    sky.reset();
    fs::remove_all(root);
  }
};

void WaitRunning(Sky& sky, const std::string& cluster, int64_t job_id) {
  for (int i = 0; i < 20000; ++i) {
    auto status = sky.JobStatuses(cluster, {job_id}).at(0).status;
    if (status == JobStatus::kRunning || IsTerminal(status)) return;
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

void BM_LaunchDetachedNewCluster(benchmark::State& state) {
  Env env("launch");
  Dag dag = LoadDagYaml("run: sleep 30\n");
  NullSink quiet;
  int n = 0;
  env.sky->catalog();  // the catalog is loaded once per process; not part of a launch
  for (auto _ : state) {
    LaunchOptions options;
    options.cluster_name = "bench-" + std::to_string(n++);
    options.detach_run = true;
    auto result = env.sky->Launch(dag, options, quiet);
    WaitRunning(*env.sky, options.cluster_name, *result.job_id);
    state.PauseTiming();
    env.sky->Down(options.cluster_name, quiet);
    state.ResumeTiming();
  }
}
BENCHMARK(BM_LaunchDetachedNewCluster)->Unit(benchmark::kMillisecond)->Iterations(20);

void BM_ExecDetached(benchmark::State& state) {
  Env env("exec");
  NullSink quiet;
  LaunchOptions launch;
  launch.cluster_name = "bench";
  launch.detach_run = true;
  env.sky->Launch(LoadDagYaml("run: echo ready\n"), launch, quiet);
  Dag dag = LoadDagYaml("resources:\n  cpus: 0.01\nrun: sleep 30\n");
  ExecOptions options;
  options.cluster_name = "bench";
  options.detach_run = true;
  for (auto _ : state) {
    auto result = env.sky->Exec(dag, options, quiet);
    WaitRunning(*env.sky, "bench", *result.job_id);
  }
}
BENCHMARK(BM_ExecDetached)->Unit(benchmark::kMillisecond)->Iterations(50);

void BM_Status100(benchmark::State& state) {
  Env env("status");
  for (int i = 0; i < 100; ++i) {
    ClusterUpdate update;
    update.name = "c" + std::to_string(i);
    update.ready = true;
    update.handle = {{"infra", "local"}, {"cluster_name", update.name}};
    update.launched_resources = {{"infra", "local"}, {"cpus", "1+"}};
    env.sky->state().AddOrUpdateCluster(update);
  }
  for (auto _ : state) benchmark::DoNotOptimize(env.sky->Status());
  // Leave the fake clusters out of Env's teardown: they have no directories.
  for (int i = 0; i < 100; ++i) env.sky->state().RemoveCluster("c" + std::to_string(i));
}
BENCHMARK(BM_Status100)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
