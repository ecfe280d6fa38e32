// The ClusterBackend every VM cloud shares (see cluster.h).
//
// A cluster's handle records what is needed to find its instances again
// without the state of this process: the cloud, region and the cluster's
// name on the cloud (instances carry it as a tag), plus the nodes as
// SSH-reachable hosts once they run. Every step that creates something on
// the cloud records the handle first, so `sky down` after a crash finds it.
#include "infra/vm/cluster.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "backend/remote_host.h"
#include "backend/ssh_runner.h"
#include "backend/sync.h"
#include "common/files.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "infra/infra.h"
#include "infra/vm/ssh_key.h"
#include "skycore/agent.h"
#include "skycore/error.h"

namespace skycore::vm {
namespace fs = std::filesystem;
using backend::ClusterBackend;
using backend::NodeShape;
using backend::RecordHandle;
using nlohmann::json;
using strings::ShellQuote;
using namespace backend::remote;  // NOLINT: this file is remote_host.h's user too

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kSshReadyDeadlineS = 180;  // a new instance's sshd comes up during boot
constexpr double kPrepareDeadlineS = 60;
constexpr double kCommandDeadlineS = 60;
constexpr auto kRunningDeadline = std::chrono::minutes(10);
constexpr auto kStoppedDeadline = std::chrono::minutes(10);
constexpr auto kPollInterval = std::chrono::milliseconds(100);
constexpr auto kMaxPollInterval = std::chrono::seconds(2);

// The cluster's name on the cloud: the user's name plus a short hash of who
// launched it, so two users' "dev" clusters in one account never meet
// (SkyPilot's cluster_name_on_cloud).
std::string NameOnCloud(const std::string& name, const std::string& user) {
  std::string base = name.substr(0, 40);
  while (!base.empty() && (base.back() == '-' || base.back() == '.')) base.pop_back();
  return fmt::format("{}-{}", base, HashText(user).substr(0, 4));
}

struct Node {
  std::string instance_id;
  std::string address;      // where this machine connects
  std::string internal_ip;  // where the other nodes reach it
  int port = 22;
  std::string root;  // skycore's directory on the node; empty until prepared
};

json NodeToJson(const Node& node) {
  return json{{"instance_id", node.instance_id},
              {"address", node.address},
              {"internal_ip", node.internal_ip},
              {"port", node.port},
              {"root", node.root}};
}

std::vector<Node> NodesOf(const json& handle) {
  std::vector<Node> nodes;
  for (const auto& value : handle.value("nodes", json::array())) {
    Node node;
    node.instance_id = value.value("instance_id", "");
    node.address = value.value("address", "");
    node.internal_ip = value.value("internal_ip", "");
    node.port = value.value("port", 22);
    node.root = value.value("root", "");
    nodes.push_back(node);
  }
  return nodes;
}

// The handle as the provisioner's request.
ProvisionRequest RequestOf(const json& handle) {
  ProvisionRequest request;
  request.cluster_name = handle.value("cluster_name", "");
  request.cluster_name_on_cloud = handle.value("cluster_name_on_cloud", "");
  request.region = handle.value("region", "");
  request.zone = handle.value("zone", "");
  request.instance_type = handle.value("instance_type", "");
  request.accelerator = handle.value("accelerator", "");
  request.accelerator_count = handle.value("gpus_per_node", 0);
  request.count = handle.value("num_nodes", 1);
  request.use_spot = handle.value("use_spot", false);
  request.disk_size_gb = handle.value("disk_size", 256);
  request.image_id = handle.value("image_id", "");
  request.ports = handle.value("ports", std::vector<int>{});
  request.labels = handle.value("labels", std::map<std::string, std::string>{});
  request.ssh_user = handle.value("ssh_user", "");
  request.provider_config = handle.value("provider_config", json::object());
  if (request.provider_config.is_null()) request.provider_config = json::object();
  if (handle.contains("disk_tier")) request.provider_config["disk_tier"] = handle["disk_tier"];
  return request;
}

class VmBackend : public ClusterBackend {
 public:
  VmBackend(backend::BackendContext context, std::shared_ptr<const VmCloud> cloud)
      : context_(std::move(context)), cloud_(std::move(cloud)) {}

