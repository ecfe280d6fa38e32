// ClusterBackend of Slurm clusters: a cluster is one Slurm allocation.
//
// `sbatch` submits the cluster's batch script holding `num_nodes` nodes of
// the chosen partition; on the allocation's first node the script writes the
// node spec and becomes the agent, which starts every rank (setup and jobs)
// as an `srun --jobid=<allocation> --overlap -w <node>` step (the node spec's
// "srun" runner). So the agent lives and dies with the allocation, runs on
// compute resources rather than the login node, and Slurm sees every rank.
// This machine reaches the agent through a step too: each connection to a
// local socket becomes `ssh <login> srun --jobid ... skyletd --connect
// <agent socket>` (common/socket_bridge.h). The login node holds the cluster's
// directory (remote_host.h); the compute nodes see it through the shared
// filesystem every Slurm cluster has for home directories.
//
// An allocation Slurm ends (time limit, node failure, `scancel`) takes the
// agent with it; its running jobs become FAILED_DRIVER, `sky status -r` shows
// the cluster INIT, and `sky launch` on it again submits a new allocation,
// whose agent takes over the job table.
#include "infra/slurm/cluster.h"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <sstream>
#include <thread>

#include "backend/remote_host.h"
#include "common/socket_bridge.h"
#include "common/strings.h"
#include "infra/slurm/config.h"
#include "infra/slurm/inventory.h"
#include "infra/virtual_instance_type.h"
#include "skycore/agent.h"
#include "skycore/error.h"

namespace skycore::backend {
namespace fs = std::filesystem;
using nlohmann::json;
using strings::ShellQuote;

namespace {

constexpr double kCommandDeadlineS = 60;
constexpr int kDefaultProvisionTimeoutS = 600;

ssh::SshHost LoginFromJson(const json& value) {
  ssh::SshHost host;
  host.name = value.value("name", "");
  host.address = value.value("address", "");
  host.port = value.value("port", 22);
  host.user = value.value("user", "");
  host.identity_file = value.value("identity_file", "");
  return host;
}

json LoginToJson(const ssh::SshHost& host) {
  return json{{"name", host.name},
              {"address", host.address},
              {"port", host.port},
              {"user", host.user},
              {"identity_file", host.identity_file}};
}

// squeue's view of a job: its state ("RUNNING", "PENDING", ...), the reason it
// waits, its nodes. State empty when Slurm no longer lists the job.
struct JobState {
  std::string state;
  std::string reason;
  std::string nodelist;
};

bool Waiting(const std::string& state) {
  return state == "PENDING" || state == "CONFIGURING" || state == "REQUEUED" || state == "RESIZING";
}

class SlurmBackend : public ClusterBackend {
 public:
  explicit SlurmBackend(BackendContext context)
      : context_(std::move(context)), options_(remote::RunnerOptionsFor(context_)) {}

