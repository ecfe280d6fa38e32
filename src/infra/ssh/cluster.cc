// ClusterBackend of SSH node pools: a cluster's nodes are hosts of one pool.
//
// The head's agent runs rank 0 itself and the other ranks over ssh (the node
// spec's "runner"), with the key this machine uses copied next to it
// (`<cluster dir>/ssh/id<i>`) and the host keys this machine has checked
// (`ssh/known_hosts`). Hosts are shared between clusters: a cluster reserves
// the CPUs and memory its task asks for, and its GPUs by index, so two
// clusters never get the same device. See remote_host.h for the layout on
// the hosts.
#include "infra/ssh/cluster.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <sstream>

#include "backend/remote_host.h"
#include "backend/ssh_runner.h"
#include "backend/sync.h"
#include "common/sky_config.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "infra/ssh/inventory.h"
#include "infra/ssh/node_pools.h"
#include "skycore/agent.h"
#include "skycore/error.h"

namespace skycore::backend {
namespace fs = std::filesystem;
using nlohmann::json;
using strings::ShellQuote;
using namespace remote;  // NOLINT: this file is remote_host.h's main user

namespace {

constexpr double kPrepareDeadlineS = 30;
constexpr double kCommandDeadlineS = 60;

// What one cluster holds of a host.
struct Held {
  double cpus = 0;
  double memory_gib = 0;
  std::set<int> gpu_ids;
};

struct Node {
  ssh::SshHost host;
  std::string root;  // the node's skycore directory; empty until prepared
  std::vector<int> gpu_ids;
};

json NodeToJson(const Node& node) {
  return json{{"host", node.host.name},
              {"address", node.host.address},
              {"port", node.host.port},
              {"user", node.host.user},
              {"identity_file", node.host.identity_file},
              {"root", node.root},
              {"gpu_ids", node.gpu_ids}};
}

Node NodeFromJson(const json& value) {
  Node node;
  node.host.name = value.value("host", "");
  node.host.address = value.value("address", "");
  node.host.port = value.value("port", 22);
  node.host.user = value.value("user", "");
  node.host.identity_file = value.value("identity_file", "");
  node.root = value.value("root", "");
  node.gpu_ids = value.value("gpu_ids", std::vector<int>{});
  return node;
}

std::vector<Node> NodesOf(const json& handle, const char* key = "nodes") {
  std::vector<Node> nodes;
  if (handle.contains(key)) {
    for (const auto& value : handle[key]) nodes.push_back(NodeFromJson(value));
  }
  return nodes;
}

class SshBackend : public ClusterBackend {
 public:
  explicit SshBackend(BackendContext context)
      : context_(std::move(context)), options_(RunnerOptionsFor(context_)) {}

