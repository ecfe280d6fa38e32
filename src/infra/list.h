// The one list of infras skycore implements. Adding an infra means adding its
// folder src/infra/<name>/ and one entry here; nothing else names it.
//
// Every entry's folder defines `const InfraDescriptor& <Type>Descriptor()`
// (descriptor.cc: linked by everything that reads YAML or the catalog). A
// LAUNCHABLE infra's folder also defines `std::unique_ptr<Infra>
// Make<Type>Infra()` (infra.cc, with the rest of the folder); a CATALOG_ONLY
// infra is priced and planned from the catalog, and launching there says it is
// not supported yet.
//
// The order is the order of `sky check`.
#pragma once

// clang-format off
#define SKYCORE_INFRA_LIST(LAUNCHABLE, CATALOG_ONLY) \
  LAUNCHABLE(Local)                                  \
  LAUNCHABLE(Kubernetes)                             \
  LAUNCHABLE(Ssh)                                    \
  LAUNCHABLE(Slurm)                                  \
  LAUNCHABLE(Aws)                                    \
  LAUNCHABLE(Gcp)                                    \
  LAUNCHABLE(Azure)                                  \
  LAUNCHABLE(Lambda)                                 \
  LAUNCHABLE(Runpod)
// clang-format on

// X(Type) for every entry.
#define SKYCORE_INFRAS(X) SKYCORE_INFRA_LIST(X, X)
