#include "infra/local/cluster.h"

#include <fmt/format.h>
#include <signal.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "agent/launcher.h"
#include "common/files.h"
#include "common/subprocess.h"
#include "skycore/agent.h"
#include "skycore/error.h"

namespace skycore::backend {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// A Unix socket path must fit sun_path (108 bytes); deep state dirs (test
// temp dirs) fall back to a short per-user directory, keyed by the cluster dir.
fs::path SocketPath(const fs::path& cluster_dir) {
  fs::path inside = cluster_dir / "skyletd.sock";
  if (inside.native().size() < sizeof(sockaddr_un{}.sun_path) - 1) return inside;
  uint64_t hash = 1469598103934665603ull;
  for (char c : cluster_dir.native())
    hash = (hash ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return fs::temp_directory_path() / fmt::format("skycore-{}", ::getuid()) /
         fmt::format("{:016x}.sock", hash);
}

std::string Tail(const fs::path& path, size_t bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  in.seekg(0, std::ios::end);
  auto size = static_cast<size_t>(in.tellg());
  in.seekg(static_cast<std::streamoff>(size > bytes ? size - bytes : 0));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text;
}

}  // namespace

fs::path LocalCluster::NodeDir(int node) const { return dir / fmt::format("node{}", node); }
fs::path LocalCluster::NodeWorkdir(int node) const { return NodeDir(node) / "sky_workdir"; }

json LocalCluster::ToHandle() const {
  return json{{"infra", "local"},
              {"cluster_name", name},
              {"cluster_dir", dir.string()},
              {"socket", socket.string()},
              {"num_nodes", num_nodes},
              {"cpus_per_node", cpus_per_node},
              {"memory_gib_per_node", memory_gib_per_node},
              {"accelerator", gpu_name},
              {"gpus_per_node", gpus_per_node},
              {"agent_pid", agent_pid},
              {"agent_start_ticks", agent_start_ticks},
              {"head_ip", "127.0.0.1"}};
}

LocalCluster LocalCluster::FromHandle(const json& handle) {
  if (!handle.is_object() || handle.value("infra", "") != "local") {
    throw InternalError("the cluster's handle is not a local cluster's: " + handle.dump());
  }
  LocalCluster cluster;
  cluster.name = handle.value("cluster_name", "");
  cluster.dir = handle.value("cluster_dir", "");
  cluster.socket = handle.value("socket", "");
  cluster.num_nodes = handle.value("num_nodes", 1);
  cluster.cpus_per_node = handle.value("cpus_per_node", 0.0);
  cluster.memory_gib_per_node = handle.value("memory_gib_per_node", 0.0);
  cluster.gpu_name = handle.value("accelerator", "");
  cluster.gpus_per_node = handle.value("gpus_per_node", 0);
  cluster.agent_pid = handle.value("agent_pid", 0);
  cluster.agent_start_ticks = handle.value("agent_start_ticks", uint64_t{0});
  return cluster;
}

LocalCluster PlanLocalCluster(const fs::path& state_dir, const std::string& name, int num_nodes,
                              const LocalMachine& machine) {
  LocalCluster cluster;
  cluster.name = name;
  cluster.dir = state_dir / "clusters" / name;
  cluster.socket = SocketPath(cluster.dir);
  cluster.num_nodes = num_nodes;
  cluster.cpus_per_node = std::max(1.0, std::floor(machine.cpus / num_nodes * 100) / 100);
  cluster.memory_gib_per_node = std::floor(machine.memory_gib / num_nodes * 100) / 100;
  cluster.gpu_name = machine.gpu_name;
  cluster.gpus_per_node = static_cast<int>(machine.gpu_ids.size()) / num_nodes;
  return cluster;
}

void CreateLocalCluster(const LocalCluster& cluster, const LocalMachine& machine) {
  std::error_code ec;
  for (const auto& dir : {cluster.dir.parent_path(), cluster.dir, cluster.dir / "agent",
                          cluster.socket.parent_path()}) {
    files::EnsurePrivateDir(dir);  // the agent's job table and the logs are private
  }
  for (int node = 0; node < cluster.num_nodes && !ec; ++node) {
    files::EnsurePrivateDir(cluster.NodeDir(node));
    fs::create_directories(cluster.NodeWorkdir(node), ec);
  }
  if (ec) {
    throw IoError(fmt::format("cannot create the local cluster's directory {}: {}",
                              cluster.dir.string(), ec.message()));
  }
  json nodes = json::array();
  std::vector<std::string> ips;
  for (int node = 0; node < cluster.num_nodes; ++node) {
    json gpu_ids = json::array();
    for (int g = 0; g < cluster.gpus_per_node; ++g) {
      gpu_ids.push_back(machine.gpu_ids.at(static_cast<size_t>(node * cluster.gpus_per_node + g)));
    }
    // Every node is this machine: distinct loopback addresses keep ranks
    // apart in SKYPILOT_NODE_IPS while all of them stay reachable.
    std::string ip = fmt::format("127.0.0.{}", node + 1);
    ips.push_back(ip);
    nodes.push_back(json{{"ip", ip},
                         {"workdir", cluster.NodeWorkdir(node).string()},
                         {"cpus", cluster.cpus_per_node},
                         {"memory_gib", cluster.memory_gib_per_node},
                         {"gpus", cluster.gpus_per_node},
                         {"gpu_ids", gpu_ids}});
  }
  json cluster_info = {{"cluster_name", cluster.name},
                       {"cloud", "local"},
                       {"num_nodes", cluster.num_nodes},
                       {"ips", ips}};
  json spec = {{"cluster_name", cluster.name}, {"cluster_info", cluster_info}, {"nodes", nodes}};
  files::WriteAtomically(cluster.dir / "nodes.json", spec.dump(2) + "\n");
}

bool LocalAgentAlive(const LocalCluster& cluster) {
  return cluster.agent_pid > 0 && agent::ProcessAlive(cluster.agent_pid, cluster.agent_start_ticks);
}

void StartLocalAgent(LocalCluster& cluster, const fs::path& skyletd,
                     const std::string& autostop_hook) {
  if (LocalAgentAlive(cluster)) {
    try {
      AgentClient(cluster.socket.string(), 5).ping();
      return;
    } catch (const Error&) {
      StopLocalAgent(cluster, 5);  // alive but deaf: replace it
    }
  }
  std::error_code ec;
  fs::remove(cluster.socket, ec);  // a stale socket from a killed agent
  std::vector<std::string> argv = {skyletd.string(),
                                   "--socket",
                                   cluster.socket.string(),
                                   "--state-dir",
                                   (cluster.dir / "agent").string(),
                                   "--node-spec",
                                   (cluster.dir / "nodes.json").string(),
                                   "--log-root",
                                   cluster.dir.string()};
  if (!autostop_hook.empty()) {
    argv.push_back("--autostop-hook");
    argv.push_back(autostop_hook);
  }
  // Tests of autostop cannot wait real minutes.
  if (const char* minute = std::getenv("SKYCORE_AUTOSTOP_MINUTE_S"); minute && *minute) {
    argv.push_back("--autostop-minute-s");
    argv.push_back(minute);
  }
  cluster.agent_pid = subprocess::SpawnDaemon(argv, cluster.AgentLog().string());
  cluster.agent_start_ticks = agent::ProcessStartTicks(cluster.agent_pid).value_or(0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (int attempt = 0;; ++attempt) {
    try {
      AgentClient(cluster.socket.string(), 5).ping();
      return;
    } catch (const Error&) {
      if (std::chrono::steady_clock::now() > deadline ||
          !agent::ProcessAlive(cluster.agent_pid, cluster.agent_start_ticks)) {
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 20 ? 2 : 20));
  }
  StopLocalAgent(cluster, 2);
  throw CommandError(
      fmt::format("the agent (skyletd) of cluster '{}' did not start; its log {} ends with:\n{}",
                  cluster.name, cluster.AgentLog().string(), Tail(cluster.AgentLog(), 2000)));
}

void StopLocalAgent(const LocalCluster& cluster, double timeout_s) {
  if (!LocalAgentAlive(cluster)) return;
  ::kill(cluster.agent_pid, SIGTERM);
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  while (LocalAgentAlive(cluster)) {
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(cluster.agent_pid, SIGKILL);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // (A SIGKILLed agent leaves its jobs running; the next agent started on the
  // same job table kills them as it recovers. Down does exactly that.)
  for (int i = 0; i < 200 && LocalAgentAlive(cluster); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

void RemoveLocalCluster(const LocalCluster& cluster) {
  std::error_code ec;
  if (cluster.socket.parent_path() != cluster.dir) fs::remove(cluster.socket, ec);
  fs::remove_all(cluster.dir, ec);
  if (ec) {
    throw IoError(fmt::format("cannot remove the local cluster's directory {}: {}",
                              cluster.dir.string(), ec.message()));
  }
}

}  // namespace skycore::backend
