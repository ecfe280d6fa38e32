// What the files of skycore::Sky's cluster life cycle share (launch.cc,
// lifecycle.cc, reports.cc): the checks of a cluster's record, its lock, and
// ClusterOps, which reaches a cluster's backend and agent.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "backend/cluster_backend.h"
#include "sdk/sky_impl.h"

namespace skycore::sdk_internal {

// How long a call to a cluster's agent may take.
inline constexpr double kAgentTimeoutS = 30;

std::string CurrentUser();

// Takes the cluster's lock, saying on `out` that it waits when another
// operation holds it.
ClusterLock LockCluster(const std::filesystem::path& state_dir, const std::string& name,
                        OutputSink& out);

// The cluster's record; ClusterDoesNotExist, with close names, when none.
ClusterRecord RequireCluster(StateStore& state, const std::string& name);

// ClusterNotUpError saying how to bring the cluster up, unless it is UP.
void RequireUp(const ClusterRecord& record, const std::string& action);

}  // namespace skycore::sdk_internal

namespace skycore {

// The pieces of a cluster operation that need the context (a friend of Sky).
class ClusterOps {
 public:
  ClusterOps(Sky& sky, Sky::Impl& impl) : sky_(sky), impl_(impl) {}

  // The command the agent runs when autostop fires.
  std::string Hook(const std::string& name);

  backend::BackendContext Context() { return impl_.MakeBackendContext(); }

  std::unique_ptr<backend::ClusterBackend> Backend(const ClusterRecord& record) {
    return backend::BackendForHandle(record.handle, Context());
  }

  // Persists a handle the backend changed while bringing the cluster up (the
  // cluster is INIT from then on); one it only confirmed changes nothing, so
  // an UP cluster stays UP while a relaunch re-syncs it.
  backend::RecordHandle Recorder(const std::string& name, const nlohmann::json& launched,
                                 int num_nodes) {
    StateStore* store = &sky_.state();
    return [store, name, launched, num_nodes](const nlohmann::json& handle) {
      ClusterUpdate update;
      update.name = name;
      update.handle = handle;
      update.launched_resources = launched;
      update.num_nodes = num_nodes;
      store->RecordClusterHandle(update);
    };
  }

  AgentClient Client(const ClusterRecord& record) {
    return AgentClient(Backend(record)->AgentSocket(record.handle), sdk_internal::kAgentTimeoutS);
  }

  Sky& sky_;
  Sky::Impl& impl_;
};

}  // namespace skycore