  json Plan(const backend::ClusterRequest& request) override {
    const Candidate& chosen = *request.chosen;
    failover_ = request.failover;
    if (chosen.instance_type.empty()) {
      throw ResourcesUnavailableError(
          fmt::format("the plan names no instance type on {}", cloud_->descriptor().display_name));
    }
    json handle = {{"infra", name()},
                   {"cluster_name", request.name},
                   {"cluster_name_on_cloud", NameOnCloud(request.name, context_.user)},
                   {"region", chosen.region},
                   {"zone", chosen.zone},
                   {"instance_type", chosen.instance_type},
                   {"use_spot", chosen.use_spot},
                   {"num_nodes", request.num_nodes},
                   {"cpus_per_node", chosen.vcpus},
                   {"memory_gib_per_node", chosen.memory_gib},
                   {"accelerator", chosen.accelerator_name},
                   {"gpus_per_node", static_cast<int>(chosen.accelerator_count + 0.5)},
                   {"ports", request.ports},
                   {"image_id", request.image},
                   {"ssh_user", cloud_->SshUser()},
                   {"ssh_key", EnsureClientKey(context_.options.state_dir).string()},
                   {"socket", LocalSocketPath(RunnerOptionsFor(context_),
                                              context_.options.state_dir, request.name)},
                   {"nodes", json::array()}};
    if (request.resources) {
      const auto& spec = request.resources->spec();
      if (spec.disk_size_gb) handle["disk_size"] = *spec.disk_size_gb;
      if (spec.disk_tier) handle["disk_tier"] = *spec.disk_tier;
      if (!spec.labels.empty()) handle["labels"] = spec.labels;
    }
    return handle;
  }

  void Up(json& handle, const std::string&, OutputSink& out, const RecordHandle& record) override {
    const std::string name = handle.value("cluster_name", "");
    const std::string region = handle.value("region", "");
    const std::string on_cloud = handle.value("cluster_name_on_cloud", "");
    auto provisioner = cloud_->ProvisionerFor(region);
    std::mutex progress_mutex;
    provisioner->SetProgress([&out, &progress_mutex](const std::string& line) {
      std::lock_guard lock(progress_mutex);
      out.Write(line + "\n");
    });
    ClusterInfo info;
    try {
      ProvisionRequest request = RequestOf(handle);
      request.ssh_public_key = ReadLocal(handle.value("ssh_key", "") + ".pub");
      out.Step(fmt::format("Preparing {} in {}", Display(), region));
      request = provisioner->Bootstrap(std::move(request));
      handle["provider_config"] = request.provider_config;
      record(handle);
      out.Step(fmt::format("Launching {} {}{} instance{} in {}", request.count,
                           request.instance_type, request.use_spot ? " spot" : "",
                           request.count == 1 ? "" : "s",
                           request.zone.empty() ? region : request.zone));
      const ProvisionRecord launched = provisioner->RunInstances(request);
      if (!launched.zone.empty()) handle["zone"] = launched.zone;
      record(handle);
      if (!launched.created_instance_ids.empty()) {
        out.Write(fmt::format("Created {}\n", fmt::join(launched.created_instance_ids, ", ")));
      }
      if (!launched.resumed_instance_ids.empty()) {
        out.Write(fmt::format("Resumed {}\n", fmt::join(launched.resumed_instance_ids, ", ")));
      }
      WaitFor(*provisioner, region, on_cloud, InstanceState::kRunning, request.count,
              Clock::now() + kRunningDeadline, out);
      info = provisioner->GetClusterInfo(region, on_cloud);
    } catch (const Error& error) {
      ThrowClassified(*provisioner, error, handle);
      throw;
    }
    std::vector<Node> nodes;
    for (const auto& instance : info.instances) {
      Node node;
      node.instance_id = instance.instance_id;
      node.internal_ip = instance.internal_ip;
      node.address = instance.external_ip.empty() ? instance.internal_ip : instance.external_ip;
      node.port = instance.ssh_port;
      nodes.push_back(node);
    }
    if (nodes.empty()) {
      throw ResourcesUnavailableError(fmt::format(
          "{} reports no running instance of cluster '{}' in {}", Display(), name, region));
    }
    handle["nodes"] = json::array();
    for (const auto& node : nodes) handle["nodes"].push_back(NodeToJson(node));
    handle["head_ip"] = nodes.front().address;
    if (!info.zone.empty()) handle["zone"] = info.zone;
    record(handle);

    // Boot: each node's sshd answers, then skycore's directory is made.
    out.Step(
        fmt::format("Waiting for SSH on {} node{}", nodes.size(), nodes.size() == 1 ? "" : "s"));
    const std::string agent_name = AgentBinaryName(context_.skyletd);
    auto results = Parallel(nodes.size(), [&](size_t i) {
      const auto runner = Runner(handle, nodes[i]);
      auto result = runner.Run("true", kSshReadyDeadlineS);
      if (result.outcome != ssh::SshOutcome::kOk) return result;
      return runner.Run(PrepareCommand(name, {i}, agent_name), kPrepareDeadlineS);
    });
    bool head_has_agent = false;
    for (size_t i = 0; i < nodes.size(); ++i) {
      const auto& result = results[i];
      if (result.outcome != ssh::SshOutcome::kOk || result.exit_code != 0) {
        throw NetworkError(
            fmt::format("node {} ({}) of cluster '{}' did not become reachable over SSH: {}", i,
                        nodes[i].instance_id, name,
                        result.error.empty() ? strings::Trim(result.output) : result.error));
      }
      const Prepared prepared = ParsePrepared(result.output);
      nodes[i].root = prepared.root;
      if (i == 0) head_has_agent = prepared.has_agent;
    }
    handle["nodes"] = json::array();
    for (const auto& node : nodes) handle["nodes"].push_back(NodeToJson(node));
    record(handle);

    const auto head = Runner(handle, nodes.front());
    if (!head_has_agent) {
      out.Step(fmt::format("Installing the agent (skyletd) on the head ({})",
                           nodes.front().instance_id));
      InstallAgent(head, context_.skyletd, nodes.front().root);
    }
    out.Step(
        fmt::format("Starting the agent (skyletd) on the head ({})", nodes.front().instance_id));
    head.RunOrThrow(AgentCommand(handle, nodes, agent_name), kCommandDeadlineS);
    out.StepDone();
    AgentClient(AgentSocket(handle), 10).ping();
  }

