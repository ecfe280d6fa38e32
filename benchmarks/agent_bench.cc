// skyletd throughput and footprint, end to end through AgentClient against
// the real daemon (built beside this binary):
//   BM_Submit        jobs accepted per second (target >= 1,000/s)
//   BM_Queue10k      `queue` with 10,000 jobs in the table (target < 50 ms)
//   BM_IdleRss       the idle agent's resident set (target < 15 MiB)
// Submitted jobs wait PENDING behind a job that holds the node's only CPU, so
// the figures measure the agent, not the processes it would start.
#include <benchmark/benchmark.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "skycore/agent.h"
#include "skycore/error.h"

extern "C" char** environ;

namespace {

namespace fs = std::filesystem;

// One skyletd on a temporary socket, stopped and removed on destruction.
class Daemon {
 public:
  Daemon() {
    char pattern[] = "/tmp/skyagent_bench_XXXXXX";
    dir_ = ::mkdtemp(pattern);
    fs::create_directories(dir_ / "node0");
    socket_ = (dir_ / "agent.sock").string();
    nlohmann::json spec = {
        {"cluster_name", "bench"},
        {"nodes", {{{"workdir", (dir_ / "node0").string()}, {"cpus", 1}, {"memory_gib", 1}}}}};
    std::vector<std::string> args = {
        (fs::read_symlink("/proc/self/exe").parent_path() / "skyletd").string(),
        "--socket",
        socket_,
        "--state-dir",
        (dir_ / "state").string(),
        "--log-root",
        dir_.string(),
        "--node-spec",
        spec.dump(),
        "--kill-grace-s",
        "1"};
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    if (::posix_spawn(&pid_, argv[0], nullptr, nullptr, argv.data(), environ) != 0) pid_ = -1;
    for (int attempt = 0; attempt < 500; ++attempt) {
      try {
        skycore::AgentClient(socket_, 1).ping();
        return;
      } catch (const skycore::Error&) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  ~Daemon() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
    std::error_code ignored;
    fs::remove_all(dir_, ignored);
  }
  const std::string& socket() const { return socket_; }
  int pid() const { return pid_; }

 private:
  fs::path dir_;
  std::string socket_;
  pid_t pid_ = -1;
};

skycore::JobSpec WholeNodeJob(const std::string& run) {
  skycore::JobSpec spec;
  spec.run = run;
  spec.cpus_per_node = 1;
  spec.name = "bench";
  spec.resources = "1x[CPU:1]";
  return spec;
}

void BM_Submit(benchmark::State& state) {
  Daemon daemon;
  skycore::AgentClient client(daemon.socket());
  client.submit(WholeNodeJob("sleep 1000"));
  skycore::JobSpec spec = WholeNodeJob("echo hello");
  for (auto _ : state) benchmark::DoNotOptimize(client.submit(spec));
  state.SetItemsProcessed(state.iterations());
  client.cancel_all();
}
BENCHMARK(BM_Submit)->Iterations(1000)->Unit(benchmark::kMicrosecond)->UseRealTime();

void BM_Queue10k(benchmark::State& state) {
  Daemon daemon;
  skycore::AgentClient client(daemon.socket());
  client.submit(WholeNodeJob("sleep 1000"));
  skycore::JobSpec spec = WholeNodeJob("echo hello");
  for (int job = 1; job < 10000; ++job) client.submit(spec);
  size_t jobs = 0;
  for (auto _ : state) jobs = client.queue().size();
  state.counters["jobs"] = static_cast<double>(jobs);
  client.cancel_all();
}
BENCHMARK(BM_Queue10k)->Unit(benchmark::kMillisecond)->UseRealTime();

double RssMib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

void BM_IdleRss(benchmark::State& state) {
  Daemon daemon;
  {
    skycore::AgentClient client(daemon.socket());
    client.submit(WholeNodeJob("true"));
    for (int attempt = 0; attempt < 500; ++attempt) {
      if (skycore::IsTerminal(client.job_status({}).at(0).status)) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  for (auto _ : state) benchmark::DoNotOptimize(RssMib(daemon.pid()));
  state.counters["rss_mib"] = RssMib(daemon.pid());
}
BENCHMARK(BM_IdleRss)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