  json Plan(const ClusterRequest& request) override {
    const std::string& pool_name = request.chosen->region;
    const auto pools = ssh::LoadNodePools(ssh::NodePoolsPath(context_.options.state_dir),
                                          ssh::SshConfig::Load(context_.options.ssh_config),
                                          ssh::CurrentPoolsEnvironment());
    const ssh::NodePool* pool = nullptr;
    for (const auto& each : pools) {
      if (each.name == pool_name) pool = &each;
    }
    if (!pool) {
      throw ResourcesUnavailableError(
          fmt::format("SSH node pool '{}' is not in {}; `sky check ssh` lists the pools", pool_name,
                      ssh::NodePoolsPath(context_.options.state_dir).string()));
    }
    auto inventory = ssh::LoadInventory(ssh::InventoryPath(context_.options.state_dir));
    if (!inventory) {
      throw ResourcesUnavailableError(
          "the SSH node pools have not been probed yet; run `sky check ssh`");
    }
    // What the other clusters hold of each host of the pool.
    std::map<std::string, Held> held;
    for (const auto& other : request.other_handles) {
      if (other.value("infra", "") != "ssh" || other.value("pool", "") != pool_name) continue;
      const json reserve = other.value("reserve", json::object());
      for (const auto& node : NodesOf(other)) {
        Held& h = held[node.host.name];
        h.cpus += reserve.value("cpus", 0.0);
        h.memory_gib += reserve.value("memory_gib", 0.0);
        h.gpu_ids.insert(node.gpu_ids.begin(), node.gpu_ids.end());
      }
    }
    // What a node reserves on its host: the chosen virtual type (the ask
    // sized with SkyPilot's defaults, or the task's `instance_type`), as a
    // pod of SkyPilot's SSH node pools requests it.
    const Candidate& chosen = *request.chosen;
    NodeDemand demand;
    demand.cpus = chosen.vcpus;
    demand.memory_gib = chosen.memory_gib;
    demand.gpus = static_cast<int>(std::ceil(chosen.accelerator_count - 1e-9));
    demand.gpu_name = demand.gpus > 0 ? chosen.accelerator_name : std::string();
    std::vector<Node> fitting;
    std::vector<std::string> why_not;
    std::string gpu_name;
    for (const auto& host : pool->hosts) {
      const ssh::HostInventory* found = nullptr;
      for (const auto& each : inventory->hosts) {
        if (each.pool == pool_name && each.name == host.name) found = &each;
      }
      auto skip = [&](const std::string& reason) {
        why_not.push_back(fmt::format("{}: {}", host.name, reason));
      };
      if (!found) {
        skip("not probed yet (run `sky check ssh`)");
        continue;
      }
      if (!found->ready()) {
        skip(found->error);
        continue;
      }
      const Held& h = held[host.name];
      if (demand.cpus > found->cpus - h.cpus + 1e-9) {
        skip(fmt::format("{} of {} CPUs free, {} asked",
                         strings::FormatNumber(found->cpus - h.cpus),
                         strings::FormatNumber(found->cpus), strings::FormatNumber(demand.cpus)));
        continue;
      }
      if (demand.memory_gib > found->memory_gib - h.memory_gib + 1e-9) {
        skip(fmt::format("{} GiB of memory free, {} asked",
                         strings::FormatNumber(found->memory_gib - h.memory_gib),
                         strings::FormatNumber(demand.memory_gib)));
        continue;
      }
      Node node;
      node.host = host;
      if (demand.gpus > 0) {
        if (!strings::EqualsIgnoreCase(found->gpu_name, demand.gpu_name)) {
          skip(found->gpu_count > 0
                   ? fmt::format("has {}, {} asked", found->gpu_name, demand.gpu_name)
                   : "has no GPUs");
          continue;
        }
        for (int id = 0;
             id < found->gpu_count && static_cast<int>(node.gpu_ids.size()) < demand.gpus; ++id) {
          if (!h.gpu_ids.count(id)) node.gpu_ids.push_back(id);
        }
        if (static_cast<int>(node.gpu_ids.size()) < demand.gpus) {
          skip(fmt::format("{} of {} {} free, {} asked",
                           found->gpu_count - static_cast<int>(h.gpu_ids.size()), found->gpu_count,
                           found->gpu_name, demand.gpus));
          continue;
        }
        gpu_name = found->gpu_name;
      }
      fitting.push_back(std::move(node));
    }
    if (static_cast<int>(fitting.size()) < request.num_nodes) {
      std::string reasons;
      for (const auto& line : why_not) reasons += "\n  " + line;
      throw ResourcesUnavailableError(fmt::format(
          "SSH node pool '{}' has {} host{} with room for a node of this task, {} needed{}",
          pool_name, fitting.size(), fitting.size() == 1 ? "" : "s", request.num_nodes, reasons));
    }
    json nodes = json::array(), spares = json::array();
    for (size_t i = 0; i < fitting.size(); ++i) {
      (static_cast<int>(i) < request.num_nodes ? nodes : spares).push_back(NodeToJson(fitting[i]));
    }
    const std::string socket = LocalSocketPath(options_, context_.options.state_dir, request.name);
    return json{{"infra", "ssh"},
                {"cluster_name", request.name},
                {"pool", pool_name},
                {"socket", socket},
                {"num_nodes", request.num_nodes},
                {"instance_type", chosen.instance_type},
                {"cpus_per_node", demand.cpus},
                {"memory_gib_per_node", demand.memory_gib},
                {"accelerator", gpu_name},
                {"gpus_per_node", demand.gpus},
                {"reserve", {{"cpus", demand.cpus}, {"memory_gib", demand.memory_gib}}},
                {"nodes", nodes},
                {"spares", spares},
                {"head_ip", fitting.front().host.address}};
  }

