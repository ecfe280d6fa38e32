#include "catalog/table.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace skycore::catalog_internal {

uint32_t StringDict::Intern(std::string_view text) {
  if (text.empty()) return kNoString;
  auto it = codes_.find(std::string(text));
  if (it != codes_.end()) return it->second;
  uint32_t code = static_cast<uint32_t>(values_.size());
  values_.emplace_back(text);
  codes_.emplace(values_.back(), code);
  return code;
}

uint32_t StringDict::Find(std::string_view text) const {
  if (text.empty()) return kNoString;
  auto it = codes_.find(std::string(text));
  return it == codes_.end() ? kNotFound : it->second;
}

void StringDict::Assign(std::vector<std::string> values) {
  values_ = std::move(values);
  if (values_.empty()) values_.emplace_back();
  codes_.clear();
  codes_.reserve(values_.size());
  for (uint32_t i = 1; i < values_.size(); ++i) codes_.emplace(values_[i], i);
}

void InfraTable::Reserve(size_t rows) {
  for (auto* column : {&instance_type, &accelerator_name, &region, &zone, &gpu_info}) {
    column->reserve(rows);
  }
  for (auto* column : {&accelerator_count, &vcpus, &memory_gib}) column->reserve(rows);
  price.reserve(rows);
  spot_price.reserve(rows);
}

void InfraTable::AppendRow(std::string_view instance, std::string_view accel, float accel_count,
                           float cpus, float mem, double on_demand, double spot,
                           std::string_view reg, std::string_view zn, std::string_view info) {
  instance_type.push_back(dict.Intern(instance));
  accelerator_name.push_back(dict.Intern(accel));
  accelerator_count.push_back(accel.empty() ? 0.0f : accel_count);
  vcpus.push_back(cpus);
  memory_gib.push_back(mem);
  price.push_back(on_demand);
  spot_price.push_back(spot);
  region.push_back(dict.Intern(reg));
  zone.push_back(dict.Intern(zn));
  gpu_info.push_back(dict.Intern(info));
}

std::vector<uint32_t> PriceOrder(const std::vector<double>& prices) {
  // A stable least-significant-digit radix sort of the price keys, starting
  // from file order, so ties stay in row order. Linear, unlike a comparison
  // sort, which mattered: sorting was most of loading a table from its cache.
  const size_t rows = prices.size();
  std::vector<uint64_t> keys(rows);
  for (size_t row = 0; row < rows; ++row) keys[row] = PriceSortKey(prices[row]);
  std::vector<uint32_t> order(rows);
  std::vector<uint32_t> scratch(rows);
  for (size_t row = 0; row < rows; ++row) order[row] = static_cast<uint32_t>(row);
  for (int shift = 0; shift < 64; shift += 8) {
    std::array<size_t, 257> starts{};
    for (uint32_t row : order) ++starts[((keys[row] >> shift) & 0xff) + 1];
    // Prices share their high bytes: skip a digit every key has in common.
    if (std::find(starts.begin(), starts.end(), rows) != starts.end()) continue;
    for (size_t digit = 1; digit < starts.size(); ++digit) starts[digit] += starts[digit - 1];
    for (uint32_t row : order) scratch[starts[(keys[row] >> shift) & 0xff]++] = row;
    order.swap(scratch);
  }
  return order;
}

bool IsPriceOrder(const std::vector<uint32_t>& order, const std::vector<double>& prices) {
  if (order.size() != prices.size()) return false;
  std::vector<bool> seen(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const uint32_t row = order[i];
    if (row >= order.size() || seen[row]) return false;
    seen[row] = true;
    if (i == 0) continue;
    const uint32_t previous = order[i - 1];
    const uint64_t a = PriceSortKey(prices[previous]);
    const uint64_t b = PriceSortKey(prices[row]);
    if (a > b || (a == b && previous > row)) return false;
  }
  return true;
}

void InfraTable::BuildIndexes() { BuildIndexes(PriceOrder(price), PriceOrder(spot_price)); }