  json Plan(const ClusterRequest& request) override {
    const std::string& cluster = request.chosen->region;
    const auto clusters =
        slurm::LoadClusters(context_.options.slurm_config, ssh::CurrentPoolsEnvironment());
    const slurm::ClusterConfig* config = nullptr;
    for (const auto& each : clusters) {
      if (each.name == cluster) config = &each;
    }
    if (!config) {
      throw ResourcesUnavailableError(
          fmt::format("Slurm cluster '{}' is not in {}; `sky check slurm` lists the clusters",
                      cluster, context_.options.slurm_config.string()));
    }
    auto inventory = slurm::LoadInventory(slurm::InventoryPath(context_.options.state_dir));
    const slurm::ClusterInventory* found = nullptr;
    if (inventory) {
      for (const auto& each : inventory->clusters) {
        if (each.cluster == cluster) found = &each;
      }
    }
    if (!found || !found->ready()) {
      throw ResourcesUnavailableError(fmt::format(
          "Slurm cluster '{}' has not been checked successfully; run `sky check slurm`", cluster));
    }
    const std::string partition =
        request.chosen->zone.empty() ? found->default_partition : request.chosen->zone;
    // What a node reserves: the chosen virtual type (the ask sized with
    // SkyPilot's defaults, or the task's `instance_type`).
    const Candidate& chosen = *request.chosen;
    const double cpus = chosen.vcpus;
    double memory_gib = chosen.memory_gib;
    std::string instance_type = chosen.instance_type;
    // A cluster that does not count memory may refuse any --mem (RealMemory
    // unset): memory no one asked for is not asked of it, as SkyPilot does.
    const bool memory_asked =
        request.resources != nullptr &&
        (request.resources->memory() || !request.resources->instance_type().empty());
    if (!found->tracks_memory && !memory_asked) {
      memory_gib = 0;
      if (auto type = infra::ParseVirtualType(instance_type)) {
        type->memory_gib = 0;
        instance_type = infra::VirtualTypeName(*type);
      }
    }
    const int gpus = static_cast<int>(std::ceil(chosen.accelerator_count - 1e-9));
    int usable = 0;
    std::string gres_type, gpu_name;
    for (const auto& node : found->nodes) {
      if (node.partition != partition || !node.schedulable()) continue;
      if (gpus > 0) {
        bool has = false;
        for (const auto& held : node.gpus) {
          if (strings::EqualsIgnoreCase(held.AcceleratorName(), chosen.accelerator_name) &&
              held.total >= gpus) {
            has = true;
            gres_type = held.type;
            gpu_name = held.AcceleratorName();
          }
        }
        if (!has) continue;
      }
      if (node.cpus_total + 1e-9 < cpus || node.memory_mb / 1024.0 + 1e-9 < memory_gib) continue;
      ++usable;
    }
    if (usable < request.num_nodes) {
      throw ResourcesUnavailableError(fmt::format(
          "partition '{}' of Slurm cluster '{}' has {} node{} that can hold a node of this task, "
          "{} needed",
          partition, cluster, usable, usable == 1 ? "" : "s", request.num_nodes));
    }
    return json{
        {"infra", "slurm"},
        {"cluster_name", request.name},
        {"slurm_cluster", cluster},
        {"partition", partition},
        {"login", LoginToJson(config->login)},
        {"socket", remote::LocalSocketPath(options_, context_.options.state_dir, request.name)},
        {"num_nodes", request.num_nodes},
        // The allocation asks for the chosen virtual type (--cpus-per-task
        // reserves whole CPUs); the shape shown is what was reserved.
        {"instance_type", instance_type},
        {"cpus_per_node", std::ceil(cpus - 1e-9)},
        {"memory_gib_per_node", memory_gib},
        {"accelerator", gpu_name},
        {"gpus_per_node", gpus},
        {"gres_type", gres_type},
        {"reserve", {{"cpus", cpus}, {"memory_gib", memory_gib}}},
        {"root", ""},
        {"job_id", ""},
        {"nodes", json::array()},
        {"head_ip", ""}};
  }

