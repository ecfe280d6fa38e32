// sky._skycore.Sky: the native context of the cluster life-cycle SDK, and
// RequestWaiter, which waits for one request off the Python thread.
//
// Python never blocks inside native code for long: a RequestWaiter runs
// Sky::Get or Sky::StreamAndGet on its own C++ thread and collects the
// request's output; Python waits on it in short slices with the GIL released,
// writes the collected output itself between slices (no Python call ever
// happens on a worker thread) and checks for signals, so Ctrl-C (or a Jupyter
// interrupt) can cancel the request cleanly.
#include "skycore/sdk.h"

#include <pybind11/stl.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <mutex>
#include <thread>

#include "bindings.h"
#include "skycore/skycore.h"

namespace skycore::python {
namespace {

std::optional<std::string> GetEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

std::shared_ptr<Sky> MakeSky(const std::optional<std::string>& state_dir,
                             const std::optional<std::string>& bin_dir, size_t request_workers) {
  SkyOptions options = SkyOptions::FromEnvironment(GetEnv);
  if (state_dir && !state_dir->empty()) {
    options.state_dir = *state_dir;
    options.catalog_paths.state_dir = *state_dir;
  }
  if (bin_dir && !bin_dir->empty()) options.bin_dir = *bin_dir;
  if (request_workers > 0) options.request_workers = request_workers;
  py::gil_scoped_release release;
  return std::make_shared<Sky>(std::move(options));
}

// A task or a Dag as the "task" of a request body: a task's config, or a
// Dag's YAML (one document per task, so a chain keeps its order and name).
// Secrets are kept: the request runs with them.
nlohmann::json TaskArgument(const py::handle& value) {
  DumpOptions options;
  options.redact_secrets = false;
  if (py::isinstance<Task>(value)) {
    // Request bodies are plain (unordered) JSON; the config is ordered_json.
    return nlohmann::json::parse(
        TaskToConfig(*value.cast<std::shared_ptr<Task>>(), options).dump());
  }
  return DumpDagYaml(*value.cast<std::shared_ptr<Dag>>(), options);
}

// A request body from keyword arguments; a sky.Task or sky.Dag value becomes
// its config.
nlohmann::json RequestBody(const py::dict& body) {
  nlohmann::json out = nlohmann::json::object();
  for (auto item : body) {
    std::string key = py::str(item.first);
    if (py::isinstance<Task>(item.second) || py::isinstance<Dag>(item.second)) {
      out[key] = TaskArgument(item.second);
    } else {
      out[key] = ToJson(item.second, key);
    }
  }
  return out;
}

// One piece of a request's output, in order.
struct OutputEvent {
  enum class Kind { kWrite, kStep, kStepDone };
  Kind kind;
  std::string text;
};

// Waits for one request on its own thread; Python polls it.
class RequestWaiter {
 public:
  RequestWaiter(std::shared_ptr<Sky> sky, std::string request_id, bool stream)
      : shared_(std::make_shared<Shared>()) {
    auto shared = shared_;
    thread_ = std::thread([sky = std::move(sky), id = std::move(request_id), stream, shared] {
      CollectingSink sink(shared);
      nlohmann::json result;
      std::exception_ptr error;
      try {
        result = stream ? sky->StreamAndGet(id, sink) : sky->Get(id);
      } catch (...) {
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(shared->mutex);
      shared->result = std::move(result);
      shared->error = error;
      shared->done = true;
      shared->changed.notify_all();
    });
  }

  // A waiter dropped before its request finished (the caller gave up, after
  // cancelling it) lets the thread end on its own: it only holds shared state.
  ~RequestWaiter() {
    if (!thread_.joinable()) return;
    if (done()) {
      thread_.join();
    } else {
      thread_.detach();
    }
  }
  RequestWaiter(const RequestWaiter&) = delete;
  RequestWaiter& operator=(const RequestWaiter&) = delete;

  // Waits up to `timeout_s` for the request to finish or for output to show.
  // Returns true when the request has finished.
  bool Wait(double timeout_s) {
    std::unique_lock<std::mutex> lock(shared_->mutex);
    shared_->changed.wait_for(lock, std::chrono::duration<double>(timeout_s),
                              [&] { return shared_->done || !shared_->events.empty(); });
    return shared_->done;
  }

  bool done() {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    return shared_->done;
  }

  std::vector<OutputEvent> Drain() {
    std::lock_guard<std::mutex> lock(shared_->mutex);
    std::vector<OutputEvent> events;
    events.swap(shared_->events);
    return events;
  }

  // The request's result; rethrows its error. Only after done().
  nlohmann::json Result() {
    Join();
    if (shared_->error) std::rethrow_exception(shared_->error);
    return shared_->result;
  }

  void Join() {
    if (thread_.joinable()) thread_.join();
  }

  // The start of a UTF-8 sequence whose end has not been drained yet.
  std::string partial_utf8;

 private:
  struct Shared {
    std::mutex mutex;
    std::condition_variable changed;
    std::vector<OutputEvent> events;
    bool done = false;
    nlohmann::json result;
    std::exception_ptr error;
  };

  class CollectingSink : public OutputSink {
   public:
    explicit CollectingSink(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}
    void Write(std::string_view text) override { Push(OutputEvent::Kind::kWrite, text); }
    void Step(std::string_view name) override { Push(OutputEvent::Kind::kStep, name); }
    void StepDone() override { Push(OutputEvent::Kind::kStepDone, {}); }

   private:
    void Push(OutputEvent::Kind kind, std::string_view text) {
      std::lock_guard<std::mutex> lock(shared_->mutex);
      auto& events = shared_->events;
      // Consecutive writes merge, so a chatty job costs one Python call per slice.
      if (kind == OutputEvent::Kind::kWrite && !events.empty() &&
          events.back().kind == OutputEvent::Kind::kWrite) {
        events.back().text.append(text);
      } else {
        events.push_back({kind, std::string(text)});
      }
      shared_->changed.notify_all();
    }
    std::shared_ptr<Shared> shared_;
  };

  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

// The length of the longest prefix of `text` that does not end inside a UTF-8
// sequence (the rest arrives with the next chunk).
size_t CompleteUtf8Prefix(const std::string& text) {
  const size_t size = text.size();
  for (size_t back = 1; back <= 3 && back <= size; ++back) {
    const auto byte = static_cast<unsigned char>(text[size - back]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: look further back
    if ((byte & 0x80) == 0) return size;  // ASCII
    const size_t needed = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : 2;
    return back >= needed ? size : size - back;
  }
  return size;
}

const char* EventKindName(OutputEvent::Kind kind) {
  switch (kind) {
    case OutputEvent::Kind::kWrite:
      return "write";
    case OutputEvent::Kind::kStep:
      return "step";
    case OutputEvent::Kind::kStepDone:
      return "step_done";
  }
  return "write";
}

}  // namespace

void BindSdk(py::module_& m) {
  py::class_<RequestWaiter>(m, "RequestWaiter",
                            "Waits for one request on a native thread; see Sky.wait_for.")
      .def(
          "wait",
          [](RequestWaiter& waiter, double timeout_s) {
            bool done;
            {
              py::gil_scoped_release release;
              done = waiter.Wait(timeout_s);
            }
            // Ctrl-C (or a Jupyter interrupt) raises KeyboardInterrupt here.
            if (PyErr_CheckSignals() != 0) throw py::error_already_set();
            return done;
          },
          py::arg("timeout_s"),
          "Waits up to timeout_s for the request to finish or for new output; returns True "
          "once it has finished. Raises KeyboardInterrupt on a pending signal.")
      .def_property_readonly("done", &RequestWaiter::done)
      .def(
          "drain",
          [](RequestWaiter& waiter) {
            py::list out;
            for (auto& event : waiter.Drain()) {
              std::string text = std::move(event.text);
              if (event.kind == OutputEvent::Kind::kWrite) {
                text.insert(0, waiter.partial_utf8);
                const size_t complete = waiter.done() ? text.size() : CompleteUtf8Prefix(text);
                waiter.partial_utf8 = text.substr(complete);
                text.resize(complete);
                if (text.empty()) continue;
              }
              out.append(py::make_tuple(EventKindName(event.kind),
                                        py::bytes(text).attr("decode")("utf-8", "replace")));
            }
            return out;
          },
          "The output collected since the last call: [(kind, text)], kind 'write', 'step' or "
          "'step_done'.")
      .def(
          "result",
          [](RequestWaiter& waiter) {
            nlohmann::json result;
            {
              py::gil_scoped_release release;
              result = waiter.Result();
            }
            return FromJson(result);
          },
          "The request's result (waits for it); raises its error as a sky.exceptions class.")
      .def(
          "close",
          [](RequestWaiter& waiter) {
            py::gil_scoped_release release;
            waiter.Join();
          },
          "Waits for the native thread to end (call after the request was cancelled).");

  py::class_<Sky, std::shared_ptr<Sky>>(
      m, "Sky",
      "The native SDK context: state dir, catalog, enabled infras, executables, request "
      "workers. Nothing is global: two contexts with different state dirs are independent.")
      .def(py::init(&MakeSky), py::arg("state_dir") = py::none(), py::arg("bin_dir") = py::none(),
           py::arg("request_workers") = 0,
           "Options come from the environment ($SKYCORE_STATE_DIR, else ~/.sky; catalog paths; "
           "$SKYCORE_BIN_DIR); a non-empty state_dir or bin_dir given here wins.")
      .def_property_readonly("state_dir",
                             [](const Sky& sky) { return sky.options().state_dir.string(); })
      .def_property_readonly("bin_dir",
                             [](const Sky& sky) { return sky.options().bin_dir.string(); })
      .def(
          "enabled_infras",
          [](Sky& sky) {
            py::gil_scoped_release release;
            return sky.enabled_infras();
          },
          "Infras that may be used: 'local' plus those `sky check` enabled.")
      .def(
          "submit",
          [](Sky& sky, const std::string& name, const py::dict& body) {
            nlohmann::json json_body = RequestBody(body);
            py::gil_scoped_release release;
            return sky.Submit(name, json_body);
          },
          py::arg("name"), py::arg("body"),
          "Queues the operation `name` with the body's arguments (a sky.Task or sky.Dag value "
          "becomes its config); returns the request id at once.")
      .def(
          "wait_for",
          [](const std::shared_ptr<Sky>& sky, const std::string& request_id, bool stream) {
            return std::make_unique<RequestWaiter>(sky, request_id, stream);
          },
          py::arg("request_id"), py::arg("stream") = false,
          "Starts waiting for the request on a native thread; with `stream`, its output is "
          "collected for RequestWaiter.drain.")
      .def(
          "request_done",
          [](Sky& sky, const std::string& request_id) {
            py::gil_scoped_release release;
            return sky.RequestDone(request_id);
          },
          py::arg("request_id"))
      .def(
          "api_cancel",
          [](Sky& sky, const std::string& request_id) {
            py::gil_scoped_release release;
            return sky.ApiCancel(request_id);
          },
          py::arg("request_id"), "Cancels the request; False when it had already finished.")
      .def(
          "request_name",
          [](Sky& sky, const std::string& request_id) -> std::optional<std::string> {
            py::gil_scoped_release release;
            auto record = sky.state().GetRequest(request_id);
            if (!record) return std::nullopt;
            return record->name;
          },
          py::arg("request_id"), "The operation of a recorded request ('launch', ...), or None.");

  m.def("cluster_status_names", [] {
    std::vector<std::string> names;
    for (auto status : {ClusterStatus::kInit, ClusterStatus::kUp, ClusterStatus::kStopped}) {
      names.emplace_back(ClusterStatusName(status));
    }
    return names;
  });
  m.def("job_status_names", [] {
    std::vector<std::string> names;
    for (int status = 0; status <= static_cast<int>(JobStatus::kCancelled); ++status) {
      names.emplace_back(JobStatusName(static_cast<JobStatus>(status)));
    }
    return names;
  });
}

}  // namespace skycore::python
