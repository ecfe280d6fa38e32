// skycore::Sky's launch and exec: a task onto a new cluster (the optimizer's
// choice, then failover while places have no room) or an existing one, its
// workdir and file mounts synced, its job submitted to the cluster's agent.
// What differs between infras is behind backend::ClusterBackend.
#include <fmt/format.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <random>
#include <regex>

#include "backend/cluster_backend.h"
#include "backend/sync.h"
#include "common/strings.h"
#include "sdk/cluster_ops.h"
#include "sdk/sky_impl.h"
#include "storage/file_mounts.h"

namespace skycore {
using backend::ClusterBackend;
using backend::NodeShape;
using nlohmann::json;
using sdk_internal::CurrentUser;
using sdk_internal::kAgentTimeoutS;
using sdk_internal::LockCluster;
using sdk_internal::RequireCluster;
using sdk_internal::RequireUp;

namespace {

// SkyPilot's rule for cluster names.
void ValidateClusterName(const std::string& name) {
  static const std::regex kValid("[a-zA-Z]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?");
  if (name.size() > 63 || !std::regex_match(name, kValid)) {
    throw InvalidTaskError(fmt::format(
        "invalid cluster name '{}': it must start with a letter, end with a letter or digit, "
        "use only letters, digits, '-', '_' and '.', and be at most 63 characters",
        name));
  }
}

std::string GenerateClusterName() {
  std::mt19937 random(std::random_device{}());
  std::string user = strings::Lower(CurrentUser());
  std::string clean;
  for (char c : user) {
    if (std::isalnum(static_cast<unsigned char>(c))) clean.push_back(c);
  }
  return fmt::format("sky-{:04x}-{}", random() & 0xffff,
                     clean.empty() ? "user" : clean.substr(0, 8));
}

// What one node of the job reserves, from the task's first alternative.
struct Demand {
  double cpus = 0.5;
  double memory_gib = 0;
  std::string accelerator;
  double gpus = 0;
  std::string display;
};

Demand DemandOf(const Task& task) {
  Demand demand;
  const auto& alternatives = task.resources().alternatives();
  const Resources& r = alternatives.empty() ? Resources() : alternatives.front();
  if (r.cpus()) demand.cpus = r.cpus()->value;
  if (r.memory()) {
    demand.memory_gib = r.memory()->per_cpu ? r.memory()->value * demand.cpus : r.memory()->value;
  }
  if (r.accelerators()) {
    demand.accelerator = r.accelerators()->name;
    demand.gpus = r.accelerators()->count;
  }
  demand.display = demand.gpus > 0 ? fmt::format("{}x[{}:{}]", task.num_nodes(), demand.accelerator,
                                                 strings::FormatNumber(demand.gpus))
                                   : fmt::format("{}x[CPU:{}]", task.num_nodes(),
                                                 strings::FormatNumber(demand.cpus));
  return demand;
}

backend::NodeDemand NodeDemandOf(const Task& task) {
  const auto& alternatives = task.resources().alternatives();
  const Resources& r = alternatives.empty() ? Resources() : alternatives.front();
  backend::NodeDemand demand;
  if (r.cpus()) demand.cpus = r.cpus()->value;
  if (r.memory()) {
    demand.memory_gib = r.memory()->per_cpu ? r.memory()->value * demand.cpus : r.memory()->value;
  }
  if (r.accelerators()) {
    demand.gpu_name = r.accelerators()->name;
    demand.gpus = static_cast<int>(std::ceil(r.accelerators()->count - 1e-9));
  }
  return demand;
}

// The image the task's resources name for `chosen`'s region (or for every
// region), without SkyPilot's "docker:" prefix; empty: the infra's default.
std::string ImageFor(const Task& task, const Candidate& chosen) {
  const auto& alternatives = task.resources().alternatives();
  if (alternatives.empty()) return "";
  const size_t index = chosen.alternative < alternatives.size() ? chosen.alternative : 0;
  const auto& images = alternatives[index].spec().image_id;
  auto found = images.find(chosen.region);
  if (found == images.end()) found = images.find("");
  if (found == images.end()) return "";
  std::string image = found->second;
  if (image.rfind("docker:", 0) == 0) image.erase(0, 7);
  return image;
}

// SkyPilot's check that a task fits an existing cluster.
void CheckFits(const Task& task, const std::string& name, const NodeShape& cluster) {
  const Demand demand = DemandOf(task);
  std::vector<std::string> problems;
  if (task.num_nodes() > cluster.num_nodes) {
    problems.push_back(fmt::format("the task needs {} nodes, the cluster has {}", task.num_nodes(),
                                   cluster.num_nodes));
  }
  if (demand.gpus > 0) {
    if (cluster.gpus == 0) {
      problems.push_back(fmt::format("the task needs {}:{}, the cluster has no GPUs",
                                     demand.accelerator, strings::FormatNumber(demand.gpus)));
    } else if (!strings::EqualsIgnoreCase(demand.accelerator, cluster.gpu_name) ||
               demand.gpus > cluster.gpus) {
      problems.push_back(fmt::format("the task needs {}:{} per node, the cluster has {}:{}",
                                     demand.accelerator, strings::FormatNumber(demand.gpus),
                                     cluster.gpu_name, cluster.gpus));
    }
  }
  if (demand.cpus > cluster.cpus) {
    problems.push_back(fmt::format("the task needs {} CPUs per node, the cluster has {}",
                                   strings::FormatNumber(demand.cpus),
                                   strings::FormatNumber(cluster.cpus)));
  }
  if (demand.memory_gib > cluster.memory_gib) {
    problems.push_back(fmt::format("the task needs {} GiB of memory per node, the cluster has {}",
                                   strings::FormatNumber(demand.memory_gib),
                                   strings::FormatNumber(cluster.memory_gib)));
  }
  if (!problems.empty()) {
    std::string text;
    for (const auto& problem : problems) text += (text.empty() ? "" : "; ") + problem;
    throw ResourcesMismatchError(fmt::format(
        "the task does not fit cluster '{}': {}. Launch it on a new cluster (`sky launch -c "
        "NEW_NAME ...`) or change its resources",
        name, text));
  }
}

JobSpec MakeJobSpec(const Task& task, bool with_setup) {
  const Demand demand = DemandOf(task);
  JobSpec spec;
  spec.name = task.name().value_or("");
  spec.username = CurrentUser();
  spec.num_nodes = task.num_nodes();
  spec.cpus_per_node = demand.cpus;
  spec.memory_gib_per_node = demand.memory_gib;
  spec.gpus_per_node = demand.gpus;
  if (with_setup) spec.setup = task.setup().value_or("");
  spec.run = task.run().value_or("");
  for (const auto& [key, value] : task.envs()) spec.envs[key] = value;
  for (const auto& [key, value] : task.secrets()) spec.secrets[key] = value;
  spec.resources = demand.display;
  return spec;
}

const Task& SingleTask(const Dag& dag, const char* command) {
  if (dag.size() == 0) {
    // A pipeline header followed only by empty documents loads so, as in SkyPilot.
    throw InvalidTaskError(fmt::format(
        "`sky {}` has no task to run: every task document of the YAML is empty; give one at "
        "least `run:` (or `setup:`)",
        command));
  }
  if (dag.size() != 1) {
    throw NotSupportedError(fmt::format(
        "`sky {}` runs one task, and this DAG has {}; a pipeline of tasks runs as a managed job "
        "(`sky jobs launch`), which skycore does not support yet",
        command, dag.size()));
  }
  return *dag.tasks()[0];
}

// Follows the job's output to `out`; returns its final record.
JobRecord FollowJob(AgentClient& client, int64_t job_id, OutputSink& out,
                    const CancelToken& cancel) {
  client.tail_logs(job_id, true, [&](const std::string& chunk) {
    if (!chunk.empty()) out.Write(chunk);
    return !cancel.cancelled();
  });
  cancel.ThrowIfCancelled(fmt::format(
      "following job {} (the job keeps running; `sky logs` shows it, `sky cancel` stops it)",
      job_id));
  return client.job_status({job_id}).at(0);
}

int ExitCodeOf(const JobRecord& record) {
  if (record.status == JobStatus::kSucceeded) return 0;
  if (record.exit_code > 0) return record.exit_code;
  return 1;
}

}  // namespace

JobResult Sky::Launch(const Dag& dag, const LaunchOptions& options, OutputSink& out,
                      const CancelToken& cancel) {
  const Task& task = SingleTask(dag, "launch");
  task.RequireSecretValues();
  const std::string name =
      options.cluster_name.empty() ? GenerateClusterName() : options.cluster_name;
  ValidateClusterName(name);
  // Before anything is provisioned: modes, stores, and the buckets named by
  // URI (a dry run only plans, as SkyPilot's).
  if (!options.dryrun) {
    storage::CheckFileMounts(task.file_mounts());
    storage::CheckSourceBuckets(task.file_mounts(), env::Process);
  }
  ClusterOps ops(*this, *impl_);
  JobResult result;
  StateStore& store = state();

  CheckInfrasOnDemand(*this, dag, out);
  auto optimize = [&] {
    OptimizeOptions optimize_options;
    optimize_options.target = options.target;
    optimize_options.enabled_infras = enabled_infras();
    // Long enough to leave a region: every zone and instance type of the
    // cheapest region can come first, and a quota refusal there skips the
    // rest of it (cheaply) on the way to the next region.
    optimize_options.max_failover = 256;
    try {
      return Optimize(dag, *catalog(), optimize_options);
    } catch (const ResourcesUnavailableError& e) {
      throw ResourcesUnavailableError(
          fmt::format("{} (enabled infras: {}; `sky check` shows why others are not)", e.message(),
                      strings::JoinQuoted(optimize_options.enabled_infras, " and ")),
          e.location(), e.suggestions());
    }
  };

  if (options.dryrun) {
    auto existing = store.GetCluster(name);
    if (existing) {
      CheckFits(task, name, ops.Backend(*existing)->Shape(existing->handle));
      result.cluster = *existing;
    } else {
      result.plan = optimize();
    }
    return result;
  }

  ClusterLock lock = LockCluster(options_.state_dir, name, out);
  cancel.ThrowIfCancelled("launch");
  auto existing = store.GetCluster(name);
  bool fresh = !existing;
  if (existing && existing->status == ClusterStatus::kInit && !existing->ever_up) {
    // A launch that died before the cluster was ever UP: clean up what it
    // left, then provision again (maybe elsewhere).
    if (existing->handle.is_object()) {
      ops.Backend(*existing)->CleanUpInterruptedLaunch(existing->handle, out);
    }
    fresh = true;
  }
  std::unique_ptr<ClusterBackend> backend;
  json handle;
  json launched;
  if (options.idle_minutes_to_autostop && existing) {
    const auto existing_backend = ops.Backend(*existing);
    if (!existing_backend->SupportsAutostop()) {
      throw NotSupportedError(fmt::format(
          "autostop is supported on the local infra and the clouds only; cluster '{}' runs {}",
          name, existing_backend->Where(existing->handle)));
    }
    if (!options.down && !existing_backend->SupportsStop()) {
      throw NotSupportedError(fmt::format(
          "cluster '{}' runs {}, where nodes cannot be stopped: autostop needs --down there (tear "
          "the cluster down when idle)",
          name, existing_backend->Where(existing->handle)));
    }
  }
  int num_nodes = task.num_nodes();
  if (fresh) {
    result.plan = optimize();
    const TaskPlan& task_plan = result.plan->tasks.at(0);
    // The chosen place, then the plan's failover list: a place that turns
    // out to have no room (hosts taken or down, a partition too small, an
    // allocation refused) hands over to the next.
    std::vector<Candidate> candidates = {task_plan.chosen};
    candidates.insert(candidates.end(), task_plan.failover.begin(), task_plan.failover.end());
    std::vector<std::string> failures;
    auto failover = std::make_shared<backend::FailoverState>();
    size_t skipped = 0;  // places in a region a quota refusal blocked
    // The next place after `index` that is not blocked ("" when none is).
    auto next_place = [&](size_t index) -> std::string {
      for (size_t i = index + 1; i < candidates.size(); ++i) {
        if (!failover->Blocks(candidates[i])) return candidates[i].InfraString();
      }
      return "";
    };
    for (size_t index = 0; index < candidates.size() && !backend; ++index) {
      const Candidate& chosen = candidates[index];
      cancel.ThrowIfCancelled("launch");
      if (failover->Blocks(chosen)) {
        ++skipped;
        continue;
      }
      std::unique_ptr<ClusterBackend> candidate;
      try {
        candidate = backend::BackendForInfra(chosen.infra, chosen.region, ops.Context());
        backend::ClusterRequest request;
        request.name = name;
        request.num_nodes = task.num_nodes();
        request.demand = NodeDemandOf(task);
        request.chosen = &chosen;
        request.task_config = task.config();
        request.image = ImageFor(task, chosen);
        request.failover = failover;
        if (const auto& alternatives = task.resources().alternatives(); !alternatives.empty()) {
          request.resources =
              &alternatives[chosen.alternative < alternatives.size() ? chosen.alternative : 0];
        }
        {
          json ports_config = json::object();
          backend::AddPorts(ports_config, chosen, task);
          request.ports = backend::OpenPortsOf(ports_config);
        }
        for (const auto& other : store.ListClusters()) {
          if (other.name != name) request.other_handles.push_back(other.handle);
        }
        handle = candidate->Plan(request);
      } catch (const Error& e) {
        if (e.code() != ErrorCode::kResourcesUnavailable && e.code() != ErrorCode::kNotSupported) {
          throw;
        }
        failures.push_back(fmt::format("{}: {}", chosen.InfraString(), e.message()));
        if (const std::string next = next_place(index); !next.empty()) {
          out.Write(fmt::format("No room on {} ({}); trying {}\n", chosen.InfraString(),
                                e.message(), next));
        }
        continue;
      }
      if (options.idle_minutes_to_autostop && !candidate->SupportsAutostop()) {
        throw NotSupportedError(
            fmt::format("autostop is supported on the local infra and the clouds only; cluster "
                        "'{}' would run {}",
                        name, candidate->Where(handle)));
      }
      if (options.idle_minutes_to_autostop && !options.down && !candidate->SupportsStop()) {
        throw NotSupportedError(fmt::format(
            "cluster '{}' would run {}, where nodes cannot be stopped: autostop needs --down "
            "there (tear the cluster down when idle)",
            name, candidate->Where(handle)));
      }
      // What an interrupted launch left (an agent it started) may be reused.
      if (existing && existing->handle.is_object()) {
        candidate->AdoptInterruptedLaunch(handle, existing->handle);
      }
      launched = candidate->LaunchedResources(handle, chosen, task);
      ClusterUpdate update;
      update.name = name;
      update.ready = false;
      update.handle = handle;
      update.launched_resources = launched;
      update.num_nodes = num_nodes;
      update.last_use = options.command_line;
      update.owner = CurrentUser();
      result.cluster = store.AddOrUpdateCluster(update);  // INIT before anything exists
      out.Step(fmt::format("Provisioning cluster '{}' {} ({} node{})", name,
                           candidate->Where(handle), num_nodes, num_nodes == 1 ? "" : "s"));
      try {
        candidate->Up(handle, ops.Hook(name), out, ops.Recorder(name, launched, num_nodes));
      } catch (const ResourcesUnavailableError& e) {
        failures.push_back(fmt::format("{}: {}", chosen.InfraString(), e.message()));
        const std::string next = next_place(index);
        out.Write(fmt::format("Failed to provision on {}: {}{}\n", chosen.InfraString(),
                              e.message(), next.empty() ? "" : "; trying " + next));
        candidate->Teardown(handle, out);  // what the attempt left
        continue;
      }
      result.plan->tasks.at(0).chosen = chosen;
      backend = std::move(candidate);
    }
    if (!backend) {
      std::string reasons;
      for (const auto& failure : failures) reasons += "\n  " + failure;
      if (skipped > 0) {
        reasons += fmt::format("\n  ({} more place{} skipped in regions a quota refusal blocked)",
                               skipped, skipped == 1 ? "" : "s");
      }
      throw ResourcesUnavailableError(
          fmt::format("cluster '{}' could not be provisioned on any of the {} place{} the "
                      "optimizer offered:{}",
                      name, candidates.size(), candidates.size() == 1 ? "" : "s", reasons));
    }
  } else {
    handle = existing->handle;
    backend = ops.Backend(*existing);
    launched = existing->launched_resources;
    CheckFits(task, name, backend->Shape(handle));
    num_nodes = backend->Shape(handle).num_nodes;
    if (existing->status != ClusterStatus::kUp) {
      out.Step(fmt::format("Starting cluster '{}'", name));
    }
    cancel.ThrowIfCancelled("launch");
    backend->Up(handle, ops.Hook(name), out, ops.Recorder(name, launched, num_nodes));
    backend::MergePorts(launched, task);  // a relaunch may open more ports
  }
  if (const auto ports = backend::OpenPortsOf(launched); !ports.empty()) {
    backend->OpenPorts(handle, ports, out);
  }
  {
    ClusterUpdate update;
    update.name = name;
    update.ready = true;
    update.handle = handle;
    update.launched_resources = launched;
    update.num_nodes = num_nodes;
    update.last_use = options.command_line;
    update.owner = CurrentUser();
    result.cluster = store.AddOrUpdateCluster(update);
  }
  AgentClient client(backend->AgentSocket(handle), kAgentTimeoutS);
  if (options.idle_minutes_to_autostop) {
    client.set_autostop(*options.idle_minutes_to_autostop, options.down);
    store.SetClusterAutostop(name, *options.idle_minutes_to_autostop, options.down);
  } else if (existing && existing->status != ClusterStatus::kUp &&
             existing->autostop_idle_minutes >= 0) {
    client.set_autostop(existing->autostop_idle_minutes, existing->autostop_down);
  }
  const bool skip_sync = options.fast && !fresh && existing->status == ClusterStatus::kUp;
  if (!skip_sync) {
    if (task.workdir()) {
      out.Step(
          fmt::format("Syncing workdir {} to {} node{}",
                      task.workdir()->is_git() ? task.workdir()->git_url : task.workdir()->path,
                      num_nodes, num_nodes == 1 ? "" : "s"));
      backend->SyncWorkdir(handle, *task.workdir());
    }
    if (!task.file_mounts().empty()) {
      out.Step(fmt::format("Syncing {} file mount{}", task.file_mounts().size(),
                           task.file_mounts().size() == 1 ? "" : "s"));
      // Buckets are copied here first, then synced as local directories.
      storage::StageOptions stage_options;
      stage_options.on_storage = [&](const storage::StorageUse& use) {
        StorageRecord record;
        record.name = use.name;
        record.store = use.store;
        record.source = use.source;
        record.persistent = use.persistent;
        record.cluster_name = name;
        record.last_use = options.command_line;
        store.UpsertStorage(record);
      };
      if (::isatty(STDERR_FILENO)) {
        stage_options.on_progress = [](const std::string& line) {
          std::fprintf(stderr, "\r\x1b[K  %s", line.c_str());
        };
      }
      storage::StagedFileMounts staged(task.file_mounts(), stage_options);
      if (stage_options.on_progress) std::fprintf(stderr, "\r\x1b[K");
      backend->SyncFileMounts(handle, staged.mounts());
    }
  }
  result.cluster = *store.GetCluster(name);
  out.StepDone();
  lock.Release();  // jobs queue on the agent; others may exec meanwhile

  const bool with_setup = !options.no_setup && !skip_sync;
  JobSpec spec = MakeJobSpec(task, with_setup);
  if (spec.run.empty() && spec.setup.empty()) return result;
  cancel.ThrowIfCancelled("launch");
  result.job_id = client.submit(spec);
  out.Write(fmt::format("Job submitted, ID: {}\n", *result.job_id));
  if (options.detach_run) return result;
  JobRecord record = FollowJob(client, *result.job_id, out, cancel);
  result.final_status = record.status;
  result.exit_code = ExitCodeOf(record);
  return result;
}

JobResult Sky::Exec(const Dag& dag, const ExecOptions& options, OutputSink& out,
                    const CancelToken& cancel) {
  const Task& task = SingleTask(dag, "exec");
  task.RequireSecretValues();
  ClusterOps ops(*this, *impl_);
  JobResult result;
  ClusterRecord record = RequireCluster(state(), options.cluster_name);
  if (record.status != ClusterStatus::kUp) {
    // A launch or start may be bringing the cluster up right now: the job
    // waits for that operation and goes by the state it leaves.
    LockCluster(options_.state_dir, record.name, out).Release();
    record = RequireCluster(state(), options.cluster_name);
  }
  RequireUp(record, "run a job");
  auto backend = ops.Backend(record);
  CheckFits(task, record.name, backend->Shape(record.handle));
  AgentClient client = ops.Client(record);
  if (task.workdir()) {
    out.Step("Syncing workdir");
    backend->SyncWorkdir(record.handle, *task.workdir());
    out.StepDone();
  }
  if (!options.command_line.empty()) state().SetClusterLastUse(record.name, options.command_line);
  result.cluster = record;
  JobSpec spec = MakeJobSpec(task, false);
  if (spec.run.empty()) return result;
  cancel.ThrowIfCancelled("exec");
  result.job_id = client.submit(spec);
  out.Write(fmt::format("Job submitted, ID: {}\n", *result.job_id));
  if (options.detach_run) return result;
  JobRecord job = FollowJob(client, *result.job_id, out, cancel);
  result.final_status = job.status;
  result.exit_code = ExitCodeOf(job);
  return result;
}

}  // namespace skycore
