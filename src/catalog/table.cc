#include "catalog/table.h"

#include <fmt/format.h>

#include <algorithm>

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

void InfraTable::BuildIndexes() {
  by_accelerator.clear();
  by_instance_type.clear();
  cpu_rows.clear();
  const uint32_t rows = static_cast<uint32_t>(size());
  for (uint32_t row = 0; row < rows; ++row) {
    if (accelerator_name[row] != kNoString) {
      by_accelerator[accelerator_name[row]].push_back(row);
    } else {
      cpu_rows.push_back(row);
    }
    by_instance_type[instance_type[row]].push_back(row);
  }
  // Price order (rows without an on-demand price last) so that queries can
  // stop early and the cheapest offering comes first.
  auto cheaper = [this](uint32_t a, uint32_t b) {
    double pa = std::isnan(price[a]) ? 1e300 : price[a];
    double pb = std::isnan(price[b]) ? 1e300 : price[b];
    return pa != pb ? pa < pb : a < b;
  };
  for (auto& [code, list] : by_accelerator) std::sort(list.begin(), list.end(), cheaper);
  std::sort(cpu_rows.begin(), cpu_rows.end(), cheaper);
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
