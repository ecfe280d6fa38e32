// The ClusterBackend every VM cloud shares (see cluster.h).
#include "infra/vm/cluster.h"

#include <fmt/format.h>

#include "skycore/error.h"

namespace skycore::vm {

std::unique_ptr<backend::ClusterBackend> MakeVmBackend(const backend::BackendContext&,
                                                       std::shared_ptr<const VmCloud> cloud) {
  throw NotSupportedError(fmt::format("launching on {} is not supported by skycore yet",
                                      cloud->descriptor().display_name));
}

int RunCloudStop(const std::string&, bool) { return 2; }

}  // namespace skycore::vm