  void Up(json& handle, const std::string&, OutputSink& out, const RecordHandle& record) override {
    const std::string name = handle.value("cluster_name", "");
    const int num_nodes = handle.value("num_nodes", 1);
    const auto runner = Runner(handle);
    out.Step(fmt::format("Preparing the login node {} of Slurm cluster '{}'",
                         runner.host().Display(), handle.value("slurm_cluster", "")));
    std::vector<size_t> indices;
    for (int i = 0; i < num_nodes; ++i) indices.push_back(static_cast<size_t>(i));
    const std::string agent_name = remote::AgentBinaryName(context_.skyletd);
    auto prepared = remote::ParsePrepared(
        runner.RunOrThrow(remote::PrepareCommand(name, indices, agent_name), kCommandDeadlineS));
    if (prepared.root.empty()) {
      throw CommandError(fmt::format("preparing {} printed no directory", runner.host().Display()));
    }
    handle["root"] = prepared.root;
    handle["agent"] = agent_name;
    record(handle);
    if (!prepared.has_agent) {
      out.Step(fmt::format("Installing the agent (skyletd) on {}", runner.host().Display()));
      remote::InstallAgent(runner, context_.skyletd, prepared.root);
    }

    // The batch script is written each time: a new build of the agent gets
    // into the next allocation.
    runner.RunOrThrow(
        remote::WriteFileCommand(ScriptPath(handle), AllocationScript(handle, agent_name), "700"),
        kCommandDeadlineS);

    // The allocation: kept while Slurm runs it, else a new one.
    std::string job_id = handle.value("job_id", "");
    const auto settings = slurm::ReadSlurmSettings(context_.options.state_dir / "config.yaml")
                              .For(handle.value("slurm_cluster", ""));
    JobState state = job_id.empty() ? JobState{} : Query(runner, job_id);
    if (state.state != "RUNNING" && !Waiting(state.state)) {
      if (!job_id.empty()) Cancel(runner, job_id);  // ended, or a state we cannot use
      out.Step(fmt::format("Requesting {} node{} in partition '{}' (sbatch)", num_nodes,
                           num_nodes == 1 ? "" : "s", handle.value("partition", "")));
      job_id = Submit(runner, handle, settings);
      handle["job_id"] = job_id;
      handle["nodes"] = json::array();
      record(handle);  // `sky down` cancels it from now on
    }
    state = WaitRunning(runner, handle, job_id, settings, out);
    const auto nodes = ResolveNodes(runner, state.nodelist);
    if (static_cast<int>(nodes.size()) != num_nodes) {
      throw CommandError(fmt::format("allocation {} holds {} nodes ({}), {} expected", job_id,
                                     nodes.size(), state.nodelist, num_nodes));
    }
    json node_list = json::array();
    for (const auto& [node, address] : nodes)
      node_list.push_back({{"name", node}, {"ip", address}});
    handle["nodes"] = node_list;
    handle["head_ip"] = nodes.front().second;
    record(handle);

    out.Step(fmt::format("Waiting for the agent (skyletd) on {}", nodes.front().first));
    WaitForAgent(runner, handle, job_id);
    out.StepDone();
  }

  bool AgentAlive(const json& handle) override {
    try {
      const std::string job_id = handle.value("job_id", "");
      if (job_id.empty() || Query(Runner(handle), job_id).state != "RUNNING") return false;
      AgentClient(AgentSocket(handle), 5).ping();
      return true;
    } catch (const Error&) {
      return false;
    }
  }

  std::string AgentSocket(const json& handle) override {
    const std::string name = handle.value("cluster_name", "");
    const std::string job_id = handle.value("job_id", "");
    const json nodes = handle.value("nodes", json::array());
    if (job_id.empty() || nodes.empty()) {
      throw ClusterNotUpError(
          fmt::format("cluster '{}' was never brought up; `sky launch -c {}` does it", name, name));
    }
    // One socket per process: another `sky` serving the same path would
    // take it over when it starts and remove it when it ends.
    const fs::path local =
        (options_.control_dir.empty() ? ssh::DefaultControlDir() : options_.control_dir) /
        fmt::format(
            "s-{}-{}.sock",
            remote::HashText(context_.options.state_dir.string() + "\n" + name).substr(0, 12),
            ::getpid());
    std::error_code ec;
    fs::create_directories(local.parent_path(), ec);
    const std::string step =
        fmt::format("srun --jobid={} --overlap -N1 -n1 -w {} --quiet {} --connect {}",
                    ShellQuote(job_id), ShellQuote(nodes[0].value("name", "")),
                    ShellQuote(handle.value("root", "") + "/bin/" + handle.value("agent", "")),
                    ShellQuote(AgentSocketPath(handle)));
    bridge::ServeUnixSocket(local, bridge::SpawnPerConnection(Runner(handle).CommandLine(step)));
    try {
      AgentClient(local.string(), 10).ping();
    } catch (const Error& error) {
      throw ClusterNotUpError(fmt::format(
          "the agent of cluster '{}' (Slurm allocation {}) does not answer ({}); `sky status -r "
          "{}` refreshes the cluster's state and `sky launch -c {}` gets a new allocation",
          name, job_id, error.message(), name, name));
    }
    return local.string();
  }