  std::string AgentSocket(const json& handle) override {
    const auto nodes = NodesOf(handle);
    const std::string name = handle.value("cluster_name", "");
    if (nodes.empty() || nodes.front().root.empty()) {
      throw ClusterNotUpError(
          fmt::format("cluster '{}' was never brought up; `sky launch -c {}` does it", name, name));
    }
    return ConnectAgent(handle.value("socket", ""), Runner(handle, nodes.front()),
                        RemoteSocket(nodes.front().root, name), name);
  }

  NodeShape Shape(const json& handle) const override { return backend::ShapeFromHandle(handle); }

  void SyncWorkdir(const json& handle, const Workdir& workdir) override {
    backend::SyncWorkdir(workdir, Targets(handle));
  }
  void SyncFileMounts(const json& handle, const std::vector<FileMount>& mounts) override {
    backend::SyncFileMounts(mounts, Targets(handle));
  }
  void FetchDirectory(const json& handle, const std::string& remote_dir,
                      const fs::path& local_dir) override {
    backend::FetchDirectory(Targets(handle).front(), remote_dir, local_dir);
  }

  void Stop(const json& handle) override {
    const std::string name = handle.value("cluster_name", "");
    if (const std::string why = cloud_->WhyNoStop(); !why.empty()) {
      throw NotSupportedError(fmt::format(
          "Stopping cluster '{}'... skipped.\n  {}; `sky down {}` terminates the cluster", name,
          why, name));
    }
    if (handle.value("use_spot", false)) {
      // SkyPilot's words: a stopped spot instance may never come back.
      throw NotSupportedError(fmt::format(
          "Stopping cluster '{}'... skipped.\n  Stopping spot instances is currently not "
          "supported on {}; `sky down {}` terminates the cluster",
          name, cloud_->descriptor().display_name, name));
    }
    Disconnect(handle);
    const std::string region = handle.value("region", "");
    const std::string on_cloud = handle.value("cluster_name_on_cloud", "");
    auto provisioner = cloud_->ProvisionerFor(region);
    provisioner->StopInstances(region, on_cloud, false);
    NullSink quiet;
    // `sky start` right after must find them stopped, not stopping.
    WaitFor(*provisioner, region, on_cloud, InstanceState::kStopped, 0,
            Clock::now() + kStoppedDeadline, quiet);
  }

