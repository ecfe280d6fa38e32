// Internal storage of the catalog: one columnar, dictionary-encoded table per
// infra. Strings (instance type, accelerator, region, zone, GpuInfo) are codes
// into one per-table dictionary; numbers are plain arrays. Row order is the
// file order after host/accelerator attachment.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
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

// The rows of one kind (CPU-only rows, or the rows of one accelerator) grouped
// by region and, within a region, in price order (ties by row), once by the
// on-demand and once by the spot price, leaving out rows without that price.
// A query that wants the few cheapest matches of each region walks a group
// and stops early instead of scanning every row (see FeasibleRows).
class RowsByRegion {
 public:
  // A row with its vCPUs: rows in price order are scattered over the
  // columns, so a copy here lets a `cpus:` request skip small machines
  // without reading them.
  struct Entry {
    uint32_t row;
    float vcpus;
  };
  size_t groups() const { return region_.size(); }
  uint32_t region(size_t group) const { return region_[group]; }
  // The rows of `group` offered at the spot or the on-demand price, cheapest
  // first.
  std::span<const Entry> Group(size_t group, bool use_spot) const {
    const auto& entries = use_spot ? by_spot_price_ : by_price_;
    const auto& ends = use_spot ? spot_priced_end_ : priced_end_;
    return {entries.data() + begin_[group], entries.data() + ends[group]};
  }

 private:
  friend struct InfraTable;
  std::vector<uint32_t> region_;  // region code of each group
  std::vector<uint32_t> begin_;   // where each group starts in both lists
  // Where each group's rows with a price end (unpriced rows sort last).
  std::vector<uint32_t> priced_end_, spot_priced_end_;
  std::vector<Entry> by_price_, by_spot_price_;
};

struct InfraTable {
  std::string infra;
  StringDict dict;
  std::vector<uint32_t> instance_type, accelerator_name, region, zone, gpu_info;
  std::vector<float> accelerator_count, vcpus, memory_gib;
  std::vector<double> price, spot_price;  // NaN = not offered

  // Built by BuildIndexes(): rows by accelerator code (price order per
  // region), rows without accelerators (likewise), and rows by instance-type
  // code (file order).
  std::unordered_map<uint32_t, RowsByRegion> by_accelerator;
  RowsByRegion cpu_rows;
  std::unordered_map<uint32_t, std::vector<uint32_t>> by_instance_type;

  size_t size() const { return instance_type.size(); }
  void Reserve(size_t rows);
  void AppendRow(std::string_view instance, std::string_view accel, float accel_count, float cpus,
                 float mem, double on_demand, double spot, std::string_view reg,
                 std::string_view zn, std::string_view info);
  // Sorts the rows by price (PriceOrder) and builds the indexes.
  void BuildIndexes();
  // Builds the indexes from both price orders of every row (as PriceOrder
  // returns them, e.g. stored in the binary cache), in linear time.
  void BuildIndexes(const std::vector<uint32_t>& price_order,
                    const std::vector<uint32_t>& spot_price_order);
  CatalogRow Row(uint32_t row) const;
};

// A key whose unsigned order is the order of prices: NaN (not offered) last,
// -0 and 0 equal.
inline uint64_t PriceSortKey(double price) {
  if (std::isnan(price)) return ~uint64_t{0};
  if (price == 0) price = 0;
  uint64_t bits;
  std::memcpy(&bits, &price, sizeof bits);
  return (bits >> 63) != 0 ? ~bits : bits | (uint64_t{1} << 63);
}

// Every row id of `prices` ordered by price, ties by row, NaN last.
std::vector<uint32_t> PriceOrder(const std::vector<double>& prices);

// Whether `order` is exactly what PriceOrder(prices) returns (checks a stored
// order in linear time).
bool IsPriceOrder(const std::vector<uint32_t>& order, const std::vector<double>& prices);

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
