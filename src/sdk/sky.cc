// skycore::Sky: the context, its catalog and machine, requests, and the JSON
// forms of results.
#include <dlfcn.h>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <pwd.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>

#include "common/files.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "infra/infra.h"
#include "infra/kubernetes/kubeconfig.h"
#include "infra/local/machine.h"
#include "infra/slurm/config.h"
#include "sdk/sky_impl.h"
#include "skycore/yaml.h"

namespace skycore {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Written by every `sky check`: a launch before any check checks first.
fs::path CheckedMarker(const fs::path& state_dir) { return state_dir / "infras_checked"; }

fs::path DirectoryOfLibrary() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&DirectoryOfLibrary), &info) == 0 ||
      info.dli_fname == nullptr) {
    return {};
  }
  std::error_code ec;
  auto path = fs::canonical(info.dli_fname, ec);
  return ec ? fs::path() : path.parent_path();
}

std::string NewRequestId() {
  static thread_local std::mt19937_64 random(std::random_device{}());
  return fmt::format("{:016x}{:016x}", random(), random()).substr(0, 24);
}

// Output of a request: kept for StreamAndGet, and the caller's Step lines.
class RequestSink : public OutputSink {
 public:
  explicit RequestSink(std::shared_ptr<RequestState> request) : request_(std::move(request)) {}
  void Write(std::string_view text) override {
    if (text.empty()) return;
    std::lock_guard lock(request_->mutex);
    request_->output.append(text);
    request_->changed.notify_all();
  }

 private:
  std::shared_ptr<RequestState> request_;
};

}  // namespace

void CancelToken::ThrowIfCancelled(std::string_view what) const {
  if (cancelled()) throw CancelledError(fmt::format("{} was cancelled", what));
}

SkyOptions SkyOptions::FromEnvironment(const EnvLookup& lookup) {
  SkyOptions options;
  options.state_dir = StateStoreOptions::DefaultStateDir(lookup);
  options.catalog_paths = CatalogPaths::FromEnvironment(lookup);
  if (auto dir = lookup("SKYCORE_BIN_DIR"); dir && !dir->empty()) options.bin_dir = *dir;
  if (auto config = lookup("SKYCORE_SSH_CONFIG"); config && !config->empty()) {
    options.ssh_config = *config;
  } else if (auto home = lookup("HOME"); home && !home->empty()) {
    options.ssh_config = fs::path(*home) / ".ssh" / "config";
  }
  if (auto dir = lookup("SKYCORE_SSH_CONTROL_DIR"); dir && !dir->empty()) {
    options.ssh_control_dir = *dir;
  }
  options.kubeconfig_paths = kubernetes::KubeconfigPaths(lookup);
  options.slurm_config = slurm::DefaultConfigPath(lookup);
  return options;
}

// ------------------------------------------------------------------ Impl

Sky::Impl::~Impl() {
  {
    std::lock_guard lock(requests_mutex_);
    stopping_ = true;
    for (auto& [id, request] : requests_) request->cancel.Cancel();
  }
  queue_changed_.notify_all();
  for (auto& worker : workers_) worker.join();
}

StateStore& Sky::Impl::state() {
  std::lock_guard lock(mutex_);
  if (!state_) {
    if (options_.state_dir.empty()) {
      throw StateError("no state directory: set SKYCORE_STATE_DIR or HOME");
    }
    StateStoreOptions store_options;
    store_options.state_dir = options_.state_dir;
    state_ = OpenSqliteStateStore(store_options);
  }
  return *state_;
}

const backend::LocalMachine& Sky::Impl::machine() {
  std::lock_guard lock(mutex_);
  if (!machine_) {
    machine_ =
        backend::DiscoverLocalMachine([](const std::string& name) -> std::optional<std::string> {
          const char* value = std::getenv(name.c_str());
          if (value == nullptr) return std::nullopt;
          return std::string(value);
        });
  }
  return *machine_;
}

