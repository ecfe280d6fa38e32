// skycore/optimizer.h — choose where each task of a Dag runs.
//
// Optimize() expands every task's resources (an `ordered` list or an `any_of`
// set) into concrete candidates from the Catalog — one per infra, region,
// zone and instance type that fits — drops disabled infras and blocked
// resources, scores each candidate and picks one per task:
//   COST: hourly price (spot price when use_spot) × num_nodes × estimated
//         hours (1 h without an estimator), plus egress between tasks placed
//         in different infras or regions (a task's `outputs:` sizes, GB).
//   TIME: estimated hours; ties go to the cheaper candidate.
// A single task takes its best candidate; a chain is solved by dynamic
// programming over (infra, region) states; any other DAG by an exact
// depth-first branch-and-bound in topological order (bound: the partial
// score plus every unplaced task's cheapest standalone score, which never
// overestimates because egress is never negative).
//
// `ordered` alternatives: the first alternative with any feasible candidate
// is chosen; later ones only appear as failover candidates. `any_of`: the
// cheapest candidate of any alternative wins. Fractional accelerator counts
// are feasible only on infras whose descriptor allows sharing a device, or
// on catalog rows with exactly that fraction.
//
// Nothing feasible for a task → ResourcesUnavailableError naming the task and
// request, with the nearest feasible alternatives as suggestions.
// Optimize() is a pure function of its inputs and is thread-safe.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "skycore/catalog.h"
#include "skycore/dag.h"

namespace skycore {

enum class OptimizeTarget { kCost, kTime };

// One concrete place a task could run.
struct Candidate {
  size_t alternative = 0;  // index into the task's resources().alternatives()
  std::string infra;
  std::string region;
  std::string zone;  // empty when the infra has no zones
  std::string instance_type;
  std::string accelerator_name;  // empty for CPU-only
  double accelerator_count = 0;
  double vcpus = 0;
  double memory_gib = 0;
  bool use_spot = false;
  double hourly_price = 0;  // USD per node-hour
  double hours = 1;         // estimated run time
  double cost = 0;          // hourly_price × num_nodes × hours

  // The task's alternative pinned to this place ("aws/us-east-1/us-east-1a",
  // instance type, accelerators), ready for the provisioner.
  Resources ToResources(const Task& task) const;
  // "aws/us-east-1/us-east-1a" (zone omitted when empty).
  std::string InfraString() const;
};

struct TaskPlan {
  size_t task_index = 0;  // index into dag.tasks()
  Candidate chosen;
  // Where to go when `chosen` has no capacity, in order: other zones of the
  // same region, other regions of the same infra, other infras (cheapest
  // first within each step); for `ordered` tasks later alternatives follow.
  std::vector<Candidate> failover;
  // The cheapest candidate per infra and alternative, cheapest first: the
  // rows of the optimizer table.
  std::vector<Candidate> considered;
  double egress_cost_in = 0;  // USD, data moved in from upstream tasks
};

struct Plan {
  OptimizeTarget target = OptimizeTarget::kCost;
  std::vector<TaskPlan> tasks;  // in topological order
  double compute_cost = 0;      // USD
  double egress_cost = 0;       // USD
  double total_cost() const { return compute_cost + egress_cost; }
  // The plan of dag.tasks()[task_index]; throws InternalError when absent.
  const TaskPlan& ForTask(size_t task_index) const;
};

struct OptimizeOptions {
  OptimizeTarget target = OptimizeTarget::kCost;
  // Infras that may be used; empty = every infra in the catalog.
  std::vector<std::string> enabled_infras;
  // A candidate is dropped when it matches any of these: every field set in
  // a blocked Resources (cloud, region, zone, instance_type, accelerators)
  // must equal the candidate's.
  std::vector<Resources> blocked;
  size_t max_failover = 32;
  // Estimated run time in hours of a task on a candidate; unset = 1 h.
  std::function<double(const Task&, const Candidate&)> estimate_hours;
};

// Throws ResourcesUnavailableError when some task has no feasible candidate.
Plan Optimize(const Dag& dag, const Catalog& catalog, const OptimizeOptions& options = {});

// The optimizer table of `sky launch --dryrun` / `sky optimize`, one block per
// task: INFRA  INSTANCE  vCPUs  Mem(GB)  GPUS  COST ($)  CHOSEN.
// `unicode_check` selects the check mark (✔) or an ASCII "*".
std::string FormatOptimizerTable(const Dag& dag, const Plan& plan, bool unicode_check = true);

}  // namespace skycore