  NodeShape Shape(const json& handle) const override { return ShapeFromHandle(handle); }

  void SyncWorkdir(const json& handle, const Workdir& workdir) override {
    backend::SyncWorkdir(workdir, Targets(handle));
  }

  void SyncFileMounts(const json& handle, const std::vector<FileMount>& mounts) override {
    // One copy: every node sees the login node's filesystem.
    auto targets = Targets(handle);
    targets.resize(std::min<size_t>(targets.size(), 1));
    backend::SyncFileMounts(mounts, targets);
  }

  void FetchDirectory(const json& handle, const std::string& remote_dir,
                      const fs::path& local_dir) override {
    backend::FetchDirectory(Targets(handle).front(), remote_dir, local_dir);
  }

  void Stop(const json& handle) override {
    throw NotSupportedError(fmt::format(
        "cluster '{}' is a Slurm allocation, which cannot be stopped and resumed; `sky down {}` "
        "releases it",
        handle.value("cluster_name", ""), handle.value("cluster_name", "")));
  }

  void Teardown(const json& handle, OutputSink& out) override {
    const std::string name = handle.value("cluster_name", "");
    const auto runner = Runner(handle);
    const std::string job_id = handle.value("job_id", "");
    // The allocation first: its agent stops its ranks as Slurm ends it.
    if (!job_id.empty()) Cancel(runner, job_id);
    auto result = runner.Run(remote::TeardownCommand(name), kCommandDeadlineS);
    if (result.outcome != ssh::SshOutcome::kOk || result.exit_code != 0) {
      out.Write(fmt::format(
          "Warning: could not clean up cluster '{}' on the login node {} ({}){}\n", name,
          runner.host().Display(), result.error.empty() ? result.output : result.error,
          job_id.empty() ? ""
                         : fmt::format("; check that Slurm job {} is gone (`squeue`)", job_id)));
    }
  }

  bool Exists(const json&) override { return true; }

  json LaunchedResources(const json& handle, const Candidate& chosen,
                         const Task& task) const override {
    json resources =
        LaunchedResourcesOf(fmt::format("slurm/{}/{}", handle.value("slurm_cluster", ""),
                                        handle.value("partition", "")),
                            Shape(handle), chosen, task);
    // What each node's allocation asked for, in SkyPilot's words (older
    // handles lack it).
    if (const std::string type = handle.value("instance_type", ""); !type.empty()) {
      resources["instance_type"] = type;
    }
    return resources;
  }

  std::string Where(const json& handle) const override {
    return fmt::format("on Slurm cluster '{}' (partition '{}')", handle.value("slurm_cluster", ""),
                       handle.value("partition", ""));
  }

  // The head node's address as Slurm reports it (its name when it has none).
  std::map<int, PortEndpoint> Endpoints(const json& handle,
                                        const std::vector<int>& ports) override {
    return HostEndpoints(handle.value("head_ip", ""), ports,
                         "the allocation's head node is not known yet");
  }

 private:
  ssh::SshRunner Runner(const json& handle) const {
    return ssh::SshRunner(LoginFromJson(handle.value("login", json::object())), options_);
  }

