// What `sky jobs launch/cancel` do on the caller's side: the prechecks, the
// submission, and starting or waking the controller.
#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common/subprocess.h"
#include "sdk/cluster_ops.h"
#include "skycore/jobs.h"
#include "skycore/yaml.h"

namespace skycore {

namespace fs = std::filesystem;

namespace {

std::string UserName(const std::string& given) {
  return given.empty() ? sdk_internal::CurrentUser() : given;
}

std::string JobName(const Dag& dag, const std::string& given) {
  if (!given.empty()) return given;
  if (dag.name() && !dag.name()->empty()) return *dag.name();
  if (!dag.tasks().empty() && dag.tasks().front()->name()) return *dag.tasks().front()->name();
  return "sky-cmd";
}

// The REQUESTED cell: "1x[cpus=2+]" from the first task's first alternative.
std::string RequestedResources(const Dag& dag) {
  if (dag.tasks().empty()) return "-";
  const Task& task = *dag.tasks().front();
  const auto& alternatives = task.resources().alternatives();
  std::string text = alternatives.empty() ? std::string() : alternatives.front().ToString();
  if (text.empty()) text = "default";
  return fmt::format("{}x[{}]", task.num_nodes(), text);
}

// A relative workdir is relative to where the job was launched, not to the
// controller's directory.
void AbsolutizeWorkdirs(Dag& dag) {
  for (const auto& task : dag.tasks()) {
    auto workdir = task->workdir();
    if (!workdir || workdir->is_git() || workdir->path.empty()) continue;
    if (workdir->path.starts_with("~")) continue;
    workdir->path = fs::absolute(workdir->path).lexically_normal().string();
    task->set_workdir(workdir);
  }
}

void Precheck(Sky& sky, const Dag& dag, const std::string& name) {
  if (dag.size() != 1) {
    throw NotSupportedError(
        "managed jobs run one task for now: pipelines of several tasks are not supported yet.");
  }
  if (!dag.tasks().front()->secrets().empty()) {
    throw NotSupportedError(
        "managed jobs do not take secrets yet: the controller would have to keep their values "
        "at rest. Pass them to `sky launch` instead.");
  }
  // The optimizer, as `sky launch` plans a new cluster: the same errors.
  LaunchOptions plan_only;
  plan_only.cluster_name = ManagedJobClusterName(name, 0);
  plan_only.dryrun = true;
  NullSink planning;
  sky.Launch(dag, plan_only, planning);
}

// Prechecks that passed in this process lately, by state dir, job name and
// task as submitted: a program submitting many copies of one task plans it
// once (the optimizer's plan is most of a submission's cost). Kept briefly,
// so an infra disabled since (`sky check`) is noticed on the next ones.
class PassedPrechecks {
 public:
  static constexpr auto kKeep = std::chrono::seconds(10);

