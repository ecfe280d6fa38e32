#include "catalog/query.h"

#include <fmt/format.h>

#include <algorithm>
#include <numeric>
#include <set>
#include <unordered_map>

#include "common/strings.h"
#include "infra/descriptor.h"
#include "skycore/error.h"

namespace skycore::catalog_internal {
using infra::DescribeInfra;
namespace {

constexpr double kDefaultCpus = 8;
constexpr double kDefaultMemoryGib = 32;

bool QuantityFits(const std::optional<Quantity>& want, double have, double vcpus) {
  if (!want) return true;
  double value = want->per_cpu ? want->value * vcpus : want->value;
  if (want->or_more || want->per_cpu) return have + 1e-6 >= value;
  return std::fabs(have - value) < 1e-3;
}

// Accelerator codes of `table` whose name equals `name` case-insensitively.
uint32_t FindAccelerator(const InfraTable& table, const std::string& name) {
  uint32_t exact = table.dict.Find(name);
  if (exact != StringDict::kNotFound && table.by_accelerator.count(exact) > 0) return exact;
  for (const auto& [code, rows] : table.by_accelerator) {
    if (strings::EqualsIgnoreCase(table.dict.at(code), name)) return code;
  }
  return StringDict::kNotFound;
}

void ThrowUnknown(const CatalogData& data, const std::string& what, const std::string& name,
                  bool accelerator) {
  std::set<std::string> names;
  for (const auto& [infra, table] : data.tables) {
    if (accelerator) {
      for (const auto& [code, rows] : table->by_accelerator) names.insert(table->dict.at(code));
    } else {
      for (const auto& [code, rows] : table->by_instance_type) names.insert(table->dict.at(code));
    }
  }
  std::vector<std::string> candidates(names.begin(), names.end());
  auto matches = strings::CloseMatches(name, candidates);
  std::string message =
      fmt::format("{} '{}' is not offered by any infra in the catalog.", what, name);
  ErrorLocation location;
  location.field_path = accelerator ? "resources.accelerators" : "resources.instance_type";
  throw ResourcesUnavailableError(message, std::move(location), std::move(matches));
}

}  // namespace

bool UsesDefaultShape(const Resources& r) {
  return !r.accelerators() && r.instance_type().empty() && !r.cpus() && !r.memory();
}

std::vector<RowRef> FeasibleRows(const CatalogData& data, const Resources& r,
                                 size_t keep_per_region) {
  const bool use_spot = r.use_spot();
  const bool default_shape = UsesDefaultShape(r);
  // Matches with their sort key copied out: sorting through the table
  // pointers (price lookups, infra names) missed the cache on a broad request.
  struct Match {
    double price;
    uint32_t table_rank;  // tables come in infra-name order
    uint32_t row;
    uint32_t region;
  };
  std::vector<Match> found;
  std::vector<const InfraTable*> tables;
  auto cheaper = [](const RowRef& a, const RowRef& b) {
    if (a.price != b.price) return a.price < b.price;
    // Ties: infra name, then file order (cheap and deterministic).
    if (a.table != b.table) return a.table->infra < b.table->infra;
    return a.row < b.row;
  };
  // An index in price order (per region) lets each region stop at its
  // cheapest `keep_per_region` matches. Only rows looked up by instance type
  // come in file order; those keep the cheapest rows of each region in a
  // bounded max-heap per region code (there are few of them).
  std::vector<std::vector<RowRef>> region_heaps;
  auto add = [&](const RowRef& ref) {
    found.push_back(
        Match{ref.price, static_cast<uint32_t>(tables.size() - 1), ref.row, ref.region});
  };
  auto keep_unordered = [&](const RowRef& ref) {
    if (keep_per_region == 0) {
      add(ref);
      return;
    }
    auto& heap = region_heaps[ref.region];
    if (heap.size() < keep_per_region) {
      heap.push_back(ref);
      std::push_heap(heap.begin(), heap.end(), cheaper);
    } else if (cheaper(ref, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), cheaper);
      heap.back() = ref;
      std::push_heap(heap.begin(), heap.end(), cheaper);
    }
  };
  bool accelerator_known = false;
  bool instance_known = false;
  for (const auto& [infra, table_ptr] : data.tables) {
    const InfraTable& table = *table_ptr;
    const RowsByRegion* rows = &table.cpu_rows;
    const std::vector<uint32_t>* instance_rows = nullptr;  // file order
    // Rows that are node shapes: feasible when the shape holds the type a
    // node of `r` requests (infra/descriptor.h).
    std::optional<infra::VirtualInstanceType> virtual_type;
    if (const auto sizer = DescribeInfra(infra).virtual_instance_type; sizer != nullptr) {
      if (!r.cloud().empty() && r.cloud() != infra) continue;
      virtual_type = sizer(r);
      if (!virtual_type) continue;
      if (!r.instance_type().empty()) instance_known = true;
    }
    uint32_t accel_code = StringDict::kNotFound;
    const std::string* accelerator_name = r.accelerators() ? &r.accelerators()->name : nullptr;
    if (virtual_type) {
      accelerator_name = virtual_type->accelerator_count > 0 ? &virtual_type->accelerator : nullptr;
    }
    if (accelerator_name != nullptr) {
      accel_code = FindAccelerator(table, *accelerator_name);
      if (accel_code == StringDict::kNotFound) continue;
      if (r.accelerators()) accelerator_known = true;
      rows = &table.by_accelerator.at(accel_code);
    }
    uint32_t instance_code = StringDict::kNotFound;
    if (!r.instance_type().empty() && !virtual_type) {
      instance_code = table.dict.Find(r.instance_type());
      auto it = instance_code == StringDict::kNotFound ? table.by_instance_type.end()
                                                       : table.by_instance_type.find(instance_code);
      if (it == table.by_instance_type.end()) continue;
      instance_known = true;
      if (!r.accelerators()) instance_rows = &it->second;
    }
    if (!r.cloud().empty() && r.cloud() != infra) continue;
    // A fractional request shares one device where the infra allows it;
    // elsewhere it only matches catalog rows with exactly that fraction
    // (partial-GPU VM sizes).
    double want_count = virtual_type       ? virtual_type->accelerator_count
                        : r.accelerators() ? r.accelerators()->count
                                           : 0;
    double shared_count = -1;
    if (r.accelerators() && want_count != std::floor(want_count) &&
        DescribeInfra(infra).fractional_accelerators) {
      shared_count = std::ceil(want_count);
    }
    uint32_t region_code = kNoString;
    if (!r.region().empty()) {
      region_code = table.dict.Find(r.region());
      if (region_code == StringDict::kNotFound) continue;
    }
    uint32_t zone_code = kNoString;
    if (!r.zone().empty()) {
      zone_code = table.dict.Find(r.zone());
      if (zone_code == StringDict::kNotFound) continue;
    }
    const auto& prices = use_spot ? table.spot_price : table.price;
    tables.push_back(&table);
    // SkyPilot's default VM shape applies to clouds, not to machines that are
    // already there (local, SSH, Slurm, Kubernetes).
    const bool table_default_shape =
        default_shape && !virtual_type && DescribeInfra(infra).default_vm_shape;
    // Every condition but the price and the region.
    auto matches = [&](uint32_t row) {
      if (accel_code != StringDict::kNotFound &&
          !SameCount(table.accelerator_count[row], want_count) &&
          !SameCount(table.accelerator_count[row], shared_count)) {
        return false;
      }
      if (instance_code != StringDict::kNotFound && table.instance_type[row] != instance_code) {
        return false;
      }
      if (zone_code != kNoString && table.zone[row] != zone_code) return false;
      double vcpus = table.vcpus[row];
      double memory = table.memory_gib[row];
      if (table_default_shape) return vcpus >= kDefaultCpus && memory >= kDefaultMemoryGib;
      if (virtual_type) {
        return vcpus + 1e-6 >= virtual_type->cpus && memory + 1e-6 >= virtual_type->memory_gib;
      }
      return QuantityFits(r.cpus(), vcpus, vcpus) && QuantityFits(r.memory(), memory, vcpus);
    };
    // An infra that sells accelerator machines only places a task asking for
    // none on the cheapest one that fits, as SkyPilot does (Lambda).
    std::vector<uint32_t> every_row;
    if (!r.accelerators() && instance_rows == nullptr &&
        DescribeInfra(infra).accelerator_machines_only) {
      every_row.resize(table.size());
      std::iota(every_row.begin(), every_row.end(), uint32_t{0});
      instance_rows = &every_row;
    }
    if (instance_rows != nullptr) {
      if (keep_per_region > 0) region_heaps.assign(table.dict.size(), {});
      for (uint32_t row : *instance_rows) {
        if (std::isnan(prices[row])) continue;
        if (region_code != kNoString && table.region[row] != region_code) continue;
        if (matches(row)) keep_unordered(RowRef{&table, row, table.region[row], prices[row]});
      }
      for (auto& heap : region_heaps) {
        for (const RowRef& ref : heap) add(ref);
      }
      region_heaps.clear();
      continue;
    }
    // The fewest vCPUs a matching row can have, checked on the index's copy
    // before reading the row's columns; looser than `matches`, which decides.
    double min_vcpus = -1;
    if (table_default_shape) {
      min_vcpus = kDefaultCpus;
    } else if (virtual_type) {
      min_vcpus = virtual_type->cpus - 1e-3;
    } else if (r.cpus() && !r.cpus()->per_cpu) {
      min_vcpus = r.cpus()->value - 1e-3;
    }
    // Every fitting shape of a region (a zone where the infra has them:
    // Slurm's partitions) requests the same type: one row is its option.
    const size_t keep = virtual_type ? 1 : keep_per_region;
    const bool one_per_zone = virtual_type && DescribeInfra(infra).has_zones;
    std::vector<uint32_t> zones_kept;
    for (size_t group = 0; group < rows->groups(); ++group) {
      const uint32_t group_region = rows->region(group);
      if (region_code != kNoString && group_region != region_code) continue;
      size_t kept = 0;
      zones_kept.clear();
      for (const RowsByRegion::Entry& entry : rows->Group(group, use_spot)) {
        if (static_cast<double>(entry.vcpus) < min_vcpus) continue;
        const uint32_t row = entry.row;
        if (!matches(row)) continue;
        if (one_per_zone) {
          if (std::find(zones_kept.begin(), zones_kept.end(), table.zone[row]) !=
              zones_kept.end()) {
            continue;
          }
          zones_kept.push_back(table.zone[row]);
          add(RowRef{&table, row, group_region, prices[row]});
          continue;
        }
        add(RowRef{&table, row, group_region, prices[row]});
        if (++kept == keep) break;
      }
    }
  }
  if (r.accelerators() && !accelerator_known) {
    bool anywhere = false;
    for (const auto& [infra, table] : data.tables) {
      if (FindAccelerator(*table, r.accelerators()->name) != StringDict::kNotFound) anywhere = true;
    }
    if (!anywhere) ThrowUnknown(data, "accelerator", r.accelerators()->name, true);
  }
  if (!r.instance_type().empty() && !instance_known) {
    bool anywhere = false;
    for (const auto& [infra, table] : data.tables) {
      uint32_t code = table->dict.Find(r.instance_type());
      if (code != StringDict::kNotFound && table->by_instance_type.count(code) > 0) anywhere = true;
    }
    if (!anywhere) ThrowUnknown(data, "instance type", r.instance_type(), false);
  }
  // The order of `cheaper`, a strict total order (stable by nature): a
  // linear sort by price, then each run of equal prices (rare) by infra and
  // row. A comparison sort of a broad match cost more than finding it.
  std::vector<double> match_prices(found.size());
  for (size_t i = 0; i < found.size(); ++i) match_prices[i] = found[i].price;
  std::vector<uint32_t> order = PriceOrder(match_prices);
  for (size_t begin = 0; begin < order.size();) {
    size_t end = begin + 1;
    while (end < order.size() && found[order[end]].price == found[order[begin]].price) ++end;
    if (end - begin > 1) {
      std::sort(order.begin() + begin, order.begin() + end, [&](uint32_t a, uint32_t b) {
        if (found[a].table_rank != found[b].table_rank) {
          return found[a].table_rank < found[b].table_rank;
        }
        return found[a].row < found[b].row;
      });
    }
    begin = end;
  }
  std::vector<RowRef> out;
  out.reserve(found.size());
  for (uint32_t index : order) {
    const Match& match = found[index];
    out.push_back(RowRef{tables[match.table_rank], match.row, match.region, match.price});
  }
  return out;
}

}  // namespace skycore::catalog_internal
