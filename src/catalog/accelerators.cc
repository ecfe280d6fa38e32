// Catalog::ListAccelerators — the data behind `sky show-gpus`.
#include <algorithm>
#include <charconv>
#include <map>
#include <regex>
#include <tuple>

#include "catalog/table.h"
#include "common/strings.h"

namespace skycore {
namespace {

using catalog_internal::InfraTable;

// Per-device memory from a GpuInfo blob ('SizeInMiB': N), in GiB.
std::optional<double> DeviceMemoryGib(std::string_view gpu_info) {
  size_t pos = gpu_info.find("SizeInMiB");
  if (pos == std::string_view::npos) return std::nullopt;
  pos += 9;
  while (pos < gpu_info.size() && (gpu_info[pos] == '\'' || gpu_info[pos] == '"' ||
                                   gpu_info[pos] == ':' || gpu_info[pos] == ' ')) {
    ++pos;
  }
  double mib = 0;
  auto result = std::from_chars(gpu_info.data() + pos, gpu_info.data() + gpu_info.size(), mib);
  if (result.ec != std::errc() || mib <= 0) return std::nullopt;
  return mib / 1024.0;
}

bool LooksLikeRegex(const std::string& text) {
  return text.find_first_of(".*+?[](){}|^$\\") != std::string::npos;
}

std::optional<double> Min(std::optional<double> a, double b) {
  if (std::isnan(b)) return a;
  if (!a || b < *a) return b;
  return a;
}

}  // namespace

std::vector<AcceleratorOffering> Catalog::ListAccelerators(const AcceleratorQuery& query) const {
  std::optional<std::regex> pattern;
  const std::string lower_filter = strings::Lower(query.name_filter);
  if (!query.exact_name && LooksLikeRegex(query.name_filter)) {
    try {
      pattern.emplace(query.name_filter, std::regex::icase | std::regex::ECMAScript);
    } catch (const std::regex_error&) {
      pattern.reset();  // not a valid regex: treat it as plain text
    }
  }
  auto name_matches = [&](const std::string& name) {
    if (query.name_filter.empty()) return true;
    if (query.exact_name) return strings::EqualsIgnoreCase(name, query.name_filter);
    if (pattern) return std::regex_search(name, *pattern);
    return strings::Lower(name).find(lower_filter) != std::string::npos;
  };
  // key: name, count, infra, instance type, region (empty unless all_regions)
  using Key = std::tuple<std::string, double, std::string, std::string, std::string>;
  std::map<Key, AcceleratorOffering> best;
  for (const auto& [infra, table_ptr] : data().tables) {
    if (!query.infras.empty() &&
        std::find(query.infras.begin(), query.infras.end(), infra) == query.infras.end()) {
      continue;
    }
    const InfraTable& table = *table_ptr;
    for (uint32_t row = 0; row < table.size(); ++row) {
      const std::string& name = table.dict.at(table.accelerator_name[row]);
      if (name.empty() && !query.include_cpu_only) continue;
      if (!name_matches(name)) continue;
      const double count = table.accelerator_count[row];
      if (query.count && std::fabs(*query.count - count) > 1e-3) continue;
      const std::string& region = table.dict.at(table.region[row]);
      if (!query.region.empty() && region != query.region) continue;
      const double rounded_count = std::round(count * 1000) / 1000;
      Key key{name, rounded_count, infra, table.dict.at(table.instance_type[row]),
              query.all_regions ? region : std::string()};
      auto [it, inserted] = best.try_emplace(key);
      AcceleratorOffering& offering = it->second;
      const double price = table.price[row];
      if (inserted) {
        offering.accelerator_name = name;
        offering.accelerator_count = rounded_count;
        offering.infra = infra;
        offering.instance_type = std::get<3>(key);
        offering.vcpus = table.vcpus[row];
        offering.memory_gib = table.memory_gib[row];
        offering.device_memory_gib = DeviceMemoryGib(table.dict.at(table.gpu_info[row]));
        offering.region = region;
      }
      // The cheapest region (on-demand first; spot when there is no on-demand).
      bool cheaper = !std::isnan(price) && (!offering.price || price < *offering.price);
      if (cheaper) {
        offering.price = price;
        offering.region = region;
      }
      offering.spot_price = Min(offering.spot_price, table.spot_price[row]);
    }
  }
  std::vector<AcceleratorOffering> out;
  out.reserve(best.size());
  for (auto& [key, offering] : best) out.push_back(std::move(offering));
  std::stable_sort(out.begin(), out.end(),
                   [](const AcceleratorOffering& a, const AcceleratorOffering& b) {
                     if (a.accelerator_name != b.accelerator_name) {
                       return a.accelerator_name < b.accelerator_name;
                     }
                     if (a.accelerator_count != b.accelerator_count) {
                       return a.accelerator_count < b.accelerator_count;
                     }
                     double pa = a.price.value_or(1e300), pb = b.price.value_or(1e300);
                     if (pa != pb) return pa < pb;
                     if (a.infra != b.infra) return a.infra < b.infra;
                     return a.region < b.region;
                   });
  return out;
}

}  // namespace skycore
