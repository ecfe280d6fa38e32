// The state store. Target: `sky status` with 100 clusters in < 20 ms end to
// end. BM_ListClusters100 is the query alone; BM_OpenAndList100 adds opening
// the database (what every `sky` process pays); BM_ProcessOpenAndList100 runs
// a fresh process that opens, lists and prints the 100 rows, which is
// `sky status` without the CLI's argument parsing. Each checks that it really
// listed 100 clusters, so a fast wrong answer fails.
#include <benchmark/benchmark.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "skycore/state.h"

extern char** environ;

namespace {

namespace fs = std::filesystem;

constexpr int kClusters = 100;

// A state directory holding kClusters clusters with realistic handle and
// resources JSON, and some history; removed at exit.
class Fixture {
 public:
  Fixture() {
    char pattern[] = "/tmp/skycore_state_bench_XXXXXX";
    dir_ = ::mkdtemp(pattern);
    auto store = Open();
    for (int i = 0; i < kClusters; ++i) {
      skycore::ClusterUpdate update;
      update.name = "cluster-" + std::to_string(i);
      update.ready = true;
      update.num_nodes = 1 + i % 4;
      update.owner = "alice";
      update.last_use = "sky launch -c " + update.name + " task.yaml";
      update.handle = {
          {"cluster_name", update.name},
          {"cluster_name_on_cloud", update.name + "-2ea4"},
          {"infra", "local"},
          {"head_ip", "127.0.0.1"},
          {"stable_internal_external_ips", {{"127.0.0.1", "127.0.0.1"}}},
          {"ssh_port", 22},
          {"launched_nodes", update.num_nodes},
          {"agent_socket", "/home/alice/.sky/agents/" + update.name + ".sock"},
      };
      update.launched_resources = {{"infra", "aws/us-east-1/us-east-1a"},
                                   {"instance_type", "p4d.24xlarge"},
                                   {"accelerators", {{"A100", 8}}},
                                   {"cpus", "96"},
                                   {"memory", "1152"},
                                   {"use_spot", i % 2 == 0},
                                   {"disk_size", 256}};
      store->AddOrUpdateCluster(update);
      if (i % 5 == 0) store->SetClusterStatus(update.name, skycore::ClusterStatus::kStopped);
    }
  }
  ~Fixture() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::unique_ptr<skycore::StateStore> Open() const {
    skycore::StateStoreOptions options;
    options.state_dir = dir_;
    return skycore::OpenSqliteStateStore(options);
  }
  const fs::path& dir() const { return dir_; }

 private:
  fs::path dir_;
};

const Fixture& SharedFixture() {
  static const Fixture fixture;
  return fixture;
}

// What `sky status` prints per row, roughly: enough to touch every field.
size_t PrintTable(const std::vector<skycore::ClusterRecord>& clusters, std::FILE* out) {
  size_t rows = 0;
  for (const auto& cluster : clusters) {
    std::fprintf(out, "%-20s %-10s %-30s %-8s %lld %s\n", cluster.name.c_str(),
                 cluster.launched_resources.value("instance_type", "-").c_str(),
                 cluster.launched_resources.value("infra", "-").c_str(),
                 skycore::ClusterStatusName(cluster.status),
                 static_cast<long long>(cluster.launched_at_s), cluster.last_use.c_str());
    ++rows;
  }
  return rows;
}

void BM_ListClusters100(benchmark::State& state) {
  auto store = SharedFixture().Open();
  for (auto _ : state) {
    auto clusters = store->ListClusters();
    if (clusters.size() != kClusters) {
      state.SkipWithError("did not list 100 clusters");
      break;
    }
    benchmark::DoNotOptimize(clusters);
  }
}
BENCHMARK(BM_ListClusters100)->Unit(benchmark::kMicrosecond);

void BM_OpenAndList100(benchmark::State& state) {
  for (auto _ : state) {
    auto store = SharedFixture().Open();
    auto clusters = store->ListClusters();
    if (clusters.size() != kClusters) {
      state.SkipWithError("did not list 100 clusters");
      break;
    }
    benchmark::DoNotOptimize(clusters);
  }
}
BENCHMARK(BM_OpenAndList100)->Unit(benchmark::kMicrosecond);

// The child side of BM_ProcessOpenAndList100 (see main below).
int ListOnce(const char* dir) {
  skycore::StateStoreOptions options;
  options.state_dir = dir;
  auto store = skycore::OpenSqliteStateStore(options);
  std::FILE* out = std::fopen("/dev/null", "w");
  size_t rows = PrintTable(store->ListClusters(), out);
  std::fclose(out);
  return rows == kClusters ? 0 : 1;
}

void BM_ProcessOpenAndList100(benchmark::State& state) {
  const std::string self = fs::read_symlink("/proc/self/exe").string();
  const std::string dir = SharedFixture().dir().string();
  double child_cpu_s = 0;  // the child's own CPU time: less sensitive to a busy machine
  for (auto _ : state) {
    char* argv[] = {const_cast<char*>(self.c_str()), const_cast<char*>("--list-once"),
                    const_cast<char*>(dir.c_str()), nullptr};
    pid_t pid = 0;
    if (::posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv, environ) != 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    int status = 0;
    rusage usage{};
    ::wait4(pid, &status, 0, &usage);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      state.SkipWithError("the child did not list 100 clusters");
      break;
    }
    child_cpu_s += static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
                   static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  }
  state.counters["child_cpu_ms"] =
      benchmark::Counter(child_cpu_s * 1000, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_ProcessOpenAndList100)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_GetCluster(benchmark::State& state) {
  auto store = SharedFixture().Open();
  for (auto _ : state) {
    auto cluster = store->GetCluster("cluster-42");
    if (!cluster) {
      state.SkipWithError("cluster-42 missing");
      break;
    }
    benchmark::DoNotOptimize(cluster);
  }
}
BENCHMARK(BM_GetCluster)->Unit(benchmark::kMicrosecond);

// One state change (a write transaction) on a 100-cluster database.
void BM_SetClusterStatus(benchmark::State& state) {
  auto store = SharedFixture().Open();
  bool up = false;
  for (auto _ : state) {
    store->SetClusterStatus("cluster-1",
                            up ? skycore::ClusterStatus::kUp : skycore::ClusterStatus::kStopped);
    up = !up;
  }
}
BENCHMARK(BM_SetClusterStatus)->Unit(benchmark::kMicrosecond);

void BM_RequestCreateAndFinish(benchmark::State& state) {
  auto store = SharedFixture().Open();
  static int64_t next = 0;  // the benchmark runs this function several times
  for (auto _ : state) {
    skycore::RequestRecord request;
    request.request_id = "bench-" + std::to_string(next++);
    request.name = "exec";
    request.body = {{"cluster_name", "cluster-1"}};
    store->CreateRequest(request);
    skycore::RequestUpdate done;
    done.status = skycore::RequestStatus::kSucceeded;
    done.return_value = next;
    store->UpdateRequest(request.request_id, done);
  }
}
BENCHMARK(BM_RequestCreateAndFinish)->Unit(benchmark::kMicrosecond);

void BM_ClusterLockAcquireRelease(benchmark::State& state) {
  const fs::path dir = SharedFixture().dir();
  for (auto _ : state) {
    auto lock = skycore::ClusterLock::Acquire(dir, "cluster-1", std::chrono::milliseconds(1000));
    benchmark::DoNotOptimize(lock);
  }
}
BENCHMARK(BM_ClusterLockAcquireRelease)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::strcmp(argv[1], "--list-once") == 0) return ListOnce(argv[2]);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