void InfraTable::BuildIndexes(const std::vector<uint32_t>& price_order,
                              const std::vector<uint32_t>& spot_price_order) {
  constexpr uint32_t kUnset = 0xffffffffu;
  const uint32_t rows = static_cast<uint32_t>(size());
  // Dense numbers for the row kinds (0: CPU-only, then one per accelerator)
  // and for the regions, in order of first appearance.
  std::vector<uint32_t> kind_of_code(dict.size(), kUnset);
  std::vector<uint32_t> slot_of_region(dict.size(), kUnset);
  std::vector<uint32_t> kind_codes{kNoString};
  std::vector<uint32_t> region_codes;
  kind_of_code[kNoString] = 0;
  std::vector<uint32_t> kind(rows), slot(rows);
  for (uint32_t row = 0; row < rows; ++row) {
    uint32_t& k = kind_of_code[accelerator_name[row]];
    if (k == kUnset) {
      k = static_cast<uint32_t>(kind_codes.size());
      kind_codes.push_back(accelerator_name[row]);
    }
    uint32_t& r = slot_of_region[region[row]];
    if (r == kUnset) {
      r = static_cast<uint32_t>(region_codes.size());
      region_codes.push_back(region[row]);
    }
    kind[row] = k;
    slot[row] = r;
  }
  // Counting sort into (kind, region) groups; filling each group in price
  // order keeps it in that order, with the unpriced rows last.
  const size_t regions = region_codes.size();
  std::vector<uint32_t> count(kind_codes.size() * regions, 0);
  for (uint32_t row = 0; row < rows; ++row) ++count[kind[row] * regions + slot[row]];
  std::vector<RowsByRegion*> lists(kind_codes.size());
  std::vector<uint32_t> group_of(count.size(), kUnset);  // (kind, region) → group in its list
  std::vector<uint32_t> start(count.size(), 0);          // (kind, region) → first position
  by_accelerator.clear();
  cpu_rows = RowsByRegion();
  for (size_t k = 0; k < kind_codes.size(); ++k) {
    RowsByRegion* list = k == 0 ? &cpu_rows : &by_accelerator[kind_codes[k]];
    lists[k] = list;
    uint32_t offset = 0;
    for (size_t r = 0; r < regions; ++r) {
      const size_t cell = k * regions + r;
      if (count[cell] == 0) continue;
      group_of[cell] = static_cast<uint32_t>(list->region_.size());
      start[cell] = offset;
      list->region_.push_back(region_codes[r]);
      list->begin_.push_back(offset);
      offset += count[cell];
    }
    list->by_price_.resize(offset);
    list->by_spot_price_.resize(offset);
    list->priced_end_ = list->begin_;
    list->spot_priced_end_ = list->begin_;
  }
  auto fill = [&](const std::vector<uint32_t>& order, const std::vector<double>& prices,
                  bool spot) {
    std::vector<uint32_t> next = start;
    for (uint32_t row : order) {
      RowsByRegion& list = *lists[kind[row]];
      const size_t cell = kind[row] * regions + slot[row];
      const uint32_t position = next[cell]++;
      (spot ? list.by_spot_price_ : list.by_price_)[position] = {row, vcpus[row]};
      if (!std::isnan(prices[row])) {
        (spot ? list.spot_priced_end_ : list.priced_end_)[group_of[cell]] = position + 1;
      }
    }
  };
  fill(price_order, price, false);
  fill(spot_price_order, spot_price, true);

  std::vector<std::vector<uint32_t>> instance_rows(dict.size());
  for (uint32_t row = 0; row < rows; ++row) instance_rows[instance_type[row]].push_back(row);
  by_instance_type.clear();
  for (uint32_t code = 0; code < instance_rows.size(); ++code) {
    if (instance_rows[code].empty()) continue;
    by_instance_type.emplace(code, std::move(instance_rows[code]));
  }
}

CatalogRow InfraTable::Row(uint32_t row) const {
  CatalogRow out;
  out.infra = infra;
  out.instance_type = dict.at(instance_type[row]);
  out.accelerator_name = dict.at(accelerator_name[row]);
  out.accelerator_count = accelerator_count[row];
  out.vcpus = vcpus[row];
  out.memory_gib = memory_gib[row];
  out.price = PriceOrNull(price[row]);
  out.spot_price = PriceOrNull(spot_price[row]);
  out.region = dict.at(region[row]);
  out.zone = dict.at(zone[row]);
  out.gpu_info = dict.at(gpu_info[row]);
  return out;
}

}  // namespace skycore::catalog_internal
