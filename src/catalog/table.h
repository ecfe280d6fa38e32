// Internal storage of the catalog: one columnar, dictionary-encoded table per
// infra. Strings (instance type, accelerator, region, zone, GpuInfo) are codes
// into one per-table dictionary; numbers are plain arrays. Row order is the
// file order after host/accelerator attachment.
#pragma once

#include <cmath>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "skycore/catalog.h"

namespace skycore::catalog_internal {

inline constexpr uint32_t kNoString = 0;  // code of the empty string in every dictionary

// Interns strings; code 0 is always "".
class StringDict {
 public:
  StringDict() { values_.emplace_back(); }
  uint32_t Intern(std::string_view text);
  // kNotFound when absent.
  static constexpr uint32_t kNotFound = 0xffffffffu;
  uint32_t Find(std::string_view text) const;
  const std::string& at(uint32_t code) const { return values_[code]; }
  size_t size() const { return values_.size(); }
  const std::vector<std::string>& values() const { return values_; }
  // Rebuilds the lookup map from values (after loading from the cache).
  void Assign(std::vector<std::string> values);

 private:
  std::vector<std::string> values_;
  std::unordered_map<std::string, uint32_t> codes_;
};

struct InfraTable {
  std::string infra;
  StringDict dict;
  std::vector<uint32_t> instance_type, accelerator_name, region, zone, gpu_info;
  std::vector<float> accelerator_count, vcpus, memory_gib;
  std::vector<double> price, spot_price;  // NaN = not offered

  // Row ids grouped by accelerator code and by instance-type code, built by
  // BuildIndexes(). by_accelerator[code] lists rows in price order.
  std::unordered_map<uint32_t, std::vector<uint32_t>> by_accelerator;
  std::unordered_map<uint32_t, std::vector<uint32_t>> by_instance_type;
  std::vector<uint32_t> cpu_rows;  // rows without accelerators, price order

  size_t size() const { return instance_type.size(); }
  void Reserve(size_t rows);
  void AppendRow(std::string_view instance, std::string_view accel, float accel_count, float cpus,
                 float mem, double on_demand, double spot, std::string_view reg,
                 std::string_view zn, std::string_view info);
  void BuildIndexes();
  CatalogRow Row(uint32_t row) const;
};

struct CatalogData {
  std::map<std::string, std::shared_ptr<const InfraTable>> tables;  // by infra name
};

inline std::optional<double> PriceOrNull(double value) {
  if (std::isnan(value)) return std::nullopt;
  return value;
}

// CSV → table (csv_load.cc). Header-driven; bad rows go to `issues`.
std::shared_ptr<InfraTable> ParseCatalogCsv(const std::string& infra, std::string_view text,
                                            const std::string& filename,
                                            std::vector<CatalogIssue>* issues);

// Binary cache (cache.cc). Load returns null when the cache is missing,
// stale (source size/mtime differ), of another version or corrupt.
std::shared_ptr<InfraTable> LoadCache(const std::filesystem::path& cache_path,
                                      const std::string& infra, uint64_t source_size,
                                      int64_t source_mtime_ns, std::vector<CatalogIssue>* issues);
// Writes atomically (temporary file + rename); false when it could not.
bool WriteCache(const std::filesystem::path& cache_path, const InfraTable& table,
                uint64_t source_size, int64_t source_mtime_ns,
                const std::vector<CatalogIssue>& issues);

// Loads one CSV, through the binary cache at `cache_path` when it is not
// empty (`<csv>.skycache` is the usual place).
std::shared_ptr<const InfraTable> LoadTableFile(const std::string& infra,
                                                const std::filesystem::path& csv_path,
                                                std::vector<CatalogIssue>* issues,
                                                const std::filesystem::path& cache_path);

}  // namespace skycore::catalog_internal
