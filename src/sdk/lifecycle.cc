// skycore::Sky's cluster life cycle around launch (src/sdk/launch.cc): status
// and its refresh, queue, logs, cancel, stop, start, down, autostop. What
// differs between infras is behind backend::ClusterBackend.
#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>

#include "backend/cluster_backend.h"
#include "backend/sync.h"
#include "common/strings.h"
#include "sdk/cluster_ops.h"
#include "sdk/sky_impl.h"

namespace skycore {
namespace fs = std::filesystem;
using nlohmann::json;

namespace sdk_internal {
namespace {

constexpr auto kLockTimeout = std::chrono::minutes(30);

std::string AutostopHook(const fs::path& sky, const fs::path& state_dir, const std::string& name) {
  auto quote = [](const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
  };
  return fmt::format(
      "export SKYCORE_STATE_DIR={}; if [ \"$SKYPILOT_AUTOSTOP_DOWN\" = 1 ]; then exec {} down "
      "-y {}; else exec {} stop -y {}; fi",
      quote(state_dir.string()), quote(sky.string()), quote(name), quote(sky.string()),
      quote(name));
}

}  // namespace

std::string CurrentUser() {
  if (const char* user = std::getenv("USER"); user && *user) return user;
  if (const passwd* entry = ::getpwuid(::getuid())) return entry->pw_name;
  return "user";
}

ClusterLock LockCluster(const fs::path& state_dir, const std::string& name, OutputSink& out) {
  if (auto lock = ClusterLock::TryAcquire(state_dir, name)) return std::move(*lock);
  out.Step(fmt::format("Waiting for another operation on cluster '{}' to finish", name));
  auto lock = ClusterLock::Acquire(state_dir, name, kLockTimeout);
  out.StepDone();
  return lock;
}

ClusterRecord RequireCluster(StateStore& state, const std::string& name) {
  auto record = state.GetCluster(name);
  if (!record) {
    std::vector<std::string> names;
    for (const auto& cluster : state.ListClusters()) names.push_back(cluster.name);
    auto close = strings::CloseMatches(name, names);
    throw ClusterDoesNotExist(
        fmt::format("cluster '{}' does not exist{}", name,
                    names.empty() ? "; `sky status` lists none"
                                  : "; `sky status` lists the clusters there are"),
        {}, close);
  }
  return *record;
}

void RequireUp(const ClusterRecord& record, const std::string& action) {
  if (record.status == ClusterStatus::kUp) return;
  throw ClusterNotUpError(fmt::format(
      "cluster '{}' is {}, so it cannot {}; run `sky start {}` (or `sky launch -c {}`) first",
      record.name, ClusterStatusName(record.status), action, record.name, record.name));
}

}  // namespace sdk_internal

std::string ClusterOps::Hook(const std::string& name) {
  try {
    return sdk_internal::AutostopHook(impl_.FindProgram("sky"), sky_.options().state_dir, name);
  } catch (const Error&) {
    return {};  // without a `sky` executable autostop cannot act; the agent still counts idleness
  }
}

using sdk_internal::CurrentUser;
using sdk_internal::kAgentTimeoutS;
using sdk_internal::LockCluster;
using sdk_internal::RequireCluster;
using sdk_internal::RequireUp;

backend::BackendContext Sky::Impl::MakeBackendContext() {
  backend::BackendContext context;
  context.options = options_;
  context.user = CurrentUser();
  context.machine = [this]() -> const backend::LocalMachine& { return machine(); };
  try {
    context.skyletd = FindProgram("skyletd");
  } catch (const Error&) {
    // Only bringing an agent up needs it; that step says it is missing.
  }
  return context;
}

// ------------------------------------------------------------------ status

std::vector<ClusterRecord> Sky::Status(const std::vector<std::string>& names, bool refresh) {
  ClusterFilter filter;
  filter.name_patterns = names;
  auto records = state().ListClusters(filter);
  if (!refresh) return records;
  std::vector<ClusterRecord> out;
  for (auto& record : records) {
    // A cluster someone is launching or stopping right now is left alone.
    auto lock = ClusterLock::TryAcquire(options_.state_dir, record.name);
    if (!lock) {
      out.push_back(record);
      continue;
    }
    ClusterOps ops(*this, *impl_);
    auto backend = ops.Backend(record);
    if (!backend->Exists(record.handle)) {
      // Its nodes are gone (terminated behind skycore's back, or by the
      // cluster's own autostop): what they leave on the infra goes too.
      NullSink quiet;
      try {
        backend->Teardown(record.handle, quiet);
      } catch (const Error&) {
        // The record goes all the same; `sky down` cannot do more.
      }
      state().RemoveCluster(record.name);
      continue;
    }
    if (record.status != ClusterStatus::kStopped && backend->AllNodesStopped(record.handle)) {
      // Stopped by autostop or a console, or by the infra itself (a spot
      // eviction): its reason is kept for `sky status` to show. The handle
      // goes first (its update reads INIT), the status right after.
      const std::string reason = backend->StoppedByInfraReason(record.handle);
      if (!reason.empty()) {
        ClusterUpdate update;
        update.name = record.name;
        update.handle = record.handle;
        update.handle["status_reason"] = reason;
        update.launched_resources = record.launched_resources;
        update.num_nodes = record.num_nodes;
        update.is_launch = false;
        state().AddOrUpdateCluster(update);
      }
      state().SetClusterStatus(record.name, ClusterStatus::kStopped);
    } else if (record.status == ClusterStatus::kUp ||
               (record.status == ClusterStatus::kInit && record.ever_up)) {
      // INIT after a relaunch that failed half-way: UP again once its nodes
      // and agent answer, as SkyPilot's refresh does. A cluster never UP is
      // left to its next launch, which cleans up and provisions it again.
      const bool present = backend->AllNodesPresent(record.handle);
      const bool healthy = present && backend->AgentAlive(record.handle);
      const ClusterStatus now = healthy ? ClusterStatus::kUp : ClusterStatus::kInit;
      if (now != record.status) state().SetClusterStatus(record.name, now);
      // What the infra says happened to the nodes it lost, kept in the
      // handle for `sky status` to show ("i-0ab: terminated (spot ...)").
      const std::string reason = present ? "" : backend->LostNodesReason(record.handle);
      if (reason != record.handle.value("status_reason", "")) {
        ClusterUpdate update;
        update.name = record.name;
        update.handle = record.handle;
        if (reason.empty()) {
          update.handle.erase("status_reason");
        } else {
          update.handle["status_reason"] = reason;
        }
        update.launched_resources = record.launched_resources;
        update.num_nodes = record.num_nodes;
        update.is_launch = false;
        update.ready = now == ClusterStatus::kUp;
        state().AddOrUpdateCluster(update);
      }
    }
    if (auto updated = state().GetCluster(record.name)) out.push_back(*updated);
  }
  return out;
}

std::vector<JobRecord> Sky::Queue(const std::string& cluster, bool all) {
  ClusterRecord record = RequireCluster(state(), cluster);
  RequireUp(record, "show its job queue");
  ClusterOps ops(*this, *impl_);
  return ops.Client(record).queue(all);
}

std::vector<JobRecord> Sky::JobStatuses(const std::string& cluster,
                                        const std::vector<int64_t>& job_ids) {
  ClusterRecord record = RequireCluster(state(), cluster);
  RequireUp(record, "report job statuses");
  ClusterOps ops(*this, *impl_);
  return ops.Client(record).job_status(job_ids);
}

std::vector<int64_t> Sky::Cancel(const std::string& cluster, const std::vector<int64_t>& job_ids,
                                 bool all) {
  ClusterRecord record = RequireCluster(state(), cluster);
  RequireUp(record, "cancel jobs");
  ClusterOps ops(*this, *impl_);
  AgentClient client = ops.Client(record);
  if (all) return client.cancel_all();
  if (!job_ids.empty()) return client.cancel(job_ids);
  // No ids: the latest job; none at all is nothing to do, as in SkyPilot.
  auto latest = client.queue(true);
  if (latest.empty()) return {};
  return client.cancel({latest.front().job_id});
}

JobStatus Sky::TailLogs(const std::string& cluster, std::optional<int64_t> job_id, bool follow,
                        OutputSink& out, const CancelToken& cancel) {
  ClusterRecord record = RequireCluster(state(), cluster);
  RequireUp(record, "show job logs");
  ClusterOps ops(*this, *impl_);
  AgentClient client = ops.Client(record);
  int64_t id = job_id ? *job_id : client.job_status({}).at(0).job_id;
  return client.tail_logs(id, follow, [&](const std::string& chunk) {
    if (!chunk.empty()) out.Write(chunk);
    return !cancel.cancelled();
  });
}

fs::path Sky::DownloadLogs(const std::string& cluster, std::optional<int64_t> job_id,
                           const fs::path& local_dir) {
  ClusterRecord record = RequireCluster(state(), cluster);
  RequireUp(record, "download job logs");
  ClusterOps ops(*this, *impl_);
  AgentClient client = ops.Client(record);
  int64_t id = job_id ? *job_id : client.job_status({}).at(0).job_id;
  fs::path source = client.get_log_dir(id);
  fs::path root = local_dir;
  if (root.empty()) root = backend::ExpandUser("~/sky_logs") / cluster;
  fs::path destination = root / source.filename();
  ops.Backend(record)->FetchDirectory(record.handle, source.string(), destination);
  return destination;
}

// ------------------------------------------------------------ stop / start / down

void Sky::Stop(const std::string& name, OutputSink& out) {
  ClusterLock lock = LockCluster(options_.state_dir, name, out);
  ClusterRecord record = RequireCluster(state(), name);
  if (record.status == ClusterStatus::kStopped) return;  // idempotent, as SkyPilot
  auto backend = ClusterOps(*this, *impl_).Backend(record);
  out.Step(fmt::format("Stopping cluster '{}'", name));
  backend->Stop(record.handle);
  state().SetClusterStatus(name, ClusterStatus::kStopped);
  out.StepDone();
}

ClusterRecord Sky::Start(const std::string& name, OutputSink& out,
                         std::optional<int> idle_minutes_to_autostop, bool down) {
  ClusterLock lock = LockCluster(options_.state_dir, name, out);
  ClusterRecord record = RequireCluster(state(), name);
  ClusterOps ops(*this, *impl_);
  auto backend = ops.Backend(record);
  if (idle_minutes_to_autostop && !backend->SupportsAutostop()) {
    throw NotSupportedError(fmt::format(
        "autostop is supported on the local infra and the clouds only; cluster '{}' runs {}", name,
        backend->Where(record.handle)));
  }
  out.Step(fmt::format("Starting cluster '{}'", name));
  json handle = record.handle;
  backend->Up(handle, ops.Hook(name), out,
              ops.Recorder(name, record.launched_resources, record.num_nodes));
  ClusterUpdate update;
  update.name = name;
  update.ready = true;
  update.handle = handle;
  update.launched_resources = record.launched_resources;
  update.num_nodes = record.num_nodes;
  update.last_use = fmt::format("sky start {}", name);
  auto updated = state().AddOrUpdateCluster(update);
  AgentClient client(backend->AgentSocket(handle), kAgentTimeoutS);
  if (idle_minutes_to_autostop) {
    client.set_autostop(*idle_minutes_to_autostop, down);
    state().SetClusterAutostop(name, *idle_minutes_to_autostop, down);
    updated = *state().GetCluster(name);
  }
  out.StepDone();
  return updated;
}

void Sky::Down(const std::string& name, OutputSink& out, bool purge) {
  ClusterLock lock = LockCluster(options_.state_dir, name, out);
  ClusterRecord record = RequireCluster(state(), name);
  out.Step(fmt::format("Terminating cluster '{}'", name));
  try {
    ClusterOps(*this, *impl_).Backend(record)->Teardown(record.handle, out);
  } catch (const Error&) {
    if (!purge) throw;
  }
  state().RemoveCluster(name);
  // Storage the cluster's launches made and did not ask to keep goes with it.
  for (const auto& storage : state().ListStorage()) {
    if (storage.persistent || storage.cluster_name != name) continue;
    try {
      StorageDelete(storage.name, out);
    } catch (const Error& e) {
      // The cluster is gone either way; the record stays for a later try.
      out.Write(fmt::format("Deleting storage {} failed: {} (retry with `sky storage delete {}`)\n",
                            storage.name, e.what(), storage.name));
    }
  }
  out.StepDone();
}

void Sky::Autostop(const std::string& name, int idle_minutes, bool down,
                   const std::string& wait_for) {
  ClusterRecord record = RequireCluster(state(), name);
  RequireUp(record, "set autostop");
  ClusterOps ops(*this, *impl_);
  const auto backend = ops.Backend(record);
  if (!backend->SupportsAutostop()) {
    throw NotSupportedError(fmt::format(
        "autostop is supported on the local infra and the clouds only; cluster '{}' runs {}", name,
        backend->Where(record.handle)));
  }
  if (idle_minutes >= 0 && !down && !backend->SupportsStop()) {
    throw NotSupportedError(fmt::format(
        "cluster '{}' runs {}, where nodes cannot be stopped: autostop needs --down there (tear "
        "the cluster down when idle)",
        name, backend->Where(record.handle)));
  }
  ops.Client(record).set_autostop(idle_minutes, down, wait_for);
  state().SetClusterAutostop(name, idle_minutes, down);
}

}  // namespace skycore
