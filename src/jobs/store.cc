// The managed_jobs table (schema version 3) and the job value types.
#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <mutex>
#include <thread>

#include "skycore/jobs.h"
#include "state/sqlite.h"

namespace skycore {

namespace {

constexpr ManagedJobStatus kAllStatuses[] = {
    ManagedJobStatus::kPending,          ManagedJobStatus::kStarting,
    ManagedJobStatus::kRunning,          ManagedJobStatus::kRecovering,
    ManagedJobStatus::kCancelling,       ManagedJobStatus::kSucceeded,
    ManagedJobStatus::kCancelled,        ManagedJobStatus::kFailed,
    ManagedJobStatus::kFailedSetup,      ManagedJobStatus::kFailedPrechecks,
    ManagedJobStatus::kFailedNoResource, ManagedJobStatus::kFailedController,
};

double SystemNow() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

// SkyPilot's run timestamp: "sky-%Y-%m-%d-%H-%M-%S-<microseconds>", local time.
std::string RunTimestamp(double now) {
  const auto seconds = static_cast<std::time_t>(now);
  const auto micros = static_cast<int>(std::lround((now - static_cast<double>(seconds)) * 1e6));
  std::tm local{};
  ::localtime_r(&seconds, &local);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d-%H-%M-%S", &local);
  return fmt::format("sky-{}-{:06d}", text, std::min(micros, 999'999));
}

std::string Base36(const unsigned char* bytes, size_t size) {
  // The digest as one big number, divided by 36 digit by digit.
  std::vector<unsigned> number(bytes, bytes + size);
  std::string digits;
  while (std::any_of(number.begin(), number.end(), [](unsigned b) { return b != 0; })) {
    unsigned remainder = 0;
    for (auto& byte : number) {
      const unsigned value = remainder * 256 + byte;
      byte = value / 36;
      remainder = value % 36;
    }
    digits.push_back("0123456789abcdefghijklmnopqrstuvwxyz"[remainder]);
  }
  if (digits.empty()) digits.push_back('0');
  std::reverse(digits.begin(), digits.end());
  return digits;
}

std::string Md5Base36(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(text.data(), text.size(), digest, &size, EVP_md5(), nullptr);
  return Base36(digest, size);
}

}  // namespace

const char* ManagedJobStatusName(ManagedJobStatus status) noexcept {
  switch (status) {
    case ManagedJobStatus::kPending:
      return "PENDING";
    case ManagedJobStatus::kStarting:
      return "STARTING";
    case ManagedJobStatus::kRunning:
      return "RUNNING";
    case ManagedJobStatus::kRecovering:
      return "RECOVERING";
    case ManagedJobStatus::kCancelling:
      return "CANCELLING";
    case ManagedJobStatus::kSucceeded:
      return "SUCCEEDED";
    case ManagedJobStatus::kCancelled:
      return "CANCELLED";
    case ManagedJobStatus::kFailed:
      return "FAILED";
    case ManagedJobStatus::kFailedSetup:
      return "FAILED_SETUP";
    case ManagedJobStatus::kFailedPrechecks:
      return "FAILED_PRECHECKS";
    case ManagedJobStatus::kFailedNoResource:
      return "FAILED_NO_RESOURCE";
    case ManagedJobStatus::kFailedController:
      return "FAILED_CONTROLLER";
  }
  return "PENDING";
}

std::optional<ManagedJobStatus> ParseManagedJobStatus(std::string_view name) noexcept {
  for (auto status : kAllStatuses) {
    if (name == ManagedJobStatusName(status)) return status;
  }
  return std::nullopt;
}

bool IsTerminal(ManagedJobStatus status) noexcept {
  return status == ManagedJobStatus::kSucceeded || status == ManagedJobStatus::kCancelled ||
         IsFailure(status);
}

bool IsFailure(ManagedJobStatus status) noexcept {
  switch (status) {
    case ManagedJobStatus::kFailed:
    case ManagedJobStatus::kFailedSetup:
    case ManagedJobStatus::kFailedPrechecks:
    case ManagedJobStatus::kFailedNoResource:
    case ManagedJobStatus::kFailedController:
      return true;
    default:
      return false;
  }
}

std::string ManagedJob::task_id() const {
  // SkyPilot: "sky-" + "managed-" + the rest of the run timestamp.
  std::string_view stamp = run_timestamp;
  if (stamp.starts_with("sky-")) stamp.remove_prefix(4);
  return fmt::format("sky-managed-{}_{}_{}-0", stamp, name, job_id);
}

double ManagedJob::total_duration_s(double now) const {
  return std::max(0.0, end_at.value_or(now) - submitted_at);
}

double ManagedJob::job_duration_at(double now) const {
  double total = job_duration_s;
  if (last_recovered_at) total += std::max(0.0, end_at.value_or(now) - *last_recovered_at);
  return total;
}

std::string ManagedJobClusterName(std::string_view job_name, int64_t job_id) {
  constexpr size_t kMaxLength = 25;  // SkyPilot's JOBS_CLUSTER_NAME_PREFIX_LENGTH
  constexpr size_t kHashLength = 2;
  std::string name;
  for (char c : job_name) {
    name += (c == '.' || c == '_') ? '-' : static_cast<char>(std::tolower(c));
  }
  if (name.size() > kMaxLength) {
    std::string cut = name.substr(0, kMaxLength - kHashLength - 1);
    while (!cut.empty() && cut.back() == '-') cut.pop_back();
    name = fmt::format("{}-{}", cut, Md5Base36(job_name).substr(0, kHashLength));
  }
  return fmt::format("{}-{}", name, job_id);
}

// ------------------------------------------------------------------ the store

namespace {

using state_internal::Database;
using state_internal::Query;

constexpr const char* kSelectJob =
    "SELECT job_id, name, user_name, priority, dag_yaml, resources, run_timestamp, status, "
    "failure_reason, cluster_name, cluster_job_id, submitted_at, start_at, end_at, "
    "last_recovered_at, job_duration, recovery_count FROM managed_jobs";

class SqliteManagedJobStore final : public ManagedJobStore {
 public:
  explicit SqliteManagedJobStore(const StateStoreOptions& options)
      : clock_(options.clock ? options.clock : SystemNow),
        db_(options.state_dir / "state.db", options.busy_timeout) {
    // As the state store's connections (per connection in SQLite): in WAL
    // mode a commit then waits for no fsync, only checkpoints do.
    db_.Exec("PRAGMA synchronous = NORMAL");
  }

  ManagedJob Submit(const ManagedJobSubmission& submission) override {
    if (submission.name.empty()) throw InvalidTaskError("a managed job needs a name.");
    if (submission.priority < kManagedJobMinPriority ||
        submission.priority > kManagedJobMaxPriority) {
      throw InvalidTaskError(fmt::format("Priority must be between {} and {}, got {}.",
                                         kManagedJobMinPriority, kManagedJobMaxPriority,
                                         submission.priority));
    }
    std::lock_guard lock(mutex_);
    return db_.Write([&] {
      const double now = clock_();
      const bool failed = submission.precheck_failure.has_value();
      auto insert = db_.Prepare(
          "INSERT INTO managed_jobs (name, user_name, priority, dag_yaml, resources, "
          "run_timestamp, status, failure_reason, submitted_at, end_at, finished) "
          "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
      insert.Bind(1, submission.name)
          .Bind(2, submission.user)
          .Bind(3, submission.priority)
          .Bind(4, submission.dag_yaml)
          .Bind(5, submission.resources)
          .Bind(6, RunTimestamp(now))
          .Bind(7, ManagedJobStatusName(failed ? ManagedJobStatus::kFailedPrechecks
                                               : ManagedJobStatus::kPending))
          .Bind(8, submission.precheck_failure.value_or(""))
          .Bind(9, now)
          .Bind(10, failed ? std::optional<double>(now) : std::nullopt)
          .Bind(11, failed ? 1 : 0)
          .Run();
      return *GetLocked(sqlite3_last_insert_rowid(db_.handle()));
    });
  }

  std::optional<ManagedJob> Get(int64_t job_id) override {
    std::lock_guard lock(mutex_);
    return GetLocked(job_id);
  }

  std::vector<ManagedJob> List(const ManagedJobFilter& filter) override {
    std::string sql = kSelectJob;
    std::vector<std::string> conditions;
    if (!filter.job_ids.empty()) {
      conditions.push_back(fmt::format("job_id IN ({})", fmt::join(filter.job_ids, ", ")));
    }
    if (!filter.names.empty()) {
      std::vector<std::string> marks(filter.names.size(), "?");
      conditions.push_back(fmt::format("name IN ({})", fmt::join(marks, ", ")));
    }
    if (!filter.user.empty()) conditions.push_back("user_name = ?");
    if (filter.skip_finished) conditions.push_back("finished = 0");
    if (!conditions.empty()) sql += fmt::format(" WHERE {}", fmt::join(conditions, " AND "));
    sql += " ORDER BY job_id DESC";
    if (filter.limit > 0) sql += fmt::format(" LIMIT {}", filter.limit);
    std::lock_guard lock(mutex_);
    auto query = db_.Prepare(sql);
    int index = 1;
    for (const auto& name : filter.names) query.Bind(index++, name);
    if (!filter.user.empty()) query.Bind(index++, filter.user);
    std::vector<ManagedJob> jobs;
    while (query.Step()) jobs.push_back(Read(query));
    return jobs;
  }

  std::vector<ManagedJob> ListUnfinished() override {
    std::lock_guard lock(mutex_);
    auto query = db_.Prepare(std::string(kSelectJob) + " WHERE finished = 0 ORDER BY job_id");
    std::vector<ManagedJob> jobs;
    while (query.Step()) jobs.push_back(Read(query));
    return jobs;
  }

  std::optional<ManagedJob> MarkStarting(int64_t job_id, const std::string& cluster_name) override {
    return Transition(job_id, {ManagedJobStatus::kPending}, [&](ManagedJob&) {
      auto update = db_.Prepare(
          "UPDATE managed_jobs SET status = 'STARTING', cluster_name = ?, start_at = ? "
          "WHERE job_id = ?");
      update.Bind(1, cluster_name).Bind(2, clock_()).Bind(3, job_id).Run();
    });
  }

  std::optional<ManagedJob> MarkRunning(int64_t job_id, int64_t cluster_job_id) override {
    return Transition(job_id, {ManagedJobStatus::kStarting, ManagedJobStatus::kRecovering},
                      [&](ManagedJob&) {
                        auto update = db_.Prepare(
                            "UPDATE managed_jobs SET status = 'RUNNING', cluster_job_id = ?, "
                            "last_recovered_at = ?, failure_reason = '' WHERE job_id = ?");
                        update.Bind(1, cluster_job_id).Bind(2, clock_()).Bind(3, job_id).Run();
                      });
  }

  std::optional<ManagedJob> SetDetails(int64_t job_id, const std::string& details) override {
    return Transition(
        job_id, {ManagedJobStatus::kStarting, ManagedJobStatus::kRecovering}, [&](ManagedJob&) {
          auto update = db_.Prepare("UPDATE managed_jobs SET failure_reason = ? WHERE job_id = ?");
          update.Bind(1, details).Bind(2, job_id).Run();
        });
  }

  std::optional<ManagedJob> MarkRecovering(int64_t job_id) override {
    return Transition(job_id, {ManagedJobStatus::kRunning}, [&](ManagedJob& job) {
      auto update = db_.Prepare(
          "UPDATE managed_jobs SET status = 'RECOVERING', cluster_job_id = NULL, "
          "last_recovered_at = NULL, job_duration = ?, recovery_count = recovery_count + 1 "
          "WHERE job_id = ?");
      update.Bind(1, job.job_duration_at(clock_())).Bind(2, job_id).Run();
    });
  }

  std::optional<ManagedJob> MarkFinished(int64_t job_id, ManagedJobStatus status,
                                         const std::string& failure_reason) override {
    if (!IsTerminal(status)) {
      throw InvalidTaskError(
          fmt::format("MarkFinished: {} is not a final state.", ManagedJobStatusName(status)));
    }
    return Transition(
        job_id,
        {ManagedJobStatus::kPending, ManagedJobStatus::kStarting, ManagedJobStatus::kRunning,
         ManagedJobStatus::kRecovering, ManagedJobStatus::kCancelling},
        [&](ManagedJob& job) {
          const double now = clock_();
          auto update = db_.Prepare(
              "UPDATE managed_jobs SET status = ?, failure_reason = ?, end_at = ?, "
              "job_duration = ?, last_recovered_at = NULL, finished = 1 WHERE job_id = ?");
          update.Bind(1, ManagedJobStatusName(status))
              .Bind(2, failure_reason)
              .Bind(3, now)
              .Bind(4, job.job_duration_at(now))
              .Bind(5, job_id)
              .Run();
        });
  }

  std::optional<ManagedJob> RequestCancel(int64_t job_id) override {
    std::lock_guard lock(mutex_);
    return db_.Write([&]() -> std::optional<ManagedJob> {
      auto job = GetLocked(job_id);
      if (!job) return std::nullopt;
      if (job->status == ManagedJobStatus::kPending) {
        auto update = db_.Prepare(
            "UPDATE managed_jobs SET status = 'CANCELLED', end_at = ?, finished = 1 "
            "WHERE job_id = ?");
        update.Bind(1, clock_()).Bind(2, job_id).Run();
      } else if (!IsTerminal(job->status) && job->status != ManagedJobStatus::kCancelling) {
        auto update = db_.Prepare("UPDATE managed_jobs SET status = 'CANCELLING' WHERE job_id = ?");
        update.Bind(1, job_id).Run();
      }
      return GetLocked(job_id);
    });
  }

 private:
  template <typename Apply>
  std::optional<ManagedJob> Transition(int64_t job_id, std::initializer_list<ManagedJobStatus> from,
                                       Apply&& apply) {
    std::lock_guard lock(mutex_);
    return db_.Write([&]() -> std::optional<ManagedJob> {
      auto job = GetLocked(job_id);
      if (!job) return std::nullopt;
      if (std::find(from.begin(), from.end(), job->status) == from.end()) return job;
      apply(*job);
      return GetLocked(job_id);
    });
  }

  std::optional<ManagedJob> GetLocked(int64_t job_id) {
    auto query = db_.Prepare(std::string(kSelectJob) + " WHERE job_id = ?");
    query.Bind(1, job_id);
    if (!query.Step()) return std::nullopt;
    return Read(query);
  }

  ManagedJob Read(const Query& query) const {
    ManagedJob job;
    job.job_id = query.Int(0);
    job.name = query.Text(1);
    job.user = query.Text(2);
    job.priority = static_cast<int>(query.Int(3));
    job.dag_yaml = query.Text(4);
    job.resources = query.Text(5);
    job.run_timestamp = query.Text(6);
    auto status = ParseManagedJobStatus(query.Text(7));
    if (!status) {
      throw StateError(state_internal::CorruptDatabaseMessage(
          db_.path(), fmt::format("managed job {} has status '{}'", job.job_id, query.Text(7))));
    }
    job.status = *status;
    job.failure_reason = query.Text(8);
    job.cluster_name = query.Text(9);
    job.cluster_job_id = query.OptionalInt(10);
    job.submitted_at = query.Double(11);
    job.start_at = query.OptionalDouble(12);
    job.end_at = query.OptionalDouble(13);
    job.last_recovered_at = query.OptionalDouble(14);
    job.job_duration_s = query.Double(15);
    job.recovery_count = static_cast<int>(query.Int(16));
    return job;
  }

  std::function<double()> clock_;
  std::mutex mutex_;
  Database db_;
};

}  // namespace

std::unique_ptr<ManagedJobStore> ManagedJobStore::Open(const StateStoreOptions& options) {
  // Creates the directory and file privately and migrates the schema.
  OpenSqliteStateStore(options);
  return std::make_unique<SqliteManagedJobStore>(options);
}

// -------------------------------------------------------------- scheduling

std::vector<int64_t> PickJobsToStart(const std::vector<ManagedJob>& unfinished, size_t max_active) {
  size_t active = 0;
  std::vector<const ManagedJob*> pending;
  for (const auto& job : unfinished) {
    if (job.status == ManagedJobStatus::kPending) {
      pending.push_back(&job);
    } else if (!IsTerminal(job.status)) {
      ++active;
    }
  }
  std::sort(pending.begin(), pending.end(), [](const ManagedJob* a, const ManagedJob* b) {
    if (a->priority != b->priority) return a->priority > b->priority;
    return a->job_id < b->job_id;
  });
  std::vector<int64_t> picked;
  for (const ManagedJob* job : pending) {
    if (active + picked.size() >= max_active) break;
    picked.push_back(job->job_id);
  }
  return picked;
}

size_t DefaultMaxActiveJobs() {
  if (const char* value = std::getenv("SKYCORE_JOBS_MAX_ACTIVE"); value && *value) {
    char* end = nullptr;
    const long parsed = std::strtol(value, &end, 10);
    if (end != nullptr && *end == '\0' && parsed > 0) return static_cast<size_t>(parsed);
  }
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  return 4 * static_cast<size_t>(cpus);
}

}  // namespace skycore
