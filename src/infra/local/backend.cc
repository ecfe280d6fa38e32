// ClusterBackend of the local infra: the functions of cluster.h.
#include <fmt/format.h>
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

#include "backend/cluster_backend.h"
#include "backend/sync.h"
#include "common/strings.h"
#include "infra/local/cluster.h"
#include "skycore/error.h"
#include "skycore/yaml.h"

namespace skycore::backend {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

class LocalBackend : public ClusterBackend {
 public:
  explicit LocalBackend(BackendContext context) : context_(std::move(context)) {}

  json Plan(const ClusterRequest& request) override {
    return PlanLocalCluster(context_.options.state_dir, request.name, request.num_nodes,
                            context_.machine())
        .ToHandle();
  }

  void Up(json& handle, const std::string& autostop_hook, OutputSink& out,
          const RecordHandle& record) override {
    LocalCluster cluster = LocalCluster::FromHandle(handle);
    CreateLocalCluster(cluster, context_.machine());
    if (!LocalAgentAlive(cluster)) out.Step("Starting the agent (skyletd)");
    StartLocalAgent(cluster, context_.skyletd, autostop_hook);
    handle = cluster.ToHandle();
    record(handle);
  }

  bool AgentAlive(const json& handle) override {
    return LocalAgentAlive(LocalCluster::FromHandle(handle));
  }

  std::string AgentSocket(const json& handle) override {
    LocalCluster cluster = LocalCluster::FromHandle(handle);
    if (!LocalAgentAlive(cluster)) {
      throw ClusterNotUpError(fmt::format(
          "the agent of cluster '{}' is not running (was it killed?); `sky status -r` refreshes "
          "the cluster's state and `sky start {}` restarts it",
          cluster.name, cluster.name));
    }
    return cluster.socket.string();
  }

  NodeShape Shape(const json& handle) const override {
    LocalCluster cluster = LocalCluster::FromHandle(handle);
    return {cluster.num_nodes, cluster.cpus_per_node, cluster.memory_gib_per_node, cluster.gpu_name,
            cluster.gpus_per_node};
  }

  void SyncWorkdir(const json& handle, const Workdir& workdir) override {
    LocalCluster cluster = LocalCluster::FromHandle(handle);
    std::vector<SyncTarget> targets;
    for (int node = 0; node < cluster.num_nodes; ++node) {
      targets.push_back(SyncTarget::Local(cluster.NodeDir(node), cluster.NodeWorkdir(node)));
    }
    backend::SyncWorkdir(workdir, targets);
  }

  void SyncFileMounts(const json& handle, const std::vector<FileMount>& mounts) override {
    LocalCluster cluster = LocalCluster::FromHandle(handle);
    std::vector<SyncTarget> targets;
    for (int node = 0; node < cluster.num_nodes; ++node) {
      targets.push_back(SyncTarget::Local(cluster.NodeDir(node), cluster.NodeWorkdir(node)));
    }
    backend::SyncFileMounts(mounts, targets);
  }

  void FetchDirectory(const json&, const std::string& remote_dir,
                      const fs::path& local_dir) override {
    std::error_code ec;
    fs::create_directories(local_dir, ec);
    fs::copy(remote_dir, local_dir,
             fs::copy_options::recursive | fs::copy_options::overwrite_existing, ec);
    if (ec) {
      throw IoError(
          fmt::format("cannot copy {} to {}: {}", remote_dir, local_dir.string(), ec.message()));
    }
  }

  void Stop(const json& handle) override { StopLocalAgent(LocalCluster::FromHandle(handle)); }

  void Teardown(const json& handle, OutputSink&) override {
    LocalCluster cluster = LocalCluster::FromHandle(handle);
    std::error_code ec;
    if (!LocalAgentAlive(cluster) && fs::exists(cluster.dir / "agent" / "jobs.db", ec) &&
        fs::exists(cluster.dir / "nodes.json", ec)) {
      // The agent died (or was killed) with jobs it drove: a fresh agent on
      // the same job table kills what they left running as it recovers.
      StartLocalAgent(cluster, context_.skyletd, "");
    }
    StopLocalAgent(cluster);
    RemoveLocalCluster(cluster);
  }

  bool Exists(const json& handle) override {
    std::error_code ec;
    return fs::exists(LocalCluster::FromHandle(handle).dir, ec);
  }

  // A local cluster is lost with its agent: the agent's exit is watched
  // through a pidfd (the pid checked against the agent's start time after
  // opening it, so a reused pid is not taken for the agent).
  std::optional<std::string> WaitForLoss(const json& handle, const CancelToken& stop) override {
    const LocalCluster cluster = LocalCluster::FromHandle(handle);
    if (cluster.agent_pid <= 0) return std::nullopt;
    const int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, cluster.agent_pid, 0));
    if (pidfd < 0) {
      if (errno != ESRCH) return std::nullopt;  // no pidfds here: the log stream tells
      return fmt::format("the agent process {} is gone", cluster.agent_pid);
    }
    std::optional<std::string> lost;
    if (!LocalAgentAlive(cluster)) {
      lost = fmt::format("the agent process {} is gone", cluster.agent_pid);
    }
    while (!lost && !stop.cancelled()) {
      pollfd exited{pidfd, POLLIN, 0};
      if (::poll(&exited, 1, 50) > 0) {
        lost = fmt::format("the agent process {} exited", cluster.agent_pid);
      }
    }
    ::close(pidfd);
    return lost;
  }

  json LaunchedResources(const json& handle, const Candidate& chosen,
                         const Task& task) const override {
    return LaunchedResourcesOf(chosen.InfraString(), Shape(handle), chosen, task);
  }

  std::string Where(const json&) const override { return "on this machine"; }

  // The agent runs here, and stops or tears down its cluster through the
  // `sky` command on this machine.
  bool SupportsAutostop() const override { return true; }

  // The directory and the agent an interrupted launch left are reused, not
  // removed: the agent is found again by its pid and start time.
  void CleanUpInterruptedLaunch(const json&, OutputSink&) override {}
  void AdoptInterruptedLaunch(json& handle, const json& previous) override {
    if (previous.value("infra", "") != handle.value("infra", "")) return;
    handle["agent_pid"] = previous.value("agent_pid", 0);
    handle["agent_start_ticks"] = previous.value("agent_start_ticks", uint64_t{0});
  }

  std::map<int, PortEndpoint> Endpoints(const json&, const std::vector<int>& ports) override {
    std::map<int, PortEndpoint> out;
    for (int port : ports) out[port].address = fmt::format("127.0.0.1:{}", port);
    return out;
  }

 private:
  BackendContext context_;
};

}  // namespace

std::unique_ptr<ClusterBackend> MakeLocalBackend(const BackendContext& context) {
  return std::make_unique<LocalBackend>(context);
}

}  // namespace skycore::backend
