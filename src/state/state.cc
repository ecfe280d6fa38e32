// The value types of skycore/state.h, the options, and opening the SQLite store.
#include "skycore/state.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

#include "common/files.h"
#include "state/schema.h"
#include "state/sqlite_store.h"

namespace skycore {

const char* ClusterStatusName(ClusterStatus status) noexcept {
  switch (status) {
    case ClusterStatus::kInit:
      return "INIT";
    case ClusterStatus::kUp:
      return "UP";
    case ClusterStatus::kStopped:
      return "STOPPED";
  }
  return "INIT";
}

std::optional<ClusterStatus> ParseClusterStatus(std::string_view name) noexcept {
  for (auto status : {ClusterStatus::kInit, ClusterStatus::kUp, ClusterStatus::kStopped}) {
    if (name == ClusterStatusName(status)) return status;
  }
  return std::nullopt;
}

const char* RequestStatusName(RequestStatus status) noexcept {
  switch (status) {
    case RequestStatus::kPending:
      return "PENDING";
    case RequestStatus::kRunning:
      return "RUNNING";
    case RequestStatus::kSucceeded:
      return "SUCCEEDED";
    case RequestStatus::kFailed:
      return "FAILED";
    case RequestStatus::kCancelled:
      return "CANCELLED";
  }
  return "PENDING";
}

std::optional<RequestStatus> ParseRequestStatus(std::string_view name) noexcept {
  for (auto status : {RequestStatus::kPending, RequestStatus::kRunning, RequestStatus::kSucceeded,
                      RequestStatus::kFailed, RequestStatus::kCancelled}) {
    if (name == RequestStatusName(status)) return status;
  }
  return std::nullopt;
}

bool IsFinished(RequestStatus status) noexcept {
  return status == RequestStatus::kSucceeded || status == RequestStatus::kFailed ||
         status == RequestStatus::kCancelled;
}

nlohmann::json RequestErrorJson(const Error& error, std::string_view type) {
  return nlohmann::json{
      {"type", std::string(type)},
      {"code", ErrorCodeName(error.code())},
      {"message", error.what()},
  };
}

int64_t ClusterHistoryRecord::launched_at_s() const noexcept {
  return usage_intervals.empty() ? 0 : usage_intervals.front().start_s;
}

int64_t ClusterHistoryRecord::duration_s(int64_t now_s) const noexcept {
  int64_t total = 0;
  for (const auto& interval : usage_intervals) {
    int64_t end = interval.end_s.value_or(now_s);
    if (end > interval.start_s) total += end - interval.start_s;
  }
  return total;
}

std::filesystem::path StateStoreOptions::DefaultStateDir(const EnvLookup& lookup) {
  if (auto dir = lookup("SKYCORE_STATE_DIR"); dir && !dir->empty()) return *dir;
  if (auto home = lookup("HOME"); home && !home->empty()) {
    return std::filesystem::path(*home) / ".sky";
  }
  return {};
}

int CurrentStateSchemaVersion() noexcept { return state_internal::kCurrentSchemaVersion; }

std::unique_ptr<StateStore> OpenSqliteStateStore(const StateStoreOptions& options) {
  return std::make_unique<state_internal::SqliteStateStore>(options,
                                                            state_internal::kCurrentSchemaVersion);
}

namespace state_internal {

namespace {

std::filesystem::path DatabasePath(const StateStoreOptions& options) {
  if (options.state_dir.empty()) {
    throw IoError("No state directory: set HOME or SKYCORE_STATE_DIR.");
  }
  // Private: the state may hold what other users of the machine must not
  // read. An older version created the directory 0755 and the files 0644.
  try {
    files::EnsurePrivateDir(options.state_dir);
  } catch (const IoError& error) {
    throw IoError(fmt::format("Cannot create the state directory {}: {}.",
                              options.state_dir.string(), error.message()));
  }
  const auto path = options.state_dir / "state.db";
  files::PrepareDatabaseFile(path);
  return path;
}

double SystemNow() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace

SqliteStateStore::SqliteStateStore(const StateStoreOptions& options, int target_version)
    : clock_(options.clock ? options.clock : SystemNow),
      db_(DatabasePath(options), options.busy_timeout) {
  // Creating the file, switching it to WAL and migrating it take locks that
  // SQLite's busy handler cannot always wait out when several processes open
  // a new state dir at once (one then saw "database is locked" for the whole
  // busy timeout). An flock serialises this short step across processes; the
  // kernel drops it if a process dies holding it.
  const auto lock_path = options.state_dir / "state.db.open-lock";
  const int fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    while (::flock(fd, LOCK_EX) != 0 && errno == EINTR) {
    }
  }
  try {
    PrepareSchema(db_, target_version);
  } catch (...) {
    if (fd >= 0) ::close(fd);
    throw;
  }
  if (fd >= 0) ::close(fd);
}

double SqliteStateStore::Now() const { return clock_(); }

int64_t SqliteStateStore::NowSeconds() const { return static_cast<int64_t>(clock_()); }

nlohmann::json SqliteStateStore::ParseJson(const std::string& text, std::string_view column) const {
  if (text.empty()) return nullptr;
  auto value = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) {
    throw StateError(
        CorruptDatabaseMessage(db_.path(), fmt::format("column {} holds invalid JSON", column)));
  }
  return value;
}

}  // namespace state_internal
}  // namespace skycore