  void Teardown(const json& handle, OutputSink& out) override {
    const std::string region = handle.value("region", "");
    const std::string on_cloud = handle.value("cluster_name_on_cloud", "");
    if (region.empty() || on_cloud.empty()) return;  // planned, never launched
    Disconnect(handle);
    auto provisioner = cloud_->ProvisionerFor(region);
    // By tag, not by the ids the handle recorded: a launch that died before
    // recording them left instances all the same.
    const auto before = provisioner->QueryInstances(region, on_cloud, true);
    if (!before.empty()) {
      std::vector<std::string> ids;
      for (const auto& [id, state] : before) ids.push_back(id);
      out.Write(fmt::format("Terminating {}\n", fmt::join(ids, ", ")));
      provisioner->TerminateInstances(region, on_cloud, false);
      WaitFor(*provisioner, region, on_cloud, InstanceState::kTerminated, 0,
              Clock::now() + kStoppedDeadline, out);
    }
    // The security group goes once no instance uses it.
    provisioner->CleanupPorts(region, on_cloud);
    std::error_code ec;
    fs::remove_all(ClusterStateDir(handle), ec);
  }

  bool Exists(const json& handle) override { return !Observed(handle).empty(); }

  bool AllNodesPresent(const json& handle) override {
    const auto& states = Observed(handle);
    const size_t running =
        static_cast<size_t>(std::count_if(states.begin(), states.end(), [](const auto& each) {
          return each.second == InstanceState::kRunning;
        }));
    return running >= static_cast<size_t>(handle.value("num_nodes", 1));
  }

  bool AllNodesStopped(const json& handle) override {
    const auto& states = Observed(handle);
    return !states.empty() && std::all_of(states.begin(), states.end(), [](const auto& each) {
      return each.second == InstanceState::kStopped || each.second == InstanceState::kStopping;
    });
  }

  std::string LostNodesReason(const json& handle) override {
    const auto& states = Observed(handle);
    std::vector<std::string> lost;
    std::map<std::string, std::string> reasons;
    bool asked = false;
    for (const auto& node : NodesOf(handle)) {
      auto found = states.find(node.instance_id);
      if (found != states.end() && found->second == InstanceState::kRunning) continue;
      if (!asked) {
        const std::string region = handle.value("region", "");
        reasons = cloud_->ProvisionerFor(region)->StateReasons(
            region, handle.value("cluster_name_on_cloud", ""));
        asked = true;
      }
      const std::string state =
          found == states.end() ? "terminated" : InstanceStateName(found->second);
      auto reason = reasons.find(node.instance_id);
      lost.push_back(reason == reasons.end()
                         ? fmt::format("{}: {}", node.instance_id, state)
                         : fmt::format("{}: {} ({})", node.instance_id, state, reason->second));
    }
    return fmt::format("{}", fmt::join(lost, "; "));
  }

  std::string StoppedByInfraReason(const json& handle) override {
    const std::string region = handle.value("region", "");
    const auto reasons = cloud_->ProvisionerFor(region)->StateReasons(
        region, handle.value("cluster_name_on_cloud", ""));
    std::vector<std::string> explained;
    for (const auto& node : NodesOf(handle)) {
      auto reason = reasons.find(node.instance_id);
      if (reason != reasons.end()) {
        explained.push_back(fmt::format("{}: {}", node.instance_id, reason->second));
      }
    }
    return fmt::format("{}", fmt::join(explained, "; "));
  }

  bool SupportsAutostop() const override { return true; }
  bool SupportsStop() const override { return cloud_->WhyNoStop().empty(); }

  json LaunchedResources(const json& handle, const Candidate& chosen,
                         const Task& task) const override {
    std::string infra = fmt::format("{}/{}", name(), handle.value("region", chosen.region));
    if (!chosen.zone.empty()) infra += "/" + chosen.zone;
    json config = backend::LaunchedResourcesOf(infra, Shape(handle), chosen, task);
    config["instance_type"] = handle.value("instance_type", "");
    if (handle.value("use_spot", false)) config["use_spot"] = true;
    if (handle.contains("disk_size")) config["disk_size"] = handle["disk_size"];
    return config;
  }

  std::string Where(const json& handle) const override {
    const std::string zone = handle.value("zone", "");
    return fmt::format("on {} {}", Display(), zone.empty() ? handle.value("region", "") : zone);
  }

  void OpenPorts(json& handle, const std::vector<int>& ports, OutputSink&) override {
    const std::string region = handle.value("region", "");
    cloud_->ProvisionerFor(region)->OpenPorts(region, handle.value("cluster_name_on_cloud", ""),
                                              ports);
  }

  std::map<int, PortEndpoint> Endpoints(const json& handle,
                                        const std::vector<int>& ports) override {
    return backend::HostEndpoints(handle.value("head_ip", ""), ports,
                                  "the cluster has no running head instance");
  }