  void Up(json& handle, const std::string&, OutputSink& out, const RecordHandle& record) override {
    const std::string name = handle.value("cluster_name", "");
    std::vector<Node> nodes = NodesOf(handle);
    std::vector<Node> spares = NodesOf(handle, "spares");
    out.Step(fmt::format("Preparing {} host{} of SSH node pool '{}'", nodes.size(),
                         nodes.size() == 1 ? "" : "s", handle.value("pool", "")));
    const std::string agent_name = AgentBinaryName(context_.skyletd);
    // Prepare every node; a host that fails is replaced by a spare.
    std::vector<bool> ready(nodes.size(), false);
    std::vector<std::string> failures;
    bool head_has_agent = false;
    for (;;) {
      auto results = Parallel(nodes.size(), [&](size_t i) -> ssh::SshResult {
        if (ready[i]) return ssh::SshResult{ssh::SshOutcome::kOk, 0, "", 0, ""};
        return Runner(nodes[i]).Run(PrepareCommand(name, {i}, agent_name), kPrepareDeadlineS);
      });
      bool replaced = false;
      for (size_t i = 0; i < nodes.size(); ++i) {
        if (ready[i]) continue;
        const auto& result = results[i];
        if (result.outcome == ssh::SshOutcome::kOk && result.exit_code == 0) {
          const Prepared prepared = ParsePrepared(result.output);
          nodes[i].root = prepared.root;
          if (i == 0) head_has_agent = prepared.has_agent;
          ready[i] = !nodes[i].root.empty();
          if (ready[i]) continue;
        }
        failures.push_back(result.outcome == ssh::SshOutcome::kOk
                               ? fmt::format("{}: preparing {} failed (exit {}): {}",
                                             nodes[i].host.Display(), "the node", result.exit_code,
                                             strings::Trim(result.output))
                               : result.error);
        if (spares.empty()) {
          std::string text;
          for (const auto& failure : failures) text += "\n  " + failure;
          throw ResourcesUnavailableError(fmt::format(
              "cannot bring up {} node{} of cluster '{}' on SSH node pool '{}': no other free "
              "host is left; the hosts that failed:{}",
              nodes.size(), nodes.size() == 1 ? "" : "s", name, handle.value("pool", ""), text));
        }
        out.Write(fmt::format("Host {} failed ({}); using {} instead\n", nodes[i].host.name,
                              failures.back(), spares.front().host.name));
        nodes[i] = spares.front();
        spares.erase(spares.begin());
        replaced = true;
      }
      SetNodes(handle, nodes, spares);
      record(handle);  // roots found, replacements recorded before they are touched
      if (!replaced) break;
    }
    if (nodes.front().host.address != handle.value("head_ip", "")) {
      handle["head_ip"] = nodes.front().host.address;
      record(handle);
    }

    const Node& head = nodes.front();
    const auto head_runner = Runner(head);
    if (!head_has_agent) {
      out.Step(fmt::format("Installing the agent (skyletd) on {}", head.host.Display()));
      InstallAgent(head_runner, context_.skyletd, head.root);
    }
    out.Step(fmt::format("Starting the agent (skyletd) on {}", head.host.Display()));
    head_runner.RunOrThrow(StartAgentCommand(handle, nodes, agent_name), kCommandDeadlineS);
    out.StepDone();
    // The agent answers once its socket is forwarded here.
    AgentClient(AgentSocket(handle), 10).ping();
  }

  std::string AgentSocket(const json& handle) override {
    const std::vector<Node> nodes = NodesOf(handle);
    const std::string name = handle.value("cluster_name", "");
    if (nodes.empty() || nodes.front().root.empty()) {
      throw ClusterNotUpError(
          fmt::format("cluster '{}' was never brought up; `sky launch -c {}` does it", name, name));
    }
    return ConnectAgent(handle.value("socket", ""), Runner(nodes.front()),
                        RemoteSocket(nodes.front().root, name), name);
  }

  NodeShape Shape(const json& handle) const override { return ShapeFromHandle(handle); }

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
    throw NotSupportedError(fmt::format(
        "cluster '{}' runs on SSH node pool '{}': its machines are not skycore's to stop; `sky "
        "down {}` releases them",
        handle.value("cluster_name", ""), handle.value("pool", ""),
        handle.value("cluster_name", "")));
  }

