// Optimize(): per-task options → a plan for the whole Dag.
#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <numeric>
#include <set>

#include "infra/descriptor.h"
#include "optimizer/candidates.h"
#include "skycore/error.h"

namespace skycore {

using optimizer_internal::Option;
using optimizer_internal::TaskOptions;

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// Data a task hands to its downstream tasks: the sizes under `outputs:` (GB).
double OutputGb(const Task& task) {
  const auto& extra = task.extra();
  if (!extra.is_object() || !extra.contains("outputs")) return 0;
  const auto& outputs = extra["outputs"];
  double total = 0;
  if (outputs.is_object()) {
    for (const auto& [path, size] : outputs.items()) {
      if (size.is_number()) total += size.get<double>();
    }
  } else if (outputs.is_number()) {
    total = outputs.get<double>();
  }
  return total;
}

double EgressCost(double gb, const Option& from, const Option& to) {
  if (gb <= 0) return 0;
  return gb * infra::EgressUsdPerGb(from.infra(), from.region(), to.infra(), to.region());
}

struct Problem {
  const Dag& dag;
  OptimizeTarget target;
  std::vector<TaskOptions> options;  // by task index
  std::vector<double> output_gb;     // by task index
  // Per task and state: where it is and what leaving it costs, precomputed
  // because the solvers evaluate every pair of states on every edge.
  struct Place {
    const void* table;
    uint32_t region;
    double internet_usd_per_gb;
    double inter_region_usd_per_gb;
  };
  std::vector<std::vector<Place>> places;
  void IndexPlaces() {
    for (const TaskOptions& task : options) {
      places.emplace_back();
      for (size_t index : task.states) {
        const Option& o = task.all[index];
        const auto& descriptor = infra::DescribeInfra(o.infra());
        places.back().push_back(Place{o.ref.table, o.region_code(),
                                      descriptor.egress_internet_usd_per_gb,
                                      descriptor.egress_inter_region_usd_per_gb});
      }
    }
  }
  // Egress enters the objective only for COST.
  double Edge(size_t up, size_t up_state, size_t down, size_t down_state) const {
    if (target != OptimizeTarget::kCost || output_gb[up] <= 0) return 0;
    const Place& a = places[up][up_state];
    const Place& b = places[down][down_state];
    if (a.table == b.table) {
      return a.region == b.region ? 0 : output_gb[up] * a.inter_region_usd_per_gb;
    }
    return output_gb[up] * a.internet_usd_per_gb;
  }
  double Node(size_t task, size_t state) const {
    return options[task].all[options[task].states[state]].score;
  }
};

// Chain: DP over the states of each task in order. Returns a state per task.
std::vector<size_t> SolveChain(const Problem& p, const std::vector<size_t>& order) {
  const size_t n = order.size();
  std::vector<std::vector<double>> best(n);
  std::vector<std::vector<size_t>> from(n);
  // The upstream task's states as flat arrays, with what leaving each costs
  // (the same products as Problem::Edge), for the inner loop over every pair.
  std::vector<const void*> up_table;
  std::vector<uint32_t> up_region;
  std::vector<double> up_internet, up_inter_region;
  for (size_t i = 0; i < n; ++i) {
    const size_t task = order[i];
    const size_t states = p.options[task].states.size();
    best[i].assign(states, kInf);
    from[i].assign(states, 0);
    if (i == 0) {
      for (size_t s = 0; s < states; ++s) best[i][s] = p.Node(task, s);
      continue;
    }
    const size_t prev = order[i - 1];
    const std::vector<double>& prev_best = best[i - 1];
    const size_t prev_states = prev_best.size();
    const bool egress = p.target == OptimizeTarget::kCost && p.output_gb[prev] > 0;
    up_table.resize(prev_states);
    up_region.resize(prev_states);
    up_internet.resize(prev_states);
    up_inter_region.resize(prev_states);
    for (size_t r = 0; r < prev_states; ++r) {
      const Problem::Place& a = p.places[prev][r];
      up_table[r] = a.table;
      up_region[r] = a.region;
      up_internet[r] = egress ? p.output_gb[prev] * a.internet_usd_per_gb : 0;
      up_inter_region[r] = egress ? p.output_gb[prev] * a.inter_region_usd_per_gb : 0;
    }
    for (size_t s = 0; s < states; ++s) {
      const Problem::Place& b = p.places[task][s];
      const double node = p.Node(task, s);
      double best_value = kInf;
      size_t best_from = 0;
      for (size_t r = 0; r < prev_states; ++r) {
        const double edge = up_table[r] != b.table     ? up_internet[r]
                            : up_region[r] != b.region ? up_inter_region[r]
                                                       : 0.0;
        const double value = prev_best[r] + edge + node;
        if (value < best_value) {
          best_value = value;
          best_from = r;
        }
      }
      best[i][s] = best_value;
      from[i][s] = best_from;
    }
  }
  std::vector<size_t> choice(p.dag.size(), 0);
  size_t state = static_cast<size_t>(std::min_element(best[n - 1].begin(), best[n - 1].end()) -
                                     best[n - 1].begin());
  for (size_t i = n; i-- > 0;) {
    choice[order[i]] = state;
    state = from[i][state];
  }
  return choice;
}

// General DAG: exact depth-first branch-and-bound in topological order.
class BranchAndBound {
 public:
  BranchAndBound(const Problem& p, std::vector<size_t> order)
      : p_(p), order_(std::move(order)), choice_(p.dag.size(), 0), best_choice_(choice_) {
    // Suffix sums of each task's cheapest standalone score: an admissible bound.
    suffix_min_.assign(order_.size() + 1, 0);
    for (size_t i = order_.size(); i-- > 0;) {
      suffix_min_[i] = suffix_min_[i + 1] + p_.Node(order_[i], 0);  // states are best-first
    }
    for (size_t task = 0; task < p.dag.size(); ++task) upstream_.push_back(p.dag.upstream_of(task));
  }
  std::vector<size_t> Solve() {
    Visit(0, 0);
    return best_choice_;
  }