 private:
  const std::string& name() const { return cloud_->descriptor().name; }
  const std::string& Display() const { return cloud_->descriptor().display_name; }

  // What the cloud reports of the cluster's instances now (one call per
  // backend object: `sky status -r` asks several questions of one answer).
  const std::map<std::string, InstanceState>& Observed(const json& handle) {
    const std::string key = handle.value("cluster_name_on_cloud", "");
    auto found = observed_.find(key);
    if (found != observed_.end()) return found->second;
    const std::string region = handle.value("region", "");
    std::map<std::string, InstanceState> states;
    if (!region.empty() && !key.empty()) {
      states = cloud_->ProvisionerFor(region)->QueryInstances(region, key, true);
    }
    return observed_.emplace(key, std::move(states)).first->second;
  }

  // Throws a cloud error as the failover loop reads it (capacity and quota
  // as ResourcesUnavailableError); returns when the error stays as it is.
  void ThrowClassified(const Provisioner& provisioner, const Error& error, const json& handle) {
    const auto failure = provisioner.Classify(error);
    if (!failure) return;
    const std::string region = handle.value("region", "");
    const std::string zone = handle.value("zone", "");
    switch (failure->kind) {
      case FailureKind::kCapacity:
        // The provider's message names the call, region and code.
        throw ResourcesUnavailableError(
            zone.empty() ? failure->message : fmt::format("{} [zone {}]", failure->message, zone));
      case FailureKind::kQuota: {
        const std::string family = cloud_->descriptor().Family(handle.value("instance_type", ""));
        if (failover_) {
          failover_->blocked.insert(
              backend::FailoverState::Key(name(), region, handle.value("instance_type", "")));
        }
        throw ResourcesUnavailableError(fmt::format("{} [{} instances skipped in {} from now on]",
                                                    failure->message, family, region));
      }
      case FailureKind::kAuth:
        if (error.code() != ErrorCode::kCloudCredentials) {
          throw InvalidCloudCredentials(error.message(), error.location(), error.suggestions());
        }
        return;
      case FailureKind::kBadRequest:
      case FailureKind::kTransient:
        return;
    }
  }

  // Polls the cloud until `count` instances (0: all there are) of the
  // cluster are in `state`, printing each instance's changes.
  void WaitFor(Provisioner& provisioner, const std::string& region, const std::string& on_cloud,
               InstanceState state, int count, Clock::time_point deadline, OutputSink& out) {
    std::map<std::string, InstanceState> last;
    auto interval = kPollInterval;
    for (;;) {
      const auto now =
          provisioner.QueryInstances(region, on_cloud, state != InstanceState::kTerminated);
      std::vector<std::string> changes;
      size_t ready = 0;
      for (const auto& [id, each] : now) {
        auto before = last.find(id);
        if (before == last.end() || before->second != each) {
          changes.push_back(fmt::format("{} {}", id, InstanceStateName(each)));
        }
        if (each == state) ++ready;
        if (state == InstanceState::kRunning &&
            (each == InstanceState::kTerminating || each == InstanceState::kTerminated)) {
          throw ResourcesUnavailableError(
              fmt::format("instance {} was terminated while starting", id));
        }
      }
      if (!changes.empty()) out.Write(fmt::format("  {}\n", fmt::join(changes, ", ")));
      last = now;
      const bool done = count > 0 ? ready >= static_cast<size_t>(count) : ready == now.size();
      if (done) return;
      if (Clock::now() >= deadline) {
        throw ResourcesUnavailableError(fmt::format(
            "the instances of cluster '{}' in {} did not become {} in time ({} of {} did)",
            on_cloud, region, InstanceStateName(state), ready, count > 0 ? count : now.size()));
      }
      std::this_thread::sleep_for(interval);
      interval = std::min<std::chrono::milliseconds>(interval * 2, kMaxPollInterval);
    }
  }

  // This machine's files of the cluster: its own known_hosts (instances'
  // addresses are reused by other clusters with new host keys).
  fs::path ClusterStateDir(const json& handle) const {
    return context_.options.state_dir / "vm" / handle.value("cluster_name_on_cloud", "unknown");
  }