  void Teardown(const json& handle, OutputSink& out) override {
    const std::string name = handle.value("cluster_name", "");
    const std::vector<Node> nodes = NodesOf(handle);
    if (!nodes.empty()) {
      Runner(nodes.front())
          .CancelForward(handle.value("socket", ""), RemoteSocket(nodes.front().root, name));
    }
    std::error_code ec;
    fs::remove(handle.value("socket", ""), ec);
    auto results = Parallel(nodes.size(), [&](size_t i) {
      return Runner(nodes[i]).Run(TeardownCommand(name), kCommandDeadlineS);
    });
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (results[i].outcome != ssh::SshOutcome::kOk || results[i].exit_code != 0) {
        // The host is gone or broken: its reservation is released all the
        // same, or a dead host would hold the cluster forever.
        out.Write(fmt::format(
            "Warning: could not clean up cluster '{}' on {} ({}); what skycore put there stays "
            "in ${{SKYCORE_HOME:-~/.skycore}}/clusters/{}\n",
            name, nodes[i].host.Display(),
            results[i].error.empty() ? strings::Trim(results[i].output) : results[i].error, name));
      }
    }
  }

  bool Exists(const json&) override { return true; }

  json LaunchedResources(const json& handle, const Candidate& chosen,
                         const Task& task) const override {
    json resources = LaunchedResourcesOf("ssh/" + handle.value("pool", chosen.region),
                                         Shape(handle), chosen, task);
    // What each node reserved, in SkyPilot's words (older handles lack it).
    if (const std::string type = handle.value("instance_type", ""); !type.empty()) {
      resources["instance_type"] = type;
    }
    return resources;
  }

  std::string Where(const json& handle) const override {
    return fmt::format("on SSH node pool '{}'", handle.value("pool", ""));
  }

  // The head host's address as the pool names it (what this machine reaches).
  std::map<int, PortEndpoint> Endpoints(const json& handle,
                                        const std::vector<int>& ports) override {
    return HostEndpoints(handle.value("head_ip", ""), ports,
                         "the cluster's handle records no head host");
  }

 private:
  ssh::SshRunner Runner(const Node& node) const { return ssh::SshRunner(node.host, options_); }

  static void SetNodes(json& handle, const std::vector<Node>& nodes,
                       const std::vector<Node>& spares) {
    json n = json::array(), s = json::array();
    for (const auto& node : nodes) n.push_back(NodeToJson(node));
    for (const auto& node : spares) s.push_back(NodeToJson(node));
    handle["nodes"] = n;
    handle["spares"] = s;
  }

  std::string StartAgentCommand(const json& handle, const std::vector<Node>& nodes,
                                const std::string& agent_name) const {
    const std::string name = handle.value("cluster_name", "");
    const std::string dir = ClusterDir(nodes.front().root, name);
    std::vector<std::pair<std::string, std::string>> files;
    json spec_nodes = json::array();
    json ips = json::array();
    for (size_t i = 0; i < nodes.size(); ++i) {
      const Node& node = nodes[i];
      json entry = {{"ip", node.host.address},
                    {"workdir", NodeWorkdir(node.root, name, i)},
                    {"cpus", handle.value("cpus_per_node", 0.0)},
                    {"memory_gib", handle.value("memory_gib_per_node", 0.0)},
                    {"gpus", node.gpu_ids.size()},
                    {"gpu_ids", node.gpu_ids}};
      if (i > 0) {
        json runner = {{"kind", "ssh"},
                       {"address", node.host.address},
                       {"port", node.host.port},
                       {"user", node.host.user},
                       {"known_hosts", dir + "/ssh/known_hosts"}};
        if (!node.host.identity_file.empty()) {
          runner["identity_file"] = fmt::format("{}/ssh/id{}", dir, i);
          files.emplace_back(fmt::format("{}/ssh/id{}", dir, i),
                             ReadLocal(node.host.identity_file));
        }
        entry["runner"] = runner;
      }
      ips.push_back(node.host.address);
      spec_nodes.push_back(entry);
    }
    if (nodes.size() > 1)
      files.emplace_back(dir + "/ssh/known_hosts", ReadLocal(options_.known_hosts));
    json spec = {{"cluster_name", name},
                 {"cluster_info",
                  {{"cluster_name", name},
                   {"cloud", "ssh"},
                   {"region", handle.value("pool", "")},
                   {"num_nodes", nodes.size()},
                   {"ips", ips}}},
                 {"nodes", spec_nodes}};
    return remote::StartAgentCommand(nodes.front().root, name, agent_name, spec, files, false);
  }