std::shared_ptr<const Catalog> Sky::Impl::catalog() {
  const auto& local = machine();
  std::lock_guard lock(mutex_);
  if (!catalog_) {
    // Each infra's rows as this machine last found them (no network here):
    // this machine, SSH pools, Kubernetes contexts, Slurm clusters.
    backend::BackendContext context;  // no agent or user needed for offerings
    context.options = options_;
    context.machine = [&local]() -> const backend::LocalMachine& { return local; };
    Catalog merged = infra::WithCachedOfferings(Catalog::Load(options_.catalog_paths), context);
    catalog_ = std::make_shared<const Catalog>(std::move(merged));
  }
  return catalog_;
}

void Sky::Impl::InvalidateCatalog() {
  std::lock_guard lock(mutex_);
  catalog_.reset();
}

fs::path Sky::Impl::FindProgram(const std::string& name) {
  std::vector<fs::path> dirs;
  if (!options_.bin_dir.empty()) dirs.push_back(options_.bin_dir);
  std::error_code ec;
  auto self = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back(self.parent_path());
  if (auto library = DirectoryOfLibrary(); !library.empty()) dirs.push_back(library);
  for (const auto& dir : dirs) {
    fs::path candidate = dir / name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  if (auto found = subprocess::FindInPath(name); !found.empty()) return found;
  throw CommandError(fmt::format(
      "cannot find the `{}` executable (looked in {}and $PATH); reinstall skycore, or set "
      "SKYCORE_BIN_DIR to the directory holding it",
      name, [&] {
        std::string text;
        for (const auto& dir : dirs) text += dir.string() + ", ";
        return text;
      }()));
}

std::shared_ptr<RequestState> Sky::Impl::NewRequest(const std::string& name) {
  auto request = std::make_shared<RequestState>();
  request->id = NewRequestId();
  request->name = name;
  std::lock_guard lock(requests_mutex_);
  requests_[request->id] = request;
  return request;
}

std::shared_ptr<RequestState> Sky::Impl::FindRequest(const std::string& id) {
  std::lock_guard lock(requests_mutex_);
  auto it = requests_.find(id);
  if (it != requests_.end()) return it->second;
  // Unique prefixes work, as SkyPilot's request ids do in `sky api`.
  std::shared_ptr<RequestState> match;
  for (auto& [key, request] : requests_) {
    if (!id.empty() && key.rfind(id, 0) == 0) {
      if (match) throw InvalidTaskError(fmt::format("request id '{}' is ambiguous", id));
      match = request;
    }
  }
  if (!match) {
    throw InvalidTaskError(fmt::format(
        "no request '{}' in this process (requests run in the process that submitted them)", id));
  }
  return match;
}

void Sky::Impl::Enqueue(std::function<void()> work) {
  std::lock_guard lock(requests_mutex_);
  queue_.push_back(std::move(work));
  if (workers_.size() < std::max<size_t>(1, options_.request_workers) && queue_.size() > 0) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
  queue_changed_.notify_one();
}

void Sky::Impl::WorkerLoop() {
  for (;;) {
    std::function<void()> work;
    {
      std::unique_lock lock(requests_mutex_);
      queue_changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;
      work = std::move(queue_.front());
      queue_.pop_front();
    }
    work();
  }
}

// ------------------------------------------------------------------ Sky

Sky::Sky(SkyOptions options)
    : options_(std::move(options)), impl_(std::make_unique<Impl>(options_)) {}
Sky::~Sky() = default;

StateStore& Sky::state() { return impl_->state(); }
std::shared_ptr<const Catalog> Sky::catalog() { return impl_->catalog(); }

std::vector<std::string> Sky::enabled_infras() {
  // What Check would say, without its probes: what the last `sky check`
  // cached for each infra.
  const auto context = impl_->MakeBackendContext();
  std::vector<std::string> enabled;
  for (const infra::Infra* each : infra::Infras()) {
    if (each->Enabled(context)) enabled.push_back(each->name());
  }
  return enabled;
}

std::vector<InfraCheck> Sky::Check(const std::vector<std::string>& infras) {
  // Names first: an unknown one fails before anything is probed.
  std::vector<std::string> wanted;
  for (const auto& name : infras) {
    const auto& known = KnownInfraNames();
    if (const auto* descriptor = infra::FindDescriptor(name)) {
      wanted.push_back(descriptor->name);
    } else if (std::find(known.begin(), known.end(), strings::Lower(name)) != known.end()) {
      wanted.push_back(strings::Lower(name));
    } else {
      throw InvalidTaskError(fmt::format("unknown infra '{}'; known infras: {}", name,
                                         strings::JoinQuoted(known, " and ")),
                             {}, strings::CloseMatches(name, known));
    }
  }
  auto is_wanted = [&](const std::string& name) {
    return wanted.empty() || std::find(wanted.begin(), wanted.end(), name) != wanted.end();
  };
  const auto context = impl_->MakeBackendContext();
  std::vector<InfraCheck> out;
  for (const infra::Infra* each : infra::Infras()) {
    if (!is_wanted(each->name())) continue;
    out.push_back(each->Check(context));
    impl_->InvalidateCatalog();  // the infra's rows come from what the check cached
  }
  std::error_code ec;
  fs::create_directories(options_.state_dir, ec);
  files::WriteAtomically(CheckedMarker(options_.state_dir), "");
  // Clouds SkyPilot knows that skycore has no folder for, when asked by name.
  for (const auto& name : wanted) {
    if (infra::FindDescriptor(name) == nullptr) {
      out.push_back({name, false, "launching on this infra is not supported by skycore yet"});
    }
  }
  return out;
}

void CheckInfrasOnDemand(Sky& sky, const Dag& dag, OutputSink& out) {
  const auto enabled = sky.enabled_infras();
  std::vector<std::string> to_check;
  for (const auto& task : dag.tasks()) {
    for (const Resources& alternative : task->resources().alternatives()) {
      const infra::Infra* named = infra::FindInfra(alternative.cloud());
      if (named == nullptr) continue;
      if (std::find(enabled.begin(), enabled.end(), named->name()) != enabled.end()) continue;
      if (std::find(to_check.begin(), to_check.end(), named->name()) != to_check.end()) continue;
      to_check.push_back(named->name());
    }
  }
  std::error_code ec;
  const bool never_checked = !fs::exists(CheckedMarker(sky.options().state_dir), ec);
  if (to_check.empty() && !never_checked) return;
  // As SkyPilot does: the infras a request names are checked on the spot,
  // and a first launch checks them all.
  out.Step(to_check.empty() ? std::string("Checking which infras are enabled (first launch)")
                            : fmt::format("Checking {} (not checked yet)",
                                          strings::JoinQuoted(to_check, " and ")));
  const auto checks = sky.Check(to_check);
  out.StepDone();
  std::vector<std::string> disabled;
  for (const auto& check : checks) {
    const bool asked = std::find(to_check.begin(), to_check.end(), check.infra) != to_check.end();
    if (asked && !check.enabled) {
      out.Write(
          fmt::format("{} is not enabled: {}\n", infra::DisplayName(check.infra), check.reason));
      disabled.push_back(fmt::format("{}: {}", infra::DisplayName(check.infra), check.reason));
    }
  }
  // A task that can only run on infras the check just found disabled fails
  // with their reasons, not with the optimizer's "nothing fits" (which would
  // suggest other infras the task did not ask for).
  bool runnable = false;
  for (const auto& task : dag.tasks()) {
    if (task->resources().alternatives().empty()) runnable = true;
    for (const Resources& alternative : task->resources().alternatives()) {
      const infra::Infra* named = infra::FindInfra(alternative.cloud());
      const bool off =
          named != nullptr && std::any_of(checks.begin(), checks.end(), [&](const InfraCheck& c) {
            return c.infra == named->name() && !c.enabled;
          });
      runnable = runnable || !off;
    }
  }
  if (!runnable && !disabled.empty()) {
    throw ResourcesUnavailableError(
        fmt::format("the task asks only for infras that are not enabled: {}; `sky check` says "
                    "what each needs",
                    fmt::join(disabled, "; ")));
  }
}

// -------------------------------------------------------------- requests

std::string Sky::Submit(const std::string& name, const json& body) {
  auto work = BindRequest(*this, name, body);  // validates before anything is queued
  auto request = impl_->NewRequest(name);
  RequestRecord record;
  record.request_id = request->id;
  record.name = name;
  record.cluster_name = body.is_object() ? body.value("cluster_name", "") : "";
  if (const char* user = std::getenv("USER")) record.user = user;
  record.body = RedactedRequestBody(body);
  record.pid = static_cast<int>(::getpid());
  state().CreateRequest(record);
  impl_->Enqueue([this, request, work = std::move(work)] {
    RequestSink sink(request);
    json result;
    std::exception_ptr error;
    RequestUpdate running;
    running.status = RequestStatus::kRunning;
    try {
      state().UpdateRequest(request->id, running);
      request->cancel.ThrowIfCancelled(fmt::format("request {} ({})", request->id, request->name));
      result = work(sink, request->cancel);
    } catch (...) {
      error = std::current_exception();
    }
    RequestUpdate done;
    if (!error) {
      done.status = RequestStatus::kSucceeded;
      done.return_value = result;
    } else {
      try {
        std::rethrow_exception(error);
      } catch (const CancelledError& e) {
        done.status = RequestStatus::kCancelled;
        done.error = RequestErrorJson(e, "RequestCancelled");
      } catch (const Error& e) {
        done.status = RequestStatus::kFailed;
        done.error = RequestErrorJson(e, ErrorCodeName(e.code()));
      } catch (const std::exception& e) {
        done.status = RequestStatus::kFailed;
        done.error = json{{"type", "InternalError"}, {"code", "Internal"}, {"message", e.what()}};
      }
    }
    try {
      state().UpdateRequest(request->id, done);
    } catch (const Error&) {
      // The result still reaches Get; only the record is stale.
    }
    std::lock_guard lock(request->mutex);
    request->result = std::move(result);
    request->error = error;
    request->done = true;
    request->changed.notify_all();
  });
  return request->id;
}

bool Sky::RequestDone(const std::string& request_id) {
  auto request = impl_->FindRequest(request_id);
  std::lock_guard lock(request->mutex);
  return request->done;
}

json Sky::Get(const std::string& request_id, double timeout_s) {
  auto request = impl_->FindRequest(request_id);
  std::unique_lock lock(request->mutex);
  auto done = [&] { return request->done; };
  if (timeout_s < 0) {
    request->changed.wait(lock, done);
  } else if (!request->changed.wait_for(
                 lock, std::chrono::milliseconds(static_cast<long>(timeout_s * 1000)), done)) {
    throw NetworkError(fmt::format("request {} ({}) is still running after {} s", request->id,
                                   request->name, timeout_s));
  }
  if (request->error) std::rethrow_exception(request->error);
  return request->result;
}

json Sky::StreamAndGet(const std::string& request_id, OutputSink& out) {
  auto request = impl_->FindRequest(request_id);
  size_t offset = 0;
  for (;;) {
    std::string chunk;
    bool done = false;
    {
      std::unique_lock lock(request->mutex);
      request->changed.wait(lock, [&] { return request->done || request->output.size() > offset; });
      chunk = request->output.substr(offset);
      offset = request->output.size();
      done = request->done;
    }
    if (!chunk.empty()) out.Write(chunk);
    if (done) break;
  }
  return Get(request_id);
}

bool Sky::ApiCancel(const std::string& request_id) {
  auto request = impl_->FindRequest(request_id);
  {
    std::lock_guard lock(request->mutex);
    if (request->done) return false;
  }
  request->cancel.Cancel();
  return true;
}

}  // namespace skycore