 private:
  void Visit(size_t depth, double partial) {
    if (partial + suffix_min_[depth] >= best_value_) return;
    if (depth == order_.size()) {
      best_value_ = partial;
      best_choice_ = choice_;
      return;
    }
    const size_t task = order_[depth];
    for (size_t s = 0; s < p_.options[task].states.size(); ++s) {
      double value = partial + p_.Node(task, s);
      for (size_t up : upstream_[task]) value += p_.Edge(up, choice_[up], task, s);
      choice_[task] = s;
      Visit(depth + 1, value);
    }
  }

  const Problem& p_;
  std::vector<size_t> order_;
  std::vector<size_t> choice_, best_choice_;
  std::vector<double> suffix_min_;
  std::vector<std::vector<size_t>> upstream_;
  double best_value_ = kInf;
};

// Failover order for a chosen option: same region (other zones), same infra
// (other regions), other infras; `ordered` alternatives after the chosen one.
std::vector<Candidate> FailoverFor(const Task& task, const TaskOptions& options,
                                   const Option& chosen, size_t limit) {
  auto tier = [&](const Option& o) {
    int base = 0;
    if (task.resources().is_ordered()) {
      base = o.alternative == chosen.alternative ? 0 : 3 * static_cast<int>(o.alternative + 1);
    }
    if (o.ref.table == chosen.ref.table && o.region_code() == chosen.region_code()) return base;
    if (o.ref.table == chosen.ref.table) return base + 1;
    return base + 2;
  };
  // Each tier in option order: what a stable sort by tier gives, computing
  // each tier once instead of in every comparison (a broad request has
  // thousands of options).
  std::vector<int> tiers(options.all.size());
  std::vector<int> tier_values;  // a few distinct ones
  for (size_t i = 0; i < options.all.size(); ++i) {
    tiers[i] = tier(options.all[i]);
    if (std::find(tier_values.begin(), tier_values.end(), tiers[i]) == tier_values.end()) {
      tier_values.push_back(tiers[i]);
    }
  }
  std::sort(tier_values.begin(), tier_values.end());
  std::vector<const Option*> rest;
  for (int value : tier_values) {
    for (size_t i = 0; i < options.all.size(); ++i) {
      const Option& o = options.all[i];
      if (tiers[i] != value) continue;
      if (o.ref.table == chosen.ref.table && o.ref.row == chosen.ref.row &&
          o.alternative == chosen.alternative) {
        continue;
      }
      rest.push_back(&o);
    }
  }
  std::vector<Candidate> out;
  std::set<std::tuple<const void*, uint32_t, uint32_t, uint32_t>> seen;
  for (const Option* o : rest) {
    if (out.size() >= limit) break;
    const auto& t = *o->ref.table;
    if (!seen.emplace(o->ref.table, t.region[o->ref.row], t.zone[o->ref.row],
                      t.instance_type[o->ref.row])
             .second) {
      continue;
    }
    out.push_back(optimizer_internal::Materialise(*o, task));
  }
  return out;
}

std::vector<Candidate> ConsideredFor(const Task& task, const TaskOptions& options) {
  std::vector<Candidate> out;
  // (infra table, alternative): a handful, against thousands of options.
  std::vector<std::pair<const void*, size_t>> seen;
  for (const Option& o : options.all) {
    const std::pair<const void*, size_t> key(o.ref.table, o.alternative);
    if (std::find(seen.begin(), seen.end(), key) == seen.end()) {
      seen.push_back(key);
      out.push_back(optimizer_internal::Materialise(o, task));
    }
  }
  return out;
}

}  // namespace