  std::vector<SyncTarget> Targets(const json& handle) const {
    const std::string name = handle.value("cluster_name", "");
    std::vector<SyncTarget> targets;
    const auto nodes = NodesOf(handle);
    for (size_t i = 0; i < nodes.size(); ++i) {
      targets.push_back(TargetFor(Runner(nodes[i]), nodes[i].root, name, i));
    }
    return targets;
  }

  BackendContext context_;
  ssh::RunnerOptions options_;
};

}  // namespace

namespace {

template <typename Fn>
std::vector<HostOutcome> ForEveryHost(const BackendContext& context,
                                      const std::vector<ssh::NodePool>& pools, Fn fn) {
  const ssh::RunnerOptions options = RunnerOptionsFor(context);
  std::vector<std::pair<const ssh::NodePool*, const ssh::SshHost*>> hosts;
  for (const auto& pool : pools) {
    for (const auto& host : pool.hosts) hosts.emplace_back(&pool, &host);
  }
  return Parallel(hosts.size(), [&](size_t i) {
    HostOutcome outcome{hosts[i].first->name, hosts[i].second->name, false, ""};
    try {
      outcome.detail = fn(ssh::SshRunner(*hosts[i].second, options));
      outcome.ok = true;
    } catch (const Error& error) {
      outcome.detail = error.message();
    }
    return outcome;
  });
}

}  // namespace

std::vector<HostOutcome> InstallOnHosts(const BackendContext& context,
                                        const std::vector<ssh::NodePool>& pools) {
  const std::string name = AgentBinaryName(context.skyletd);
  return ForEveryHost(context, pools, [&](const ssh::SshRunner& runner) {
    std::string output = runner.RunOrThrow(
        fmt::format(
            "set -e; umask 077; R=\"${{SKYCORE_HOME:-$HOME/.skycore}}\"; mkdir -p \"$R/bin\" "
            "\"$R/run\" \"$R/clusters\"; chmod go-rwx \"$R\" \"$R/bin\" \"$R/run\" "
            "\"$R/clusters\" 2>/dev/null || true; cd \"$R\"; pwd -P; "
            "if [ -x \"$R/bin/\"{} ]; then echo agent=yes; fi",
            ShellQuote(name)),
        kPrepareDeadlineS);
    std::istringstream lines(output);
    std::string root, line;
    std::getline(lines, root);
    bool installed = false;
    while (std::getline(lines, line)) installed = installed || line == "agent=yes";
    if (!installed) InstallAgent(runner, context.skyletd, root);
    return fmt::format("agent {} in {}", installed ? "already installed" : "installed", root);
  });
}

std::vector<HostOutcome> CleanHosts(const BackendContext& context,
                                    const std::vector<ssh::NodePool>& pools) {
  return ForEveryHost(context, pools, [&](const ssh::SshRunner& runner) {
    // Each cluster's agent is stopped as `sky down` would, then skycore's
    // own subdirectories go (the directory itself only when empty: with
    // $SKYCORE_HOME it may be someone else's).
    std::string output = runner.RunOrThrow(
        "R=\"${SKYCORE_HOME:-$HOME/.skycore}\"; [ -d \"$R\" ] || { echo absent; exit 0; }; "
        "R=$(cd \"$R\" && pwd -P); "
        "for D in \"$R\"/clusters/*/; do [ -f \"$D/skyletd.pid\" ] || continue; "
        "p=$(cat \"$D/skyletd.pid\"); if [ -n \"$p\" ] && grep -qa skyletd /proc/$p/cmdline "
        "2>/dev/null; then kill -TERM $p; for i in $(seq 150); do kill -0 $p 2>/dev/null || "
        "break; sleep 0.1; done; kill -KILL $p 2>/dev/null || true; fi; done; "
        "for p in /proc/[0-9]*; do case \"$(readlink $p/cwd 2>/dev/null)\" in "
        "\"$R\"/clusters/*) kill -KILL ${p#/proc/} 2>/dev/null || true;; esac; done; "
        "rm -rf \"$R/bin\" \"$R/run\" \"$R/clusters\"; rmdir \"$R\" 2>/dev/null || true; "
        "echo \"$R\"",
        kCommandDeadlineS);
    const std::string root = std::string(strings::Trim(output));
    return root == "absent" ? std::string("nothing of skycore's there") : "removed " + root;
  });
}

std::unique_ptr<ClusterBackend> MakeSshBackend(const BackendContext& context) {
  return std::make_unique<SshBackend>(context);
}

}  // namespace skycore::backend
