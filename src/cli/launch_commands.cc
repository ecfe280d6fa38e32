#include "cli/launch_commands.h"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <iostream>
#include <random>

#include "cli/catalog_commands.h"
#include "cli/cluster_commands.h"
#include "cli/display.h"
#include "cli/interrupt.h"
#include "cli/invocation.h"
#include "cli/task_flags.h"
#include "cli/terminal.h"
#include "common/strings.h"
#include "skycore/skycore.h"

namespace skycore::cli {
namespace {

struct LaunchFlags {
  TaskFlags task;
  std::string cluster;
  bool dryrun = false;
  bool yes = false;
  bool detach_run = false;
  std::optional<int> idle_minutes_to_autostop;
  std::string wait_for;
  bool down = false;
  bool retry_until_up = false;
  bool fast = false;
  bool no_setup = false;
};

struct ExecFlags {
  TaskFlags task;
  std::string cluster;
  // SkyPilot's hidden -c/--cluster: with it, every positional word is the
  // entrypoint.
  std::string cluster_option;
  bool detach_run = false;
};

// ------------------------------------------------------------------ dry run

// A resources alternative as the plan shows it: its summary, plus the ports
// and disk and network tiers the summary leaves out.
std::string PlanLine(const Resources& resources) {
  std::string line = resources.ToString();
  const ResourcesSpec& spec = resources.spec();
  if (!spec.ports.empty()) {
    std::vector<std::string> ports;
    for (const auto& port : spec.ports) ports.push_back(port.ToString());
    line += fmt::format(" ports={}", fmt::join(ports, ","));
  }
  if (spec.disk_tier) line += fmt::format(" disk_tier={}", *spec.disk_tier);
  if (spec.network_tier) line += fmt::format(" network_tier={}", *spec.network_tier);
  if (spec.priority) line += fmt::format(" priority={}", *spec.priority);
  if (const auto it = spec.extra.find("priority_class"); it != spec.extra.end()) {
    line +=
        fmt::format(" priority_class={}", it->is_string() ? it->get<std::string>() : it->dump());
  }
  return line;
}

void PrintPlan(const Dag& dag, const std::string& source) {
  if (!source.empty()) fmt::print("Task from {}\n", source);
  for (size_t index : dag.topological_order()) {
    const Task& task = *dag.tasks()[index];
    fmt::print("Task '{}': {} node{}\n", task.name().value_or("<unnamed>"), task.num_nodes(),
               task.num_nodes() == 1 ? "" : "s");
    const auto& set = task.resources();
    for (size_t i = 0; i < set.size(); ++i) {
      fmt::print(
          "  {} {}\n",
          set.size() == 1 ? "resources:" : (set.is_ordered() ? fmt::format("{}.", i + 1) : "-"),
          PlanLine(set.alternatives()[i]));
    }
    if (const auto& workdir = task.workdir(); workdir && workdir->is_git()) {
      fmt::print("  workdir: {}{}\n", workdir->git_url,
                 workdir->git_ref.empty() ? "" : fmt::format(" (ref {})", workdir->git_ref));
    } else if (workdir) {
      fmt::print("  workdir: {}\n", workdir->path);
    }
    for (const auto& [k, v] : task.envs()) fmt::print("  env {}={}\n", k, v);
    for (const auto& [k, v] : task.secrets()) fmt::print("  secret {}=<redacted>\n", k);
    if (task.setup()) {
      const std::string& setup = *task.setup();
      const auto lines =
          std::count(setup.begin(), setup.end(), '\n') + (setup.ends_with('\n') ? 0 : 1);
      fmt::print("  setup: {} line{}\n", lines, lines == 1 ? "" : "s");
    }
    if (task.run()) fmt::print("  run: {}\n", task.run()->substr(0, task.run()->find('\n')));
  }
}

// ------------------------------------------------------------------- naming

std::string UserName() {
  if (auto user = LookupEnv("USER"); user && !user->empty()) return *user;
  if (const passwd* entry = ::getpwuid(::getuid()); entry != nullptr) return entry->pw_name;
  return "user";
}

// SkyPilot's generated name: "sky-<4 hex>-<user>", in the characters a cluster
// name may hold.
std::string GenerateClusterName() {
  std::string user;
  for (char c : strings::Lower(UserName())) {
    user += std::isalnum(static_cast<unsigned char>(c)) ? c : '-';
  }
  std::random_device random;
  return fmt::format("sky-{:04x}-{}", random() & 0xffff, user);
}

// ---------------------------------------------------------------- following

void PrintUsefulCommands(const std::string& cluster, std::optional<int64_t> job_id) {
  const bool fancy = FancyStdout();
  const std::string branch = Style("├── ", kDim, fancy);
  const std::string last = Style("└── ", kDim, fancy);
  auto bold = [&](const std::string& text) { return Style(text, kBold, fancy); };
  std::string out = "\n📋 Useful Commands\n";
  if (job_id) {
    out += fmt::format("Job ID: {}\n", *job_id);
    out += fmt::format("{}To cancel the job:\t\t{}\n", branch,
                       bold(fmt::format("sky cancel {} {}", cluster, *job_id)));
    out += fmt::format("{}To stream job logs:\t\t{}\n", branch,
                       bold(fmt::format("sky logs {} {}", cluster, *job_id)));
    out += fmt::format("{}To view job queue:\t\t{}\n", last, bold("sky queue " + cluster));
  }
  out += fmt::format("Cluster name: {}\n", cluster);
  out += fmt::format("{}To submit a job:\t\t{}\n", branch,
                     bold(fmt::format("sky exec {} yaml_file", cluster)));
  out += fmt::format("{}To stop the cluster:\t{}\n", branch, bold("sky stop " + cluster));
  out += fmt::format("{}To teardown the cluster:\t{}\n", last, bold("sky down " + cluster));
  std::cout << out << std::flush;
}

void PrintStillRunning(TerminalSink& sink, const std::string& cluster, int64_t job_id) {
  const bool fancy = FancyStderr();
  sink.Message(fmt::format(
      "\n{}\n{}To stream job logs:\t{}\n{}To cancel the job:\t{}",
      Style(fmt::format("Interrupted: job {} keeps running on cluster '{}'.", job_id, cluster),
            kYellow, fancy),
      Style("├── ", kDim, fancy),
      Style(fmt::format("sky logs {} {}", cluster, job_id), kBold, fancy),
      Style("└── ", kDim, fancy),
      Style(fmt::format("sky cancel {} {}", cluster, job_id), kBold, fancy)));
}

// The exit code of a followed job: its own exit code when it failed (as
// `run: exit 3` makes `sky launch` exit 3), else SkyPilot's code for the status.
int FollowedJobExitCode(const JobRecord& job) {
  if (job.status == JobStatus::kSucceeded) return 0;
  if ((job.status == JobStatus::kFailed || job.status == JobStatus::kFailedSetup) &&
      job.exit_code > 0) {
    return job.exit_code;
  }
  return JobStatusExitCode(job.status);
}

// Streams the job's logs until it finishes (unless detached), then prints
// SkyPilot's hints. Returns the command's exit code.
int FollowJob(Sky& sky, const std::string& cluster, std::optional<int64_t> job_id, bool detach,
              TerminalSink& sink, const CancelToken& cancel, const InterruptGuard& guard) {
  if (!job_id) {
    sink.StepDone();
    PrintUsefulCommands(cluster, std::nullopt);
    return 0;
  }
  if (detach) {
    sink.StepDone();
    PrintUsefulCommands(cluster, job_id);
    return 0;
  }
  sink.Message(Style("Streaming logs... (Ctrl-C to exit log streaming; job will not be killed)",
                     kDim, FancyStderr()));
  JobStatus final_status = JobStatus::kRunning;
  try {
    final_status = sky.TailLogs(cluster, job_id, /*follow=*/true, sink, cancel);
  } catch (const CancelledError&) {
    sink.Abandon();
    PrintStillRunning(sink, cluster, *job_id);
    return kExitInterrupted;
  }
  if (guard.interrupted()) {
    sink.Abandon();
    PrintStillRunning(sink, cluster, *job_id);
    return kExitInterrupted;
  }
  sink.StepDone();
  JobRecord job;
  job.job_id = *job_id;
  job.status = final_status;
  try {
    if (auto jobs = sky.JobStatuses(cluster, {*job_id}); !jobs.empty()) job = jobs.front();
  } catch (const Error&) {
    // The cluster may be gone already (--down); the streamed status stands.
  }
  int exit_code = 0;
  {
    exit_code = FollowedJobExitCode(job);
    const bool fancy = FancyStderr();
    const char* status = JobStatusName(job.status);
    if (job.status == JobStatus::kSucceeded) {
      sink.Message(Style(fmt::format("✓ Job finished (status: {}).", status), kGreen, fancy));
    } else {
      sink.Message(
          Style(fmt::format("✗ Job finished (status: {}{}).", status,
                            job.exit_code > 0 ? fmt::format(", exit code {}", job.exit_code)
                                              : std::string()),
                kRed, fancy));
    }
  }
  PrintUsefulCommands(cluster, job_id);
  return exit_code;
}

// ------------------------------------------------------------------ launch

int Launch(LaunchFlags flags, const Invocation& invocation) {
  flags.task.entrypoint.insert(flags.task.entrypoint.end(), invocation.command_words.begin(),
                               invocation.command_words.end());
  Dag dag = LoadEntrypoint(flags.task);
  const std::string wait_for = CheckWaitFor(flags.wait_for);
  if (flags.dryrun) {
    // As SkyPilot's dry run: a secret still without a value fails it too.
    for (const auto& task : dag.tasks()) task->RequireSecretValues();
    PrintPlan(dag, YamlEntrypoint(flags.task).value_or(""));
    PrintOptimizerTable(dag);
    fmt::print("Dry run finished: the task is valid; nothing was launched.\n");
    return 0;
  }
  if (flags.down && !flags.idle_minutes_to_autostop) flags.idle_minutes_to_autostop = 0;
  auto sky = OpenSky();
  LaunchOptions options;
  options.cluster_name = flags.cluster.empty() ? GenerateClusterName() : flags.cluster;
  options.retry_until_up = flags.retry_until_up;
  options.idle_minutes_to_autostop = flags.idle_minutes_to_autostop;
  options.down = flags.down;
  options.fast = flags.fast;
  options.no_setup = flags.no_setup;
  options.command_line = invocation.command_line;
  // Logs are followed here, not inside Launch, so that the job id is known
  // when Ctrl-C arrives.
  options.detach_run = true;
  const std::string& name = options.cluster_name;

  auto existing = sky->state().GetCluster(name);
  if (!existing) {
    LaunchOptions plan_only = options;
    plan_only.dryrun = true;
    JobResult planned;
    {
      // Planning prints nothing but the check of an infra the task names
      // that no `sky check` enabled yet.
      TerminalSink planning;
      planned = sky->Launch(dag, plan_only, planning);
    }
    if (planned.plan) {
      std::cout << FormatOptimizerTable(dag, *planned.plan, FancyStdout()) << std::flush;
    }
    if (!flags.yes && !Confirm(fmt::format("Launching a new cluster '{}'. Proceed?", name))) {
      std::cerr << "Aborted!\n";
      return 1;
    }
  } else if (existing->status == ClusterStatus::kStopped && !flags.yes &&
             !Confirm(fmt::format("Restarting the stopped cluster '{}'. Proceed?", name))) {
    std::cerr << "Aborted!\n";
    return 1;
  }

  CancelToken cancel;
  InterruptGuard guard(cancel);
  TerminalSink sink;
  JobResult result;
  try {
    result = sky->Launch(dag, options, sink, cancel);
  } catch (const CancelledError& e) {
    sink.Abandon();
    sink.Message(
        fmt::format("Interrupted: {} Check the cluster with: sky status {}", e.message(), name));
    return kExitInterrupted;
  }
  if (options.idle_minutes_to_autostop && !wait_for.empty()) {
    sky->Autostop(name, *options.idle_minutes_to_autostop, options.down, wait_for);
  }
  return FollowJob(*sky, name, result.job_id, flags.detach_run, sink, cancel, guard);
}

// -------------------------------------------------------------------- exec

int Exec(ExecFlags flags, const Invocation& invocation) {
  if (!flags.cluster_option.empty()) {
    if (!flags.cluster.empty())
      flags.task.entrypoint.insert(flags.task.entrypoint.begin(), flags.cluster);
    flags.cluster = flags.cluster_option;
  }
  if (flags.cluster.empty()) {
    throw InvalidTaskError("missing the cluster: `sky exec CLUSTER ENTRYPOINT` (or -c CLUSTER).");
  }
  flags.task.entrypoint.insert(flags.task.entrypoint.end(), invocation.command_words.begin(),
                               invocation.command_words.end());
  if (flags.task.entrypoint.empty()) {
    throw InvalidTaskError("missing the task: give a task YAML or a command after the cluster.");
  }
  Dag dag = LoadEntrypoint(flags.task);
  auto sky = OpenSky();
  std::cerr << Style("Submitting job to cluster: ", kCyan, FancyStderr()) << flags.cluster
            << std::endl;
  ExecOptions options;
  options.cluster_name = flags.cluster;
  options.detach_run = true;  // followed below, as in Launch
  options.command_line = invocation.command_line;
  CancelToken cancel;
  InterruptGuard guard(cancel);
  TerminalSink sink;
  JobResult result;
  try {
    result = sky->Exec(dag, options, sink, cancel);
  } catch (const CancelledError& e) {
    sink.Abandon();
    sink.Message(fmt::format("Interrupted: {}", e.message()));
    return kExitInterrupted;
  }
  return FollowJob(*sky, flags.cluster, result.job_id, flags.detach_run, sink, cancel, guard);
}

}  // namespace

std::function<std::optional<int>()> AddLaunchCommands(
    CLI::App& app, std::shared_ptr<const Invocation> invocation) {
  auto launch_flags = std::make_shared<LaunchFlags>();
  CLI::App* launch = app.add_subcommand(
      "launch",
      "Launch a cluster (or reuse an existing one) and run a task on it.\n\n"
      "ENTRYPOINT is a task YAML, or a shell command (`sky launch -c dev -- nvidia-smi`). "
      "A new cluster shows the optimizer's choice and asks for confirmation (unless -y or "
      "stdin is not a terminal). Unless -d, the job's logs are followed and `sky launch` "
      "exits with the job's exit code; Ctrl-C stops following, the job keeps running.");
  launch
      ->add_option("entrypoint", launch_flags->task.entrypoint,
                   "Task YAML file, or a command to run")
      ->expected(0, -1);
  launch->add_option("-c,--cluster", launch_flags->cluster,
                     "Cluster name: reuse an existing cluster or provision a new one with this "
                     "name (default: a generated name)");
  AddTaskOptions(*launch, launch_flags->task);
  launch->add_option("--priority", launch_flags->task.priority,
                     "Priority: an integer from -1000 to 1000 (resources.priority) or a priority "
                     "class name (resources.priority_class); none clears both");
  launch->add_flag("--dryrun", launch_flags->dryrun, "Validate and plan, but launch nothing");
  launch->add_flag("-y,--yes", launch_flags->yes, "Skip confirmation prompts");
  launch->add_flag("-d,--detach-run", launch_flags->detach_run,
                   "Return once the job is submitted; do not stream its logs");
  launch
      ->add_option("-i,--idle-minutes-to-autostop", launch_flags->idle_minutes_to_autostop,
                   "Stop the cluster after this many idle minutes (no pending or running jobs)")
      ->check(CLI::NonNegativeNumber);
  launch->add_option("--wait-for", launch_flags->wait_for,
                     "With -i, what keeps the cluster from being idle: jobs (the default) or none "
                     "(stop after -i minutes whatever runs)");
  launch->add_flag("--down", launch_flags->down,
                   "Tear the cluster down (instead of stopping it) when it becomes idle; with "
                   "-i, after that many idle minutes");
  launch->add_flag("-r,--retry-until-up", launch_flags->retry_until_up,
                   "Retry provisioning until the cluster is up when no resources are available");
  launch->add_flag("--fast", launch_flags->fast, "On an UP cluster, skip file syncing and setup");
  launch->add_flag("--no-setup", launch_flags->no_setup, "Skip the setup phase");

  auto exec_flags = std::make_shared<ExecFlags>();
  CLI::App* exec = app.add_subcommand(
      "exec",
      "Run a task or command as a new job on an existing cluster.\n\n"
      "The workdir is synced; setup and file mounts are skipped (use `sky launch` for those). "
      "Unless -d, the job's logs are followed and `sky exec` exits with the job's exit code.");
  exec->add_option("cluster", exec_flags->cluster, "Cluster to run on (or -c CLUSTER)");
  exec->add_option("-c,--cluster", exec_flags->cluster_option)->group("");
  exec->add_option("entrypoint", exec_flags->task.entrypoint, "Task YAML file, or a command to run")
      ->expected(0, -1);
  AddTaskOptions(*exec, exec_flags->task);
  exec->add_flag("-d,--detach-run", exec_flags->detach_run,
                 "Return once the job is submitted; do not stream its logs");

  SplitHelp(*launch);
  SplitHelp(*exec);

  return [=]() -> std::optional<int> {
    if (launch->parsed()) return Launch(*launch_flags, *invocation);
    if (exec->parsed()) return Exec(*exec_flags, *invocation);
    return std::nullopt;
  };
}

}  // namespace skycore::cli