const TaskPlan& Plan::ForTask(size_t task_index) const {
  for (const auto& task : tasks) {
    if (task.task_index == task_index) return task;
  }
  throw InternalError(fmt::format("the plan has no task #{}", task_index));
}

Plan Optimize(const Dag& dag, const Catalog& catalog, const OptimizeOptions& options) {
  Plan plan;
  plan.target = options.target;
  if (dag.size() == 0) return plan;
  Problem problem{dag, options.target, {}, {}, {}};
  for (size_t i = 0; i < dag.size(); ++i) {
    const Task& task = *dag.tasks()[i];
    problem.options.push_back(optimizer_internal::ExpandTask(task, catalog, options));
    if (problem.options.back().states.empty()) {
      optimizer_internal::ThrowInfeasible(task, i, catalog, options);
    }
    problem.output_gb.push_back(OutputGb(task));
  }
  problem.IndexPlaces();
  const std::vector<size_t> order = dag.topological_order();
  std::vector<size_t> choice =
      dag.is_chain() ? SolveChain(problem, order) : BranchAndBound(problem, order).Solve();
  for (size_t task_index : order) {
    const Task& task = *dag.tasks()[task_index];
    const TaskOptions& task_options = problem.options[task_index];
    const Option& chosen = task_options.all[task_options.states[choice[task_index]]];
    TaskPlan task_plan;
    task_plan.task_index = task_index;
    task_plan.chosen = optimizer_internal::Materialise(chosen, task);
    for (size_t up : dag.upstream_of(task_index)) {
      const Option& from = problem.options[up].all[problem.options[up].states[choice[up]]];
      task_plan.egress_cost_in += EgressCost(problem.output_gb[up], from, chosen);
    }
    task_plan.failover = FailoverFor(task, task_options, chosen, options.max_failover);
    task_plan.considered = ConsideredFor(task, task_options);
    plan.compute_cost += chosen.cost;
    plan.egress_cost += task_plan.egress_cost_in;
    plan.tasks.push_back(std::move(task_plan));
  }
  return plan;
}

// ---------------------------------------------------------------- Candidate

std::string Candidate::InfraString() const {
  std::string text = infra;
  if (!region.empty()) text += "/" + region;
  if (!zone.empty()) text += "/" + zone;
  return text;
}

Resources Candidate::ToResources(const Task& task) const {
  const auto& alternatives = task.resources().alternatives();
  ResourcesSpec spec =
      alternative < alternatives.size() ? alternatives[alternative].spec() : ResourcesSpec{};
  spec.cloud = infra;
  spec.region = region;
  spec.zone = zone;
  spec.instance_type = instance_type;
  if (!accelerator_name.empty()) {
    spec.accelerators = AcceleratorRequest{accelerator_name, accelerator_count};
  }
  spec.use_spot = use_spot;
  return Resources(std::move(spec));
}

}  // namespace skycore
