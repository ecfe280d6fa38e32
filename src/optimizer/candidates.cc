#include "optimizer/candidates.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "infra/descriptor.h"
#include "skycore/error.h"

namespace skycore::optimizer_internal {
namespace {

using catalog_internal::RowRef;

bool InfraEnabled(const std::string& infra, const OptimizeOptions& options) {
  return options.enabled_infras.empty() ||
         std::find(options.enabled_infras.begin(), options.enabled_infras.end(), infra) !=
             options.enabled_infras.end();
}

bool IsBlocked(const RowRef& ref, const OptimizeOptions& options) {
  const auto& t = *ref.table;
  for (const Resources& blocked : options.blocked) {
    if (!blocked.cloud().empty() && blocked.cloud() != t.infra) continue;
    if (!blocked.region().empty() && blocked.region() != t.dict.at(t.region[ref.row])) continue;
    if (!blocked.zone().empty() && blocked.zone() != t.dict.at(t.zone[ref.row])) continue;
    if (!blocked.instance_type().empty() &&
        blocked.instance_type() != t.dict.at(t.instance_type[ref.row])) {
      continue;
    }
    if (blocked.accelerators() &&
        (!strings::EqualsIgnoreCase(blocked.accelerators()->name,
                                    t.dict.at(t.accelerator_name[ref.row])) ||
         !catalog_internal::SameCount(blocked.accelerators()->count,
                                      t.accelerator_count[ref.row]))) {
      continue;
    }
    return true;
  }
  return false;
}

}  // namespace

TaskOptions ExpandTask(const Task& task, const Catalog& catalog, const OptimizeOptions& options) {
  TaskOptions out;
  const auto& alternatives = task.resources().alternatives();
  for (size_t alt = 0; alt < alternatives.size(); ++alt) {
    const Resources& resources = alternatives[alt];
    const std::vector<RowRef> rows =
        catalog_internal::FeasibleRows(catalog.data(), resources, options.max_failover + 1);
    out.all.reserve(out.all.size() + rows.size());
    for (const RowRef& ref : rows) {
      if (!InfraEnabled(ref.table->infra, options) || IsBlocked(ref, options)) continue;
      Option option;
      option.ref = ref;
      option.alternative = alt;
      option.use_spot = resources.use_spot();
      option.hourly = ref.price;
      if (options.estimate_hours) {
        Candidate probe = Materialise(option, task);
        option.hours = options.estimate_hours(task, probe);
      }
      option.cost = option.hourly * task.num_nodes() * option.hours;
      option.score = options.target == OptimizeTarget::kCost ? option.cost : option.hours;
      out.all.push_back(option);
    }
  }
  // Stable: FeasibleRows already ordered equal prices deterministically, and
  // alternatives keep their order on ties. With one alternative and no time
  // estimator the rows arrive in score order already; skip the sort then.
  auto by_score = [](const Option& a, const Option& b) {
    if (a.score != b.score) return a.score < b.score;
    return a.cost < b.cost;
  };
  if (!std::is_sorted(out.all.begin(), out.all.end(), by_score)) {
    std::stable_sort(out.all.begin(), out.all.end(), by_score);
  }
  // Nothing downstream looks past the best `max_failover + 1` options of one
  // (infra, region, alternative): the chosen option, its failover list and the
  // optimizer table are all drawn from those. FeasibleRows returned no more
  // than that for each alternative, so there is nothing left to prune here.
  std::optional<size_t> only_alternative;
  if (task.resources().is_ordered() && !out.all.empty()) {
    only_alternative = out.all.front().alternative;
    for (const Option& option : out.all) {
      only_alternative = std::min(*only_alternative, option.alternative);
    }
  }
  // Regions seen, per infra table (a handful of tables, a few dozen regions).
  std::vector<std::pair<const void*, std::vector<bool>>> seen;
  for (size_t i = 0; i < out.all.size(); ++i) {
    const Option& option = out.all[i];
    if (only_alternative && option.alternative != *only_alternative) continue;
    auto table = std::find_if(seen.begin(), seen.end(),
                              [&](const auto& entry) { return entry.first == option.ref.table; });
    if (table == seen.end()) {
      table = seen.emplace(seen.end(), option.ref.table,
                           std::vector<bool>(option.ref.table->dict.size()));
    }
    if (!table->second[option.region_code()]) {
      table->second[option.region_code()] = true;
      out.states.push_back(i);
    }
  }
  return out;
}

Candidate Materialise(const Option& option, const Task& task) {
  const auto& t = *option.ref.table;
  const uint32_t row = option.ref.row;
  Candidate c;
  c.alternative = option.alternative;
  c.infra = t.infra;
  c.region = t.dict.at(t.region[row]);
  c.zone = t.dict.at(t.zone[row]);
  c.instance_type = t.dict.at(t.instance_type[row]);
  c.accelerator_name = t.dict.at(t.accelerator_name[row]);
  c.accelerator_count = std::round(t.accelerator_count[row] * 1000) / 1000;
  // A shared device (A100:0.5 on one A100) is recorded as what was asked.
  const auto& alternatives = task.resources().alternatives();
  if (option.alternative < alternatives.size() && alternatives[option.alternative].accelerators()) {
    c.accelerator_count = alternatives[option.alternative].accelerators()->count;
  }
  c.vcpus = t.vcpus[row];
  c.memory_gib = t.memory_gib[row];
  // A node of a virtual-type infra is what it requests, not the row's shape.
  if (const auto sizer = infra::DescribeInfra(c.infra).virtual_instance_type;
      sizer != nullptr && option.alternative < alternatives.size()) {
    if (const auto type = sizer(alternatives[option.alternative])) {
      c.instance_type = type->name;
      c.vcpus = type->cpus;
      c.memory_gib = type->memory_gib;
    }
  }
  c.use_spot = option.use_spot;
  c.hourly_price = option.hourly;
  c.hours = option.hours;
  c.cost = option.cost;
  return c;
}

// ---------------------------------------------------------------- infeasible

namespace {

std::string Describe(const Resources& r) {
  std::string text = r.accelerators()             ? r.accelerators()->ToString()
                     : !r.instance_type().empty() ? r.instance_type()
                                                  : std::string("CPU");
  if (r.cpus()) text += " cpus=" + r.cpus()->ToString();
  if (r.memory()) text += " memory=" + r.memory()->ToString();
  if (!r.cloud().empty()) text += " on " + r.infra();
  if (r.use_spot()) text += " [spot]";
  return text;
}

// Feasible (after infra filters and blocks) for a modified request?
std::optional<Option> BestFor(const ResourcesSpec& spec, const Catalog& catalog,
                              const OptimizeOptions& options) {
  try {
    Task probe;
    probe.set_resources(ResourcesSet::Single(Resources(spec)));
    auto expanded = ExpandTask(probe, catalog, options);
    if (expanded.all.empty()) return std::nullopt;
    return expanded.all.front();
  } catch (const Error&) {
    return std::nullopt;
  }
}

}  // namespace

void ThrowInfeasible(const Task& task, size_t task_index, const Catalog& catalog,
                     const OptimizeOptions& options) {
  std::vector<std::string> asked;
  std::vector<std::string> suggestions;
  std::vector<std::string> notes;
  auto suggest = [&](const ResourcesSpec& spec, const Catalog& cat) {
    if (suggestions.size() >= 5) return;
    auto best = BestFor(spec, cat, options);
    if (!best) return;
    Resources r(spec);
    std::string text = fmt::format("{}, from ${:.2f}/h on {}/{}", Describe(r), best->hourly,
                                   best->infra(), best->region());
    if (std::find(suggestions.begin(), suggestions.end(), text) == suggestions.end()) {
      suggestions.push_back(std::move(text));
    }
  };
  for (const Resources& r : task.resources().alternatives()) {
    asked.push_back(Describe(r));
    const ResourcesSpec& spec = r.spec();
    // Where devices cannot be shared, a fraction is a mistake, not a shape
    // to look for: say so rather than only "nothing matches".
    if (spec.accelerators && !spec.cloud.empty() &&
        spec.accelerators->count != std::floor(spec.accelerators->count) &&
        infra::DescribeInfra(spec.cloud).whole_devices_only) {
      notes.push_back(fmt::format(
          "{} does not support fractional GPUs ({}:{}); ask for a whole number of them.",
          infra::DescribeInfra(spec.cloud).display_name, spec.accelerators->name,
          strings::FormatNumber(spec.accelerators->count)));
    }
    // Other regions/zones, then any infra.
    if (!spec.zone.empty()) {
      ResourcesSpec s = spec;
      s.zone.clear();
      suggest(s, catalog);
    }
    if (!spec.region.empty()) {
      ResourcesSpec s = spec;
      s.region.clear();
      s.zone.clear();
      suggest(s, catalog);
    }
    if (!spec.cloud.empty()) {
      ResourcesSpec s = spec;
      s.cloud.clear();
      s.region.clear();
      s.zone.clear();
      suggest(s, catalog);
    }
    if (r.use_spot()) {
      ResourcesSpec s = spec;
      s.use_spot = false;
      suggest(s, catalog);
    }
    if (spec.accelerators) {
      // Same GPU, other counts (nearest first), then other GPUs, same count.
      AcceleratorQuery query;
      query.name_filter = spec.accelerators->name;
      query.exact_name = true;
      std::vector<double> counts;
      for (const auto& offering : catalog.ListAccelerators(query)) {
        if (std::find(counts.begin(), counts.end(), offering.accelerator_count) == counts.end()) {
          counts.push_back(offering.accelerator_count);
        }
      }
      const double want = spec.accelerators->count;
      std::stable_sort(counts.begin(), counts.end(), [want](double a, double b) {
        return std::fabs(a - want) < std::fabs(b - want);
      });
      for (double count : counts) {
        if (catalog_internal::SameCount(count, want)) continue;
        ResourcesSpec s = spec;
        s.accelerators->count = count;
        suggest(s, catalog);
      }
      for (const auto& name : catalog.AcceleratorNames()) {
        if (strings::EqualsIgnoreCase(name, spec.accelerators->name)) continue;
        ResourcesSpec s = spec;
        s.accelerators->name = name;
        if (suggestions.size() < 5 && BestFor(s, catalog, options)) suggest(s, catalog);
      }
    }
  }
  std::string task_name = task.name().value_or(fmt::format("#{}", task_index));
  std::string message =
      fmt::format("no resource satisfies the request of task '{}': {}.", task_name,
                  fmt::join(asked, task.resources().is_ordered() ? " then " : " or "));
  for (const auto& note : notes) message += " " + note;
  if (!options.enabled_infras.empty()) {
    message += fmt::format(" Enabled infras: {}.", fmt::join(options.enabled_infras, ", "));
  }
  if (suggestions.empty()) {
    message += " Relax the request; 'sky show-gpus --all' lists what the catalog offers.";
  }
  ErrorLocation location;
  location.field_path = "resources";
  throw ResourcesUnavailableError(message, std::move(location), std::move(suggestions));
}

}  // namespace skycore::optimizer_internal