  std::string Submit(const ssh::SshRunner& runner, const json& handle,
                     const slurm::SubmitSettings& settings) const {
    const std::string name = handle.value("cluster_name", "");
    std::vector<std::string> args = {
        "sbatch",
        "--parsable",
        "--job-name=sky-" + name,
        fmt::format("--nodes={}", handle.value("num_nodes", 1)),
        "--ntasks-per-node=1",
        "--partition=" + handle.value("partition", ""),
        fmt::format("--output={}/allocation.log",
                    remote::ClusterDir(handle.value("root", ""), name))};
    const json reserve = handle.value("reserve", json::object());
    if (reserve.value("cpus", 0.0) > 0) {
      args.push_back(fmt::format("--cpus-per-task={}",
                                 static_cast<int>(std::ceil(reserve.value("cpus", 0.0) - 1e-9))));
    }
    if (reserve.value("memory_gib", 0.0) > 0) {
      args.push_back(fmt::format(
          "--mem={}M", static_cast<long long>(std::ceil(reserve.value("memory_gib", 0.0) * 1024))));
    }
    if (handle.value("gpus_per_node", 0) > 0) {
      const std::string type = handle.value("gres_type", "");
      args.push_back(fmt::format("--gpus-per-node={}{}", type.empty() ? "" : type + ":",
                                 handle.value("gpus_per_node", 0)));
    }
    for (const auto& flag : slurm::SbatchFlags(settings)) args.push_back(flag);
    args.push_back(ScriptPath(handle));
    std::string command;
    for (const auto& arg : args) {
      if (!command.empty()) command += ' ';
      command += ShellQuote(arg);
    }
    auto result = runner.Run(command, kCommandDeadlineS);
    if (result.outcome != ssh::SshOutcome::kOk) {
      throw NetworkError(result.error);
    }
    const std::string output(strings::Trim(result.output));
    if (result.exit_code != 0) {
      // "Requested node configuration is not available" and the like: this
      // partition cannot hold the task.
      throw ResourcesUnavailableError(
          fmt::format("Slurm cluster '{}' refused the allocation (partition '{}'): {}",
                      handle.value("slurm_cluster", ""), handle.value("partition", ""), output));
    }
    // --parsable prints "<id>" or "<id>;<cluster>".
    std::string id =
        output.substr(output.rfind('\n') == std::string::npos ? 0 : output.rfind('\n') + 1);
    id = id.substr(0, id.find(';'));
    long long parsed = 0;
    if (!strings::ParseInt(id, parsed)) {
      throw CommandError(fmt::format("sbatch printed no job id: {}", output));
    }
    return id;
  }

  JobState Query(const ssh::SshRunner& runner, const std::string& job_id) const {
    auto output = runner.RunOrThrow(
        fmt::format("squeue -h -j {} -o '%T|%r|%N' 2>/dev/null || true", ShellQuote(job_id)),
        kCommandDeadlineS);
    JobState state;
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
      auto first = line.find('|');
      auto second = line.find('|', first == std::string::npos ? first : first + 1);
      if (first == std::string::npos || second == std::string::npos) continue;
      state.state = line.substr(0, first);
      state.reason = line.substr(first + 1, second - first - 1);
      state.nodelist = std::string(strings::Trim(line.substr(second + 1)));
    }
    return state;
  }

  JobState WaitRunning(const ssh::SshRunner& runner, const json& handle, const std::string& job_id,
                       const slurm::SubmitSettings& settings, OutputSink& out) const {
    const int timeout_s = settings.provision_timeout_s.value_or(kDefaultProvisionTimeoutS);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    std::string last_reason;
    for (int poll = 0;; ++poll) {
      JobState state = Query(runner, job_id);
      if (state.state == "RUNNING") return state;
      if (!Waiting(state.state)) {
        throw ResourcesUnavailableError(fmt::format(
            "Slurm ended allocation {} before it ran ({}); its log is {}/allocation.log on {}",
            job_id, state.state.empty() ? "no longer listed" : state.state,
            remote::ClusterDir(handle.value("root", ""), handle.value("cluster_name", "")),
            runner.host().Display()));
      }
      if (state.reason != last_reason) {
        last_reason = state.reason;
        out.Step(
            fmt::format("Waiting for Slurm to grant allocation {} ({})", job_id, state.reason));
      }
      if (std::chrono::steady_clock::now() > deadline) {
        Cancel(runner, job_id);
        throw ResourcesUnavailableError(fmt::format(
            "Slurm did not grant allocation {} within {} s (slurm.provision_timeout); it waited "
            "for: {}",
            job_id, timeout_s, state.reason));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(poll < 20 ? 50 : 500));
    }
  }