  bool Contains(const std::string& key) {
    std::lock_guard lock(mutex_);
    auto found = passed_.find(key);
    return found != passed_.end() && std::chrono::steady_clock::now() - found->second < kKeep;
  }
  void Add(const std::string& key) {
    std::lock_guard lock(mutex_);
    const auto now = std::chrono::steady_clock::now();
    if (passed_.size() > 1000)
      std::erase_if(passed_, [&](const auto& e) { return now - e.second >= kKeep; });
    passed_[key] = now;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::string, std::chrono::steady_clock::time_point> passed_;
};

PassedPrechecks& Passed() {
  static PassedPrechecks* passed = new PassedPrechecks;  // never destroyed: used at exit
  return *passed;
}

// The store submissions go through, one per state dir and process: opening
// one migrates the schema and costs more than the submission itself. (The
// store serialises its callers.)
ManagedJobStore* SubmissionStore(const Sky& sky) {
  static std::mutex mutex;
  static auto* stores = new std::map<fs::path, std::unique_ptr<ManagedJobStore>>;
  std::lock_guard lock(mutex);
  auto& store = (*stores)[sky.options().state_dir];
  if (!store) store = OpenManagedJobStore(sky);
  return store.get();
}

}  // namespace

std::unique_ptr<ManagedJobStore> OpenManagedJobStore(const Sky& sky) {
  StateStoreOptions options;
  options.state_dir = sky.options().state_dir;
  return ManagedJobStore::Open(options);
}

fs::path JobsControllerProgram(const SkyOptions& options) {
  std::vector<fs::path> dirs;
  if (!options.bin_dir.empty()) dirs.push_back(options.bin_dir);
  std::error_code ec;
  if (auto self = fs::read_symlink("/proc/self/exe", ec); !ec) dirs.push_back(self.parent_path());
  for (const auto& dir : dirs) {
    const fs::path candidate = dir / "sky";
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  if (auto found = subprocess::FindInPath("sky"); !found.empty()) return found;
  throw CommandError(
      "cannot find the `sky` executable that runs the managed-jobs controller (looked in "
      "SKYCORE_BIN_DIR, beside this program and on $PATH); reinstall skycore, or set "
      "SKYCORE_BIN_DIR to the directory holding it");
}

ManagedJob RecordPrecheckFailure(Sky& sky, const std::string& name, const std::string& resources,
                                 const Error& error) {
  ManagedJobSubmission failed;
  failed.name = name.empty() ? "sky-cmd" : name;
  failed.user = UserName("");
  failed.resources = resources.empty() ? "-" : resources;
  failed.precheck_failure = error.message();
  return OpenManagedJobStore(sky)->Submit(failed);
}

ManagedJob LaunchManagedJob(Sky& sky, Dag dag, const ManagedJobLaunchOptions& options) {
  ManagedJobStore* store = SubmissionStore(sky);
  ManagedJobSubmission submission;
  submission.name = JobName(dag, options.name);
  submission.user = UserName(options.user);
  submission.resources = RequestedResources(dag);
  AbsolutizeWorkdirs(dag);
  DumpOptions dump;
  dump.redact_secrets = false;  // a task with secrets fails the precheck
  submission.dag_yaml = DumpDagYaml(dag, dump);
  const std::string precheck_key = fmt::format("{}\n{}\n{}", sky.options().state_dir.string(),
                                               submission.name, submission.dag_yaml);
  if (!Passed().Contains(precheck_key)) {
    try {
      Precheck(sky, dag, submission.name);
    } catch (const Error& e) {
      submission.precheck_failure = e.message();
      submission.dag_yaml.clear();  // it may hold secrets: never stored
      store->Submit(submission);
      throw;
    }
    Passed().Add(precheck_key);
  }
  if (options.priority) {
    submission.priority = *options.priority;
  } else if (const auto& alternatives = dag.tasks().front()->resources().alternatives();
             !alternatives.empty() && alternatives.front().spec().priority) {
    submission.priority = *alternatives.front().spec().priority;
  }
  const ManagedJob job = store->Submit(submission);
  EnsureJobsController(sky.options().state_dir, JobsControllerProgram(sky.options()));
  NotifyJobsController(sky.options().state_dir);
  return job;
}

std::vector<ManagedJob> CancelManagedJobs(Sky& sky, const std::vector<int64_t>& job_ids) {
  auto store = OpenManagedJobStore(sky);
  for (int64_t id : job_ids) {
    if (!store->Get(id)) throw JobNotFoundError(fmt::format("No managed job with id {}.", id));
  }
  std::vector<ManagedJob> jobs;
  bool controller_needed = false;
  for (int64_t id : job_ids) {
    jobs.push_back(*store->RequestCancel(id));
    controller_needed = controller_needed || jobs.back().status == ManagedJobStatus::kCancelling;
  }
  if (controller_needed) {
    EnsureJobsController(sky.options().state_dir, JobsControllerProgram(sky.options()));
    NotifyJobsController(sky.options().state_dir);
  }
  return jobs;
}

ManagedJob TailManagedJobLogs(Sky& sky, int64_t job_id, bool follow, bool controller,
                              OutputSink& out, const CancelToken& cancel) {
  auto store = OpenManagedJobStore(sky);
  const fs::path path = ManagedJobsDir(sky.options().state_dir) /
                        fmt::format("{}{}", job_id, controller ? ".controller.log" : ".log");
  std::streamoff offset = 0;
  while (true) {
    auto job = store->Get(job_id);
    if (!job) throw JobNotFoundError(fmt::format("No managed job with id {}.", job_id));
    // Read after the status: once the job is final its files are complete.
    if (std::ifstream in(path, std::ios::binary); in) {
      in.seekg(offset);
      std::string chunk((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      offset += static_cast<std::streamoff>(chunk.size());
      if (!chunk.empty()) out.Write(chunk);
    }
    if (!follow || IsTerminal(job->status)) return *job;
    cancel.ThrowIfCancelled(fmt::format("following managed job {}", job_id));
    // The controller appends as the job runs; a short sleep keeps this cheap.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

nlohmann::json ManagedJobToJson(const ManagedJob& job) {
  auto optional = [](const std::optional<double>& value) {
    return value ? nlohmann::json(*value) : nlohmann::json();
  };
  return {{"job_id", job.job_id},
          {"task_id", 0},
          {"job_name", job.name},
          {"task_name", job.name},
          {"user_name", job.user},
          {"priority", job.priority},
          {"resources", job.resources},
          {"run_timestamp", job.run_timestamp},
          {"status", ManagedJobStatusName(job.status)},
          {"failure_reason",
           job.failure_reason.empty() ? nlohmann::json() : nlohmann::json(job.failure_reason)},
          {"cluster_name", job.cluster_name},
          {"submitted_at", job.submitted_at},
          {"start_at", optional(job.start_at)},
          {"end_at", optional(job.end_at)},
          {"last_recovered_at", optional(job.last_recovered_at)},
          {"job_duration", job.job_duration_s},
          {"recovery_count", job.recovery_count}};
}

}  // namespace skycore
