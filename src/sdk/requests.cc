// The request form of each Sky operation: its name, its JSON arguments
// (checked when submitted) and its JSON result.
#include <fmt/format.h>

#include <ctime>

#include "common/strings.h"
#include "sdk/cluster_ops.h"
#include "sdk/sky_impl.h"
#include "skycore/jobs.h"
#include "skycore/optimizer.h"
#include "skycore/yaml.h"

namespace skycore {
using nlohmann::json;

namespace {

[[noreturn]] void BadBody(const std::string& name, const std::string& why) {
  throw InvalidTaskError(fmt::format("request '{}': {}", name, why));
}

// Reads one argument with a default, checking its JSON type.
template <typename T>
T Arg(const json& body, const std::string& request, const char* key, T fallback) {
  if (!body.contains(key) || body[key].is_null()) return fallback;
  try {
    return body[key].get<T>();
  } catch (const json::exception&) {
    BadBody(request, fmt::format("argument '{}' has the wrong type ({})", key, body[key].dump()));
  }
}

std::string RequiredString(const json& body, const std::string& request, const char* key) {
  auto value = Arg<std::string>(body, request, key, "");
  if (value.empty()) BadBody(request, fmt::format("argument '{}' is required", key));
  return value;
}

// "task": YAML text (one task or a pipeline) or one task's config object.
Dag TaskArg(const json& body, const std::string& request) {
  if (!body.contains("task")) BadBody(request, "argument 'task' is required");
  const json& task = body["task"];
  if (task.is_string()) return LoadDagYaml(task.get<std::string>());
  if (task.is_object()) {
    Dag dag;
    dag.add(std::make_shared<Task>(LoadTaskConfig(task)));
    return dag;
  }
  BadBody(request, "argument 'task' must be YAML text or a task config object");
}

std::vector<int64_t> JobIds(const json& body, const std::string& request) {
  std::vector<int64_t> ids;
  if (!body.contains("job_ids") || body["job_ids"].is_null()) return ids;
  if (!body["job_ids"].is_array()) BadBody(request, "argument 'job_ids' must be a list");
  for (const auto& id : body["job_ids"]) {
    if (!id.is_number_integer()) BadBody(request, "argument 'job_ids' must hold integers");
    ids.push_back(id.get<int64_t>());
  }
  return ids;
}

std::optional<int> OptionalInt(const json& body, const std::string& request, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::nullopt;
  if (!body[key].is_number_integer()) {
    BadBody(request, fmt::format("argument '{}' must be an integer", key));
  }
  return body[key].get<int>();
}

json Intervals(const ClusterHistoryRecord& history) {
  json out = json::array();
  for (const auto& interval : history.usage_intervals) {
    out.push_back({interval.start_s, interval.end_s ? json(*interval.end_s) : json()});
  }
  return out;
}

json JobResultJson(const JobResult& result) {
  json handle = result.cluster.handle;
  if (handle.is_object()) handle["launched_resources"] = result.cluster.launched_resources;
  json out = {{"job_id", result.job_id ? json(*result.job_id) : json()},
              {"cluster_name", result.cluster.name},
              {"handle", handle},
              {"exit_code", result.exit_code},
              {"status", result.final_status ? json(JobStatusName(*result.final_status)) : json()}};
  if (result.plan) {
    const auto& chosen = result.plan->tasks.at(0).chosen;
    out["plan"] = {{"infra", chosen.InfraString()},
                   {"instance_type", chosen.instance_type},
                   {"cost", chosen.cost}};
  }
  return out;
}

// "minimize"/"optimize_target": "COST" (the default) or "TIME".
OptimizeTarget TargetArg(const json& body, const std::string& request, const char* key) {
  const std::string target = strings::Lower(Arg<std::string>(body, request, key, "cost"));
  if (target == "cost") return OptimizeTarget::kCost;
  if (target == "time") return OptimizeTarget::kTime;
  BadBody(request,
          fmt::format("argument '{}' must be \"COST\" or \"TIME\", not \"{}\"", key, target));
}

json CandidateJson(const Candidate& c) {
  return {{"infra", c.InfraString()},
          {"cloud", c.infra},
          {"region", c.region},
          {"zone", c.zone.empty() ? json() : json(c.zone)},
          {"instance_type", c.instance_type},
          {"accelerators",
           c.accelerator_name.empty() ? json() : json{{c.accelerator_name, c.accelerator_count}}},
          {"vcpus", c.vcpus},
          {"memory_gb", c.memory_gib},
          {"use_spot", c.use_spot},
          {"hourly_price", c.hourly_price},
          {"estimated_hours", c.hours},
          {"cost", c.cost}};
}

// The optimizer's plan for a dag: per task the chosen placement and the
// ordered failover candidates, the costs, and the table `sky launch --dryrun`
// prints.
json PlanJson(const Dag& dag, const Plan& plan, OptimizeTarget target) {
  json tasks = json::array();
  for (const auto& task_plan : plan.tasks) {
    const auto& task = dag.tasks().at(task_plan.task_index);
    json failover = json::array();
    for (const auto& c : task_plan.failover) failover.push_back(CandidateJson(c));
    tasks.push_back({{"task", task->name() ? json(*task->name()) : json()},
                     {"num_nodes", task->num_nodes()},
                     {"chosen", CandidateJson(task_plan.chosen)},
                     {"failover", failover},
                     {"egress_cost_in", task_plan.egress_cost_in}});
  }
  return {{"minimize", target == OptimizeTarget::kCost ? "COST" : "TIME"},
          {"tasks", tasks},
          {"compute_cost", plan.compute_cost},
          {"egress_cost", plan.egress_cost},
          {"total_cost", plan.total_cost()},
          {"table", FormatOptimizerTable(dag, plan, false)}};
}

}  // namespace

json RedactedRequestBody(const json& body) {
  if (!body.is_object() || !body.contains("task")) return body;
  json copy = body;
  try {
    copy["task"] = DumpDagYaml(TaskArg(body, "redact"));  // secrets redacted by default
  } catch (const Error&) {
    copy["task"] = "<invalid task>";
  }
  return copy;
}

RequestWork BindRequest(Sky& sky, const std::string& name, const json& raw_body) {
  const json body = raw_body.is_null() ? json::object() : raw_body;
  if (!body.is_object()) BadBody(name, "the arguments must be a JSON object");
  if (name == "launch") {
    Dag dag = TaskArg(body, name);
    LaunchOptions options;
    options.cluster_name = Arg<std::string>(body, name, "cluster_name", "");
    options.dryrun = Arg<bool>(body, name, "dryrun", false);
    options.detach_run = Arg<bool>(body, name, "detach_run", false);
    options.idle_minutes_to_autostop = OptionalInt(body, name, "idle_minutes_to_autostop");
    options.down = Arg<bool>(body, name, "down", false);
    options.fast = Arg<bool>(body, name, "fast", false);
    options.retry_until_up = Arg<bool>(body, name, "retry_until_up", false);
    options.no_setup = Arg<bool>(body, name, "no_setup", false);
    options.target = TargetArg(body, name, "optimize_target");
    options.command_line = "sky.launch";
    return [&sky, dag, options](OutputSink& out, const CancelToken& cancel) {
      return JobResultJson(sky.Launch(dag, options, out, cancel));
    };
  }
  if (name == "exec") {
    // "dryrun": check the cluster exists and run nothing; "down": tear the
    // cluster down once its jobs finish (an autodown after 0 idle minutes), as
    // SkyPilot's exec.
    Dag dag = TaskArg(body, name);
    ExecOptions options;
    options.cluster_name = RequiredString(body, name, "cluster_name");
    options.detach_run = Arg<bool>(body, name, "detach_run", false);
    options.command_line = "sky.exec";
    const bool dryrun = Arg<bool>(body, name, "dryrun", false);
    const bool down = Arg<bool>(body, name, "down", false);
    return [&sky, dag, options, dryrun, down](OutputSink& out, const CancelToken& cancel) {
      if (dryrun) {
        auto record = sky.state().GetCluster(options.cluster_name);
        if (!record) {
          throw ClusterDoesNotExist(
              fmt::format("cluster '{}' does not exist; `sky status` lists the clusters.",
                          options.cluster_name));
        }
        return json{{"job_id", json()}, {"cluster_name", record->name}, {"handle", json()}};
      }
      json result = JobResultJson(sky.Exec(dag, options, out, cancel));
      if (down) sky.Autostop(options.cluster_name, 0, /*down=*/true, "jobs");
      return result;
    };
  }
  if (name == "optimize") {
    Dag dag = TaskArg(body, name);
    const OptimizeTarget target = TargetArg(body, name, "minimize");
    return [&sky, dag, target](OutputSink&, const CancelToken&) {
      OptimizeOptions options;
      options.target = target;
      options.enabled_infras = sky.enabled_infras();
      return PlanJson(dag, Optimize(dag, *sky.catalog(), options), target);
    };
  }
  if (name == "status") {
    auto names = Arg<std::vector<std::string>>(body, name, "cluster_names", {});
    bool refresh = Arg<bool>(body, name, "refresh", false);
    return [&sky, names, refresh](OutputSink&, const CancelToken&) {
      json out = json::array();
      for (const auto& record : sky.Status(names, refresh))
        out.push_back(ClusterRecordToJson(record));
      return out;
    };
  }
  if (name == "queue") {
    auto cluster = RequiredString(body, name, "cluster_name");
    bool skip_finished = Arg<bool>(body, name, "skip_finished", false);
    return [&sky, cluster, skip_finished](OutputSink&, const CancelToken&) {
      json out = json::array();
      for (const auto& job : sky.Queue(cluster, !skip_finished))
        out.push_back(JobRecordToJson(job));
      return out;
    };
  }
  if (name == "job_status") {
    auto cluster = RequiredString(body, name, "cluster_name");
    auto ids = JobIds(body, name);
    return [&sky, cluster, ids](OutputSink&, const CancelToken&) {
      json out = json::object();
      for (const auto& job : sky.JobStatuses(cluster, ids)) {
        out[std::to_string(job.job_id)] = JobStatusName(job.status);
      }
      return out;
    };
  }
  if (name == "cancel") {
    auto cluster = RequiredString(body, name, "cluster_name");
    auto ids = JobIds(body, name);
    bool all = Arg<bool>(body, name, "all", false);
    return [&sky, cluster, ids, all](OutputSink&, const CancelToken&) {
      return json(sky.Cancel(cluster, ids, all));
    };
  }
  if (name == "tail_logs") {
    auto cluster = RequiredString(body, name, "cluster_name");
    std::optional<int64_t> job_id;
    if (auto id = OptionalInt(body, name, "job_id")) job_id = *id;
    bool follow = Arg<bool>(body, name, "follow", true);
    return [&sky, cluster, job_id, follow](OutputSink& out, const CancelToken& cancel) {
      JobStatus status = sky.TailLogs(cluster, job_id, follow, out, cancel);
      // SkyPilot returns the exit code: 0 for SUCCEEDED, 1 otherwise; 100 when
      // the job has not finished (not following).
      if (status == JobStatus::kSucceeded) return json(0);
      return json(IsTerminal(status) ? 1 : 100);
    };
  }
  if (name == "download_logs") {
    auto cluster = RequiredString(body, name, "cluster_name");
    auto ids = JobIds(body, name);
    return [&sky, cluster, ids](OutputSink&, const CancelToken&) {
      json out = json::object();
      if (ids.empty()) {
        auto dir = sky.DownloadLogs(cluster, std::nullopt);
        auto latest = sky.JobStatuses(cluster, {}).at(0).job_id;
        out[std::to_string(latest)] = dir.string();
      }
      for (auto id : ids) out[std::to_string(id)] = sky.DownloadLogs(cluster, id).string();
      return out;
    };
  }
  if (name == "stop" || name == "down" || name == "start") {
    auto cluster = RequiredString(body, name, "cluster_name");
    bool purge = Arg<bool>(body, name, "purge", false);
    auto idle = OptionalInt(body, name, "idle_minutes_to_autostop");
    bool down = Arg<bool>(body, name, "down", false);
    return [&sky, name, cluster, purge, idle, down](OutputSink& out, const CancelToken&) {
      if (name == "stop") {
        sky.Stop(cluster, out);
        return json();
      }
      if (name == "down") {
        sky.Down(cluster, out, purge);
        return json();
      }
      return ClusterRecordToJson(sky.Start(cluster, out, idle, down));
    };
  }
  if (name == "autostop") {
    auto cluster = RequiredString(body, name, "cluster_name");
    auto idle = OptionalInt(body, name, "idle_minutes").value_or(-1);
    bool down = Arg<bool>(body, name, "down", false);
    auto wait_for = Arg<std::string>(body, name, "wait_for", "jobs");
    return [&sky, cluster, idle, down, wait_for](OutputSink&, const CancelToken&) {
      sky.Autostop(cluster, idle, down, wait_for);
      return json();
    };
  }
  if (name == "cost_report") {
    auto days = OptionalInt(body, name, "days");
    return [&sky, days](OutputSink&, const CancelToken&) {
      json out = json::array();
      for (const auto& row : sky.CostReport(days)) {
        const auto& h = row.history;
        out.push_back({{"name", h.name},
                       {"cluster_hash", h.cluster_hash},
                       {"num_nodes", h.num_nodes},
                       {"resources", h.launched_resources},
                       {"launched_at", h.launched_at_s()},
                       {"duration", h.duration_s(static_cast<int64_t>(std::time(nullptr)))},
                       {"usage_intervals", Intervals(h)},
                       {"status", h.status ? json(ClusterStatusName(*h.status)) : json()},
                       {"hourly_price", row.hourly_price},
                       {"total_cost", row.total_cost}});
      }
      return out;
    };
  }
  if (name == "check") {
    auto infras = Arg<std::vector<std::string>>(body, name, "infras", {});
    return [&sky, infras](OutputSink&, const CancelToken&) {
      json out = json::object();
      for (const auto& check : sky.Check(infras)) {
        out[check.infra] = {{"enabled", check.enabled}, {"reason", check.reason}};
      }
      return out;
    };
  }
  if (name == "endpoints") {
    auto cluster = RequiredString(body, name, "cluster");
    auto port = OptionalInt(body, name, "port");
    return [&sky, cluster, port](OutputSink&, const CancelToken&) {
      json out = json::object();
      for (const auto& [p, url] : sky.Endpoints(cluster, port)) out[std::to_string(p)] = url;
      return out;
    };
  }
  if (name == "ssh_up" || name == "ssh_down") {
    // SkyPilot's `infra` is the pool's name ("ssh/" allowed).
    std::string pool = body.contains("infra") && !body["infra"].is_null()
                           ? Arg<std::string>(body, name, "infra", "")
                           : std::string();
    if (pool.rfind("ssh/", 0) == 0) pool = pool.substr(4);
    const bool up = name == "ssh_up";
    return [&sky, pool, up](OutputSink& out, const CancelToken&) {
      json hosts = json::array();
      for (const auto& report : up ? sky.SshUp(pool) : sky.SshDown(pool)) {
        out.Write(fmt::format("{}/{}: {}{}\n", report.pool, report.host,
                              report.ok ? "" : "failed: ", report.detail));
        hosts.push_back({{"pool", report.pool},
                         {"host", report.host},
                         {"ok", report.ok},
                         {"detail", report.detail}});
      }
      return hosts;
    };
  }
  // Managed jobs (skycore/jobs.h), under SkyPilot's request names:
  // "jobs.launch" {"task", "name", "priority"} → {"job_ids": [id]};
  // "jobs.queue" {"skip_finished", "all_users", "job_ids"} → [job, ...];
  // "jobs.cancel" {"name", "job_ids", "all", "all_users"} → null;
  // "jobs.logs" {"job_id", "name", "follow", "controller"} → the job's final
  // status (or current one without follow).
  if (name == "jobs.launch") {
    Dag dag = TaskArg(body, name);
    ManagedJobLaunchOptions options;
    if (body.contains("name") && !body["name"].is_null()) {
      options.name = RequiredString(body, name, "name");
    }
    options.priority = OptionalInt(body, name, "priority");
    return [&sky, dag, options](OutputSink&, const CancelToken&) {
      const ManagedJob job = LaunchManagedJob(sky, dag, options);
      return json{{"job_ids", json::array({job.job_id})}};
    };
  }
  if (name == "jobs.queue") {
    const bool skip_finished = Arg<bool>(body, name, "skip_finished", false);
    const bool all_users = Arg<bool>(body, name, "all_users", false);
    auto ids = JobIds(body, name);
    return [&sky, skip_finished, all_users, ids](OutputSink&, const CancelToken&) {
      ManagedJobFilter filter;
      filter.skip_finished = skip_finished;
      filter.job_ids = ids;
      if (!all_users) filter.user = sdk_internal::CurrentUser();
      json out = json::array();
      for (const auto& job : OpenManagedJobStore(sky)->List(filter)) {
        out.push_back(ManagedJobToJson(job));
      }
      return out;
    };
  }
  if (name == "jobs.cancel") {
    auto ids = JobIds(body, name);
    std::string job_name;
    if (body.contains("name") && !body["name"].is_null()) {
      job_name = RequiredString(body, name, "name");
    }
    const bool all = Arg<bool>(body, name, "all", false);
    const bool all_users = Arg<bool>(body, name, "all_users", false);
    if ((ids.empty() ? 0 : 1) + (job_name.empty() ? 0 : 1) + (all || all_users ? 1 : 0) != 1) {
      BadBody(name, "give exactly one of job_ids, name and all/all_users");
    }
    return [&sky, ids, job_name, all, all_users](OutputSink&, const CancelToken&) {
      std::vector<int64_t> targets = ids;
      if (targets.empty()) {
        ManagedJobFilter filter;
        filter.skip_finished = true;
        if (!job_name.empty()) filter.names = {job_name};
        if (all && !all_users) filter.user = sdk_internal::CurrentUser();
        for (const auto& job : OpenManagedJobStore(sky)->List(filter)) {
          targets.push_back(job.job_id);
        }
      }
      CancelManagedJobs(sky, targets);
      return json();
    };
  }
  if (name == "jobs.logs") {
    std::optional<int64_t> job_id;
    if (auto id = OptionalInt(body, name, "job_id")) job_id = *id;
    std::string job_name;
    if (body.contains("name") && !body["name"].is_null()) {
      job_name = RequiredString(body, name, "name");
    }
    const bool follow = Arg<bool>(body, name, "follow", true);
    const bool controller = Arg<bool>(body, name, "controller", false);
    return
        [&sky, job_id, job_name, follow, controller](OutputSink& out, const CancelToken& cancel) {
          int64_t id = job_id.value_or(0);
          if (!job_id) {
            ManagedJobFilter filter;
            if (!job_name.empty()) filter.names = {job_name};
            filter.limit = 1;
            const auto latest = OpenManagedJobStore(sky)->List(filter);
            if (latest.empty()) {
              throw JobNotFoundError(job_name.empty()
                                         ? std::string("No managed jobs.")
                                         : fmt::format("No managed job named '{}'.", job_name));
            }
            id = latest.front().job_id;
          }
          const ManagedJob job = TailManagedJobLogs(sky, id, follow, controller, out, cancel);
          return json(ManagedJobStatusName(job.status));
        };
  }
  static const std::vector<std::string> kNames = {
      "launch",      "exec",        "optimize",      "status",    "queue",  "job_status",
      "cancel",      "tail_logs",   "download_logs", "stop",      "start",  "down",
      "autostop",    "cost_report", "check",         "endpoints", "ssh_up", "ssh_down",
      "jobs.launch", "jobs.queue",  "jobs.cancel",   "jobs.logs"};
  throw InvalidTaskError(fmt::format("unknown request '{}'", name), {},
                         strings::CloseMatches(name, kNames));
}

}  // namespace skycore