  ssh::SshRunner Runner(const json& handle, const Node& node) const {
    ssh::RunnerOptions options = RunnerOptionsFor(context_);
    const fs::path dir = ClusterStateDir(handle);
    files::EnsurePrivateDir(dir);
    options.known_hosts = dir / "known_hosts";
    ssh::SshHost host;
    host.name = node.instance_id;
    host.address = node.address;
    host.port = node.port;
    host.user = handle.value("ssh_user", "");
    host.identity_file = handle.value("ssh_key", "");
    return ssh::SshRunner(host, options);
  }

  void Disconnect(const json& handle) {
    const auto nodes = NodesOf(handle);
    if (!nodes.empty() && !nodes.front().root.empty()) {
      Runner(handle, nodes.front())
          .CancelForward(handle.value("socket", ""),
                         RemoteSocket(nodes.front().root, handle.value("cluster_name", "")));
    }
    std::error_code ec;
    fs::remove(handle.value("socket", ""), ec);
  }

  std::string AgentCommand(const json& handle, const std::vector<Node>& nodes,
                           const std::string& agent_name) const {
    const std::string name = handle.value("cluster_name", "");
    const std::string dir = ClusterDir(nodes.front().root, name);
    std::vector<std::pair<std::string, std::string>> files;
    json spec_nodes = json::array();
    json ips = json::array();
    for (size_t i = 0; i < nodes.size(); ++i) {
      json entry = {{"ip", nodes[i].internal_ip},
                    {"workdir", NodeWorkdir(nodes[i].root, name, i)},
                    {"cpus", handle.value("cpus_per_node", 0.0)},
                    {"memory_gib", handle.value("memory_gib_per_node", 0.0)},
                    {"gpus", handle.value("gpus_per_node", 0)}};
      if (i > 0) {
        entry["runner"] = {{"kind", "ssh"},
                           {"address", nodes[i].internal_ip},
                           {"port", nodes[i].port},
                           {"user", handle.value("ssh_user", "")},
                           {"identity_file", dir + "/ssh/id"},
                           {"known_hosts", dir + "/ssh/known_hosts"}};
      }
      ips.push_back(nodes[i].internal_ip);
      spec_nodes.push_back(entry);
    }
    if (nodes.size() > 1) {
      files.emplace_back(dir + "/ssh/id", ReadLocal(handle.value("ssh_key", "")));
    }
    // What the head needs to stop or terminate its own cluster (autostop).
    json head_config = {{"infra", name_of_infra()},
                        {"region", handle.value("region", "")},
                        {"cluster_name_on_cloud", handle.value("cluster_name_on_cloud", "")},
                        {"cloud", cloud_->HeadConfig(handle.value("region", ""))}};
    files.emplace_back(dir + "/cloud.json", head_config.dump());
    const std::string bin = ShellQuote(nodes.front().root + "/bin/" + agent_name);
    const std::string config = ShellQuote(dir + "/cloud.json");
    const std::string hook = fmt::format(
        "if [ \"$SKYPILOT_AUTOSTOP_DOWN\" = 1 ]; then exec {0} cloud-stop --config {1} "
        "--terminate; else exec {0} cloud-stop --config {1}; fi",
        bin, config);
    json spec = {{"cluster_name", name},
                 {"cluster_info",
                  {{"cluster_name", name},
                   {"cloud", name_of_infra()},
                   {"region", handle.value("region", "")},
                   {"zone", handle.value("zone", "")},
                   {"num_nodes", nodes.size()},
                   {"ips", ips}}},
                 {"nodes", spec_nodes}};
    return StartAgentCommand(nodes.front().root, name, agent_name, spec, files, false, "", hook);
  }

  std::string name_of_infra() const { return name(); }

  std::vector<backend::SyncTarget> Targets(const json& handle) const {
    const std::string name = handle.value("cluster_name", "");
    std::vector<backend::SyncTarget> targets;
    const auto nodes = NodesOf(handle);
    for (size_t i = 0; i < nodes.size(); ++i) {
      targets.push_back(TargetFor(Runner(handle, nodes[i]), nodes[i].root, name, i));
    }
    return targets;
  }

  backend::BackendContext context_;
  std::shared_ptr<const VmCloud> cloud_;
  std::shared_ptr<backend::FailoverState> failover_;
  std::map<std::string, std::map<std::string, InstanceState>> observed_;
};

}  // namespace

std::unique_ptr<ClusterBackend> MakeVmBackend(const backend::BackendContext& context,
                                              std::shared_ptr<const VmCloud> cloud) {
  return std::make_unique<VmBackend>(context, std::move(cloud));
}

}  // namespace skycore::vm
