// `sky check kubernetes`.
#pragma once

#include "skycore/sdk.h"

namespace skycore {

// Reads the kubeconfig, takes the allowed contexts' inventory and caches it
// for the catalog (kubernetes::CachedCatalogCsv).
InfraCheck CheckKubernetes(const SkyOptions& options);

}  // namespace skycore
