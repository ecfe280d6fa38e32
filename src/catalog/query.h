// Catalog queries on the internal tables, without materialising strings.
#pragma once

#include <vector>

#include "catalog/table.h"
#include "skycore/resources.h"

namespace skycore::catalog_internal {

// One row of one table, with the two values callers sort and group by
// copied out of the columns (reading them from the columns missed the cache
// on a broad request).
struct RowRef {
  const InfraTable* table;
  uint32_t row;
  uint32_t region;  // table->region[row]
  double price;     // the hourly price the query asked for (spot or on-demand)
};

// Whether an accelerator count in the catalog equals a requested one.
inline bool SameCount(double a, double b) { return a > b ? a - b < 1e-3 : b - a < 1e-3; }

// The rows `resources` can run on, sorted by hourly price (spot price when
// use_spot), ties by infra, region, zone, instance type. Throws
// ResourcesUnavailableError with close matches when the accelerator or
// instance type is unknown to every table of the catalog. With
// `keep_per_region` > 0 only the cheapest that many rows of each (infra,
// region) are returned: a broad request can match most of a large catalog,
// and the optimizer never looks further than its failover depth.
std::vector<RowRef> FeasibleRows(const CatalogData& data, const Resources& resources,
                                 size_t keep_per_region = 0);

// Whether a request with no accelerators/instance type/cpus/memory gets the
// default shape (8+ vCPUs, 32+ GiB), as SkyPilot does.
bool UsesDefaultShape(const Resources& resources);

}  // namespace skycore::catalog_internal
