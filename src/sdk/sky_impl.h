// Internals of skycore::Sky shared by its source files.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>

#include "backend/cluster_backend.h"
#include "infra/local/machine.h"
#include "skycore/sdk.h"

namespace skycore {

// One submitted request: its output so far and, once done, its result.
struct RequestState {
  std::string id;
  std::string name;
  std::mutex mutex;
  std::condition_variable changed;
  std::string output;
  bool done = false;
  nlohmann::json result;
  std::exception_ptr error;
  CancelToken cancel;
};

class Sky::Impl {
 public:
  explicit Impl(const SkyOptions& options) : options_(options) {}
  ~Impl();

  StateStore& state();
  std::shared_ptr<const Catalog> catalog();
  const backend::LocalMachine& machine();
  std::filesystem::path FindProgram(const std::string& name);
  // What the cluster backends need from the context (src/sdk/lifecycle.cc).
  backend::BackendContext MakeBackendContext();
  // The next catalog() is built anew (after `sky check` re-probed SSH pools).
  void InvalidateCatalog();

  // Requests.
  std::shared_ptr<RequestState> NewRequest(const std::string& name);
  std::shared_ptr<RequestState> FindRequest(const std::string& id);
  void Enqueue(std::function<void()> work);

 private:
  void WorkerLoop();

  const SkyOptions& options_;
  std::mutex mutex_;
  std::unique_ptr<StateStore> state_;
  std::shared_ptr<const Catalog> catalog_;
  std::optional<backend::LocalMachine> machine_;

  std::mutex requests_mutex_;
  std::map<std::string, std::shared_ptr<RequestState>> requests_;
  std::deque<std::function<void()>> queue_;
  std::condition_variable queue_changed_;
  std::vector<std::thread> workers_;
  bool stopping_ = false;
};

// Before a launch plans: checks the infras `dag` names that the last `sky
// check` did not enable (all of them when none was ever run), with a progress
// line, so that `--infra k8s` works without a `sky check` first.
void CheckInfrasOnDemand(Sky& sky, const Dag& dag, OutputSink& out);

// The work of a request named `name` with arguments `body`, validated now
// (InvalidTaskError for an unknown name or a malformed body).
using RequestWork = std::function<nlohmann::json(OutputSink&, const CancelToken&)>;
RequestWork BindRequest(Sky& sky, const std::string& name, const nlohmann::json& body);

// The body as recorded in the state store: a task's secrets are redacted.
nlohmann::json RedactedRequestBody(const nlohmann::json& body);

}  // namespace skycore
