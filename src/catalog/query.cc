#include "catalog/query.h"

#include <fmt/format.h>

#include <algorithm>
#include <set>
#include <unordered_map>

#include "catalog/infra_descriptor.h"
#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::catalog_internal {
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
  std::vector<RowRef> out;
  auto cheaper = [use_spot](const RowRef& a, const RowRef& b) {
    double pa = a.hourly_price(use_spot);
    double pb = b.hourly_price(use_spot);
    if (pa != pb) return pa < pb;
    // Ties: infra name, then file order (cheap and deterministic).
    if (a.table != b.table) return a.table->infra < b.table->infra;
    return a.row < b.row;
  };
  // With keep_per_region: the cheapest rows of each region so far, as a
  // bounded max-heap per region code of the current table (no full sort of a
  // broad match).
  std::vector<std::vector<RowRef>> region_heaps;
  auto keep = [&](const RowRef& ref) {
    if (keep_per_region == 0) {
      out.push_back(ref);
      return;
    }
    // Rows without a region share the last slot.
    const size_t slot = std::min<size_t>(ref.table->region[ref.row], region_heaps.size() - 1);
    auto& heap = region_heaps[slot];
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
    const std::vector<uint32_t>* rows = &table.cpu_rows;
    uint32_t accel_code = StringDict::kNotFound;
    if (r.accelerators()) {
      accel_code = FindAccelerator(table, r.accelerators()->name);
      if (accel_code == StringDict::kNotFound) continue;
      accelerator_known = true;
      rows = &table.by_accelerator.at(accel_code);
    }
    uint32_t instance_code = StringDict::kNotFound;
    if (!r.instance_type().empty()) {
      instance_code = table.dict.Find(r.instance_type());
      auto it = instance_code == StringDict::kNotFound ? table.by_instance_type.end()
                                                       : table.by_instance_type.find(instance_code);
      if (it == table.by_instance_type.end()) continue;
      instance_known = true;
      if (!r.accelerators()) rows = &it->second;
    }
    if (!r.cloud().empty() && r.cloud() != infra) continue;
    // A fractional request shares one device where the infra allows it;
    // elsewhere it only matches catalog rows with exactly that fraction
    // (partial-GPU VM sizes).
    double want_count = r.accelerators() ? r.accelerators()->count : 0;
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
    if (keep_per_region > 0) {
      region_heaps.assign(table.dict.size() + 1, {});
    }
    const bool table_default_shape = default_shape && DescribeInfra(infra).default_vm_shape;
    for (uint32_t row : *rows) {
      if (std::isnan(prices[row])) continue;
      if (accel_code != StringDict::kNotFound &&
          !SameCount(table.accelerator_count[row], want_count) &&
          !SameCount(table.accelerator_count[row], shared_count)) {
        continue;
      }
      if (instance_code != StringDict::kNotFound && table.instance_type[row] != instance_code) {
        continue;
      }
      if (region_code != kNoString && table.region[row] != region_code) continue;
      if (zone_code != kNoString && table.zone[row] != zone_code) continue;
      double vcpus = table.vcpus[row];
      double memory = table.memory_gib[row];
      if (table_default_shape) {
        if (vcpus < kDefaultCpus || memory < kDefaultMemoryGib) continue;
      } else if (!QuantityFits(r.cpus(), vcpus, vcpus) ||
                 !QuantityFits(r.memory(), memory, vcpus)) {
        continue;
      }
      keep(RowRef{&table, row});
    }
    for (auto& heap : region_heaps) out.insert(out.end(), heap.begin(), heap.end());
    region_heaps.clear();
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
  std::sort(out.begin(), out.end(), cheaper);  // a strict total order: stable by nature
  return out;
}

}  // namespace skycore::catalog_internal
