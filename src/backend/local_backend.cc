// ClusterBackend of the local infra: the functions of local_cluster.h.
#include <fmt/format.h>

#include "backend/cluster_backend.h"
#include "backend/local_cluster.h"
#include "backend/sync.h"
#include "common/strings.h"
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
    return PlanLocalCluster(context_.state_dir, request.name, request.num_nodes, context_.machine())
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

  json LaunchedResources(const json& handle, const Candidate& chosen,
                         const Task& task) const override {
    return LaunchedResourcesOf(chosen.InfraString(), Shape(handle), chosen, task);
  }

  std::string Where(const json&) const override { return "on this machine"; }

  std::map<int, PortEndpoint> Endpoints(const json&, const std::vector<int>& ports) override {
    std::map<int, PortEndpoint> out;
    for (int port : ports) out[port].address = fmt::format("127.0.0.1:{}", port);
    return out;
  }

 private:
  BackendContext context_;
};

}  // namespace

void AddPorts(json& config, const Candidate& chosen, const Task& task) {
  // Ports the task opens (its chosen alternative's), for `sky status --endpoints`.
  const auto& alternatives = task.resources().alternatives();
  if (chosen.alternative < alternatives.size()) {
    json asked = ResourcesToConfig(alternatives[chosen.alternative]);
    if (asked.contains("ports")) config["ports"] = asked["ports"];
  }
}

NodeShape ShapeFromHandle(const json& handle) {
  return {handle.value("num_nodes", 1), handle.value("cpus_per_node", 0.0),
          handle.value("memory_gib_per_node", 0.0), handle.value("accelerator", ""),
          handle.value("gpus_per_node", 0)};
}

json LaunchedResourcesOf(const std::string& infra, const NodeShape& shape, const Candidate& chosen,
                         const Task& task) {
  json config = {{"infra", infra},
                 {"cpus", strings::FormatNumber(shape.cpus)},
                 {"memory", strings::FormatNumber(shape.memory_gib)}};
  if (shape.gpus > 0) config["accelerators"] = fmt::format("{}:{}", shape.gpu_name, shape.gpus);
  AddPorts(config, chosen, task);
  return config;
}

std::unique_ptr<ClusterBackend> MakeLocalBackend(const BackendContext& context) {
  return std::make_unique<LocalBackend>(context);
}

std::unique_ptr<ClusterBackend> BackendForHandle(const json& handle,
                                                 const BackendContext& context) {
  const std::string infra = handle.is_object() ? handle.value("infra", "") : "";
  if (infra == "local") return MakeLocalBackend(context);
  if (infra == "ssh") return MakeSshBackend(context);
  if (infra == "slurm") return MakeSlurmBackend(context);
  if (infra == "kubernetes") return MakeKubernetesBackend(context);
  throw InternalError("the cluster's handle names no backend skycore knows: " + handle.dump());
}

std::unique_ptr<ClusterBackend> BackendForInfra(const std::string& infra,
                                                const std::string& /*region*/,
                                                const BackendContext& context) {
  if (infra == "local") return MakeLocalBackend(context);
  if (infra == "ssh") return MakeSshBackend(context);
  if (infra == "slurm") return MakeSlurmBackend(context);
  if (infra == "kubernetes") return MakeKubernetesBackend(context);
  throw NotSupportedError(fmt::format("launching on {} is not supported by skycore yet", infra));
}

}  // namespace skycore::backend
