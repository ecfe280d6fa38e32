// The seam between skycore's core and the infrastructures it runs on.
//
// An Infra is one kind of place clusters live: this machine, SSH node pools,
// Slurm clusters, Kubernetes contexts, a cloud. Everything that knows one
// infra lives in its folder, src/infra/<name>/: its descriptor (names,
// pricing rules, see descriptor.h), its credentials check, the offerings it
// adds to the catalog, its cluster backend and its `show-gpus` tables. The
// folders are listed once, in src/infra/list.h; the SDK, the CLI, the
// optimizer and the catalog reach infras only through this header and the
// descriptors, never by testing names.
//
// Cloud VMs add one more layer, src/infra/vm/provisioner.h: a cloud
// implements a Provisioner and shares the rest (failover, SSH-reachable
// nodes, agent bring-up) with every other cloud.
//
// The interface is internal: infras are built with skycore (their tests need
// the fixtures in this repository), so it may change with the core.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "backend/cluster_backend.h"
#include "infra/descriptor.h"
#include "skycore/catalog.h"
#include "skycore/sdk.h"

namespace skycore::vm {
class VmCloud;
}

namespace skycore::infra {

using backend::BackendContext;

// `sky show-gpus --infra <name>[/<rest>]` with no GPU named.
struct ShowGpusRequest {
  std::vector<std::string> path;  // what followed the infra's name, split at '/'
  bool refresh = false;           // ask again instead of reading a cache
  int64_t now = 0;                // Unix seconds
};

class Infra {
 public:
  virtual ~Infra() = default;

  virtual const InfraDescriptor& descriptor() const = 0;
  const std::string& name() const { return descriptor().name; }

  // What this infra offers now as catalog rows (SkyPilot's CSV columns), from
  // what this machine already knows: the inventory the last Check cached, or
  // the machine itself. Never touches the network. nullopt: nothing known.
  virtual std::optional<std::string> CachedOfferings(const BackendContext& context) const;

  // Whether the optimizer may place clusters here without asking first (the
  // last Check found it usable and cached what it found). No network.
  virtual bool Enabled(const BackendContext& context) const;

  // `sky check <name>`: asks the infra now (credentials, inventory) and caches
  // what CachedOfferings reads. Bounded in time; reports problems in the
  // result rather than throwing.
  virtual InfraCheck Check(const BackendContext& context) const;

  // The backend that runs clusters here. NotSupportedError for an infra
  // skycore cannot launch on yet.
  virtual std::unique_ptr<backend::ClusterBackend> MakeBackend(const BackendContext& context) const;

  // A VM cloud's API half (src/infra/vm/cluster.h); nullptr for the infras
  // that are not VM clouds.
  virtual std::shared_ptr<const vm::VmCloud> MakeVmCloud(const BackendContext& context) const;

  // Infras whose GPUs are asked of the infra itself print their own tables
  // and return the exit code; nullopt: the catalog's summary answers.
  virtual std::optional<int> ShowGpus(const ShowGpusRequest& request,
                                      const BackendContext& context) const;
  // Printed after the catalog's GPU summary for `--infra <name>[/<region>]`.
  virtual void ShowGpusDetail(const std::string& region, const BackendContext& context) const;
};

// Every infra skycore implements, in `sky check` order (src/infra/list.h).
const std::vector<const Infra*>& Infras();

// The infra of a name or alias ("kubernetes", "k8s"), case-insensitively;
// nullptr when skycore does not implement it.
const Infra* FindInfra(std::string_view name_or_alias);

// `base` with every infra's cached offerings merged in.
Catalog WithCachedOfferings(Catalog base, const BackendContext& context);

}  // namespace skycore::infra
