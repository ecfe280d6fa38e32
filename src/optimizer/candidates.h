// Expanding one task's resources into scored options (internal to the optimizer).
#pragma once

#include <vector>

#include "catalog/query.h"
#include "skycore/optimizer.h"

namespace skycore::optimizer_internal {

// One feasible (alternative, catalog row) of a task, before materialising.
struct Option {
  catalog_internal::RowRef ref;
  size_t alternative = 0;
  bool use_spot = false;
  double hourly = 0;  // per node
  double hours = 1;
  double cost = 0;   // hourly × nodes × hours
  double score = 0;  // what the objective minimises (cost, or hours)
  const std::string& infra() const { return ref.table->infra; }
  uint32_t region_code() const { return ref.region; }
  const std::string& region() const { return ref.table->dict.at(region_code()); }
};

struct TaskOptions {
  std::vector<Option> all;  // every feasible option, by score then cost
  // One option per (infra, region) — the best there — among the options the
  // solver may choose (for `ordered` tasks: the first feasible alternative).
  std::vector<size_t> states;  // indices into `all`
};

TaskOptions ExpandTask(const Task& task, const Catalog& catalog, const OptimizeOptions& options);

Candidate Materialise(const Option& option, const Task& task);

// Throws ResourcesUnavailableError for a task with no feasible option,
// suggesting the nearest feasible requests.
[[noreturn]] void ThrowInfeasible(const Task& task, size_t task_index, const Catalog& catalog,
                                  const OptimizeOptions& options);

}  // namespace skycore::optimizer_internal