  // Node names of `nodelist` ("n[1-2]") with their addresses.
  std::vector<std::pair<std::string, std::string>> ResolveNodes(const ssh::SshRunner& runner,
                                                                const std::string& nodelist) const {
    auto output = runner.RunOrThrow(
        fmt::format("for n in $(scontrol show hostnames {}); do printf '%s %s\\n' \"$n\" "
                    "\"$(scontrol show node \"$n\" | tr ' ' '\\n' | sed -n 's/^NodeAddr=//p')\"; "
                    "done",
                    ShellQuote(nodelist)),
        kCommandDeadlineS);
    std::vector<std::pair<std::string, std::string>> nodes;
    std::istringstream lines(output);
    std::string node, address;
    while (lines >> node) {
      std::getline(lines, address);
      address = std::string(strings::Trim(address));
      nodes.emplace_back(node, address.empty() ? node : address);
    }
    return nodes;
  }

  static void Cancel(const ssh::SshRunner& runner, const std::string& job_id) {
    runner.Run(fmt::format("scancel {}", ShellQuote(job_id)), kCommandDeadlineS);
  }

  static std::string ScriptPath(const json& handle) {
    return remote::ClusterDir(handle.value("root", ""), handle.value("cluster_name", "")) +
           "/allocation.sh";
  }

  // The agent's socket on the allocation's first node: node-local (a Unix
  // socket on a shared filesystem cannot be reached from another host).
  static std::string AgentSocketPath(const json& handle) {
    return fmt::format(
        "/tmp/skycore-slurm-{}.sock",
        remote::HashText(handle.value("root", "") + "\n" + handle.value("cluster_name", ""))
            .substr(0, 12));
  }

  // The batch script: on the first node, the node spec from the allocation's
  // nodes, then the agent in its place (it ends with the allocation).
  std::string AllocationScript(const json& handle, const std::string& agent_name) const {
    const std::string name = handle.value("cluster_name", "");
    const std::string dir = remote::ClusterDir(handle.value("root", ""), name);
    const int gpus = handle.value("gpus_per_node", 0);
    std::string gpu_ids;
    for (int g = 0; g < gpus; ++g) {
      if (g > 0) gpu_ids += ',';
      gpu_ids += std::to_string(g);
    }
    std::string extra;
    // Tests of autostop cannot wait real minutes.
    if (const char* minute = std::getenv("SKYCORE_AUTOSTOP_MINUTE_S"); minute && *minute) {
      extra = " --autostop-minute-s " + ShellQuote(minute);
    }
    // Values spliced into the JSON are names and paths skycore chose
    // (cluster names are [-_.a-zA-Z0-9]; node names and addresses Slurm's).
    return fmt::format(
        "#!/bin/sh\n"
        "# The allocation of skycore cluster '{name}': this first node runs the agent, and\n"
        "# every rank is an srun step of this job.\n"
        "umask 077\nD={dir}\nS={socket}\n"
        "nodes=; ips=; i=0\n"
        "for n in $(scontrol show hostnames \"$SLURM_JOB_NODELIST\"); do\n"
        "  a=$(scontrol show node \"$n\" | tr ' ' '\\n' | sed -n 's/^NodeAddr=//p')\n"
        "  [ -n \"$a\" ] || a=$n\n"
        "  "
        "nodes=\"$nodes${{nodes:+,}}{{\\\"ip\\\":\\\"$a\\\",\\\"workdir\\\":\\\"$D/node$i/"
        "sky_workdir\\\","
        "\\\"cpus\\\":{cpus},\\\"memory_gib\\\":{memory},\\\"gpus\\\":{gpus},\\\"gpu_ids\\\":[{gpu_"
        "ids}],"
        "\\\"runner\\\":{{\\\"kind\\\":\\\"srun\\\",\\\"job_id\\\":\\\"$SLURM_JOB_ID\\\","
        "\\\"node_name\\\":\\\"$n\\\"}}}}\"\n"
        "  ips=\"$ips${{ips:+,}}\\\"$a\\\"\"\n"
        "  i=$((i+1))\n"
        "done\n"
        "printf '{{\"cluster_name\":\"%s\",\"cluster_info\":{{\"cluster_name\":\"%s\","
        "\"cloud\":\"slurm\",\"region\":\"%s\",\"zone\":\"%s\",\"num_nodes\":%s,"
        "\"ips\":[%s]}},\"nodes\":[%s]}}\\n' {name_q} {name_q} {cluster} {partition} \"$i\" "
        "\"$ips\" \"$nodes\" >\"$D/nodes.json\"\n"
        "mkdir -p \"$D/agent\"\n"
        "rm -f \"$S\"\n"
        "exec {bin} --socket \"$S\" --state-dir \"$D/agent\" --node-spec \"$D/nodes.json\" "
        "--log-root \"$D\"{extra}\n",
        fmt::arg("name", name), fmt::arg("name_q", ShellQuote(name)),
        fmt::arg("dir", ShellQuote(dir)), fmt::arg("socket", ShellQuote(AgentSocketPath(handle))),
        fmt::arg("cpus", strings::FormatNumber(handle.value("cpus_per_node", 0.0))),
        fmt::arg("memory", strings::FormatNumber(handle.value("memory_gib_per_node", 0.0))),
        fmt::arg("gpus", gpus), fmt::arg("gpu_ids", gpu_ids),
        fmt::arg("cluster", ShellQuote(handle.value("slurm_cluster", ""))),
        fmt::arg("partition", ShellQuote(handle.value("partition", ""))),
        fmt::arg("bin", ShellQuote(handle.value("root", "") + "/bin/" + agent_name)),
        fmt::arg("extra", extra));
  }

  // Pings the agent until it answers: the allocation runs, so it is starting.
  void WaitForAgent(const ssh::SshRunner& runner, const json& handle, const std::string& job_id) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (int attempt = 0;; ++attempt) {
      try {
        AgentSocket(handle);
        return;
      } catch (const ClusterNotUpError&) {
        const JobState state = Query(runner, job_id);
        if (state.state != "RUNNING" || std::chrono::steady_clock::now() > deadline) {
          throw CommandError(fmt::format(
              "the agent (skyletd) did not start in Slurm allocation {} ({}); its output is in "
              "{}/allocation.log on {}",
              job_id, state.state.empty() ? "the allocation has ended" : state.state,
              remote::ClusterDir(handle.value("root", ""), handle.value("cluster_name", "")),
              runner.host().Display()));
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(attempt < 10 ? 50 : 250));
    }
  }

  std::vector<SyncTarget> Targets(const json& handle) const {
    const auto runner = Runner(handle);
    std::vector<SyncTarget> targets;
    const int num_nodes = handle.value("num_nodes", 1);
    for (int i = 0; i < num_nodes; ++i) {
      targets.push_back(remote::TargetFor(runner, handle.value("root", ""),
                                          handle.value("cluster_name", ""),
                                          static_cast<size_t>(i)));
    }
    return targets;
  }

  BackendContext context_;
  ssh::RunnerOptions options_;
};

}  // namespace

std::unique_ptr<ClusterBackend> MakeSlurmBackend(const BackendContext& context) {
  return std::make_unique<SlurmBackend>(context);
}

}  // namespace skycore::backend
