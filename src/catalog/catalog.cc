// Catalog: loading (CSV or cache), locating, and the public queries.
#include "skycore/catalog.h"

#include <dlfcn.h>
#include <fmt/format.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "catalog/query.h"
#include "catalog/table.h"
#include "common/files.h"
#include "common/strings.h"
#include "skycore/error.h"

namespace skycore {

using catalog_internal::CatalogData;
using catalog_internal::InfraTable;
using catalog_internal::StringDict;

std::string CatalogIssue::ToString() const {
  if (line > 0) return fmt::format("{}:{}: {}", file, line, message);
  return fmt::format("{}: {}", file, message);
}

namespace catalog_internal {

std::shared_ptr<const InfraTable> LoadTableFile(const std::string& infra,
                                                const std::filesystem::path& csv_path,
                                                std::vector<CatalogIssue>* issues,
                                                const std::filesystem::path& cache_path) {
  const bool use_cache = !cache_path.empty();
  struct stat st {};
  if (::stat(csv_path.c_str(), &st) != 0) {
    if (issues) issues->push_back(CatalogIssue{csv_path.string(), 0, "cannot be read"});
    return nullptr;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const int64_t mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 +
                           static_cast<int64_t>(st.st_mtim.tv_nsec);
  std::vector<CatalogIssue> file_issues;
  if (use_cache) {
    if (auto table = LoadCache(cache_path, infra, size, mtime_ns, &file_issues)) {
      if (issues) {
        for (auto& issue : file_issues) {
          issue.file = csv_path.string();
          issues->push_back(std::move(issue));
        }
      }
      return table;
    }
    file_issues.clear();
  }
  std::ifstream stream(csv_path, std::ios::binary);
  std::string text;
  text.resize(size);
  if (!stream.read(text.data(), static_cast<std::streamsize>(size))) {
    if (issues) issues->push_back(CatalogIssue{csv_path.string(), 0, "cannot be read"});
    return nullptr;
  }
  auto table = ParseCatalogCsv(infra, text, csv_path.string(), &file_issues);
  // A cache is an optimisation: a read-only install directory just means
  // every process parses the CSV.
  if (use_cache) WriteCache(cache_path, *table, size, mtime_ns, file_issues);
  if (issues) issues->insert(issues->end(), file_issues.begin(), file_issues.end());
  return table;
}

}  // namespace catalog_internal

Catalog::Catalog() : data_(std::make_shared<CatalogData>()) {}
Catalog::Catalog(std::shared_ptr<const CatalogData> data) : data_(std::move(data)) {}

Catalog Catalog::LoadFiles(
    const std::vector<std::pair<std::string, std::filesystem::path>>& infra_csvs,
    std::vector<CatalogIssue>* issues, bool use_cache) {
  auto data = std::make_shared<CatalogData>();
  for (const auto& [infra, path] : infra_csvs) {
    std::filesystem::path cache_path;
    if (use_cache) cache_path = std::filesystem::path(path.string() + ".skycache");
    auto table = catalog_internal::LoadTableFile(infra, path, issues, cache_path);
    if (table) data->tables[infra] = std::move(table);
  }
  return Catalog(std::move(data));
}

Catalog Catalog::Load(const CatalogPaths& paths, std::vector<CatalogIssue>* issues) {
  std::map<std::string, std::filesystem::path> chosen;
  std::error_code ec;
  // Built-in directories, first one wins per infra.
  for (const auto& dir : paths.builtin_dirs) {
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
      if (entry.path().extension() != ".csv") continue;
      chosen.emplace(entry.path().stem().string(), entry.path());
    }
  }
  // Downloaded catalogs replace built-in ones.
  if (!paths.state_dir.empty()) {
    auto root = paths.state_dir / "catalogs" / "v7";
    for (const auto& entry : std::filesystem::directory_iterator(root, ec)) {
      auto csv = entry.path() / "vms.csv";
      if (entry.is_directory() && std::filesystem::exists(csv)) {
        chosen[entry.path().filename().string()] = csv;
      }
    }
  }
  // Caches of downloaded catalogs sit beside them; those of built-in ones go
  // under the state directory, so that read-only installs and source trees
  // stay untouched.
  auto data = std::make_shared<CatalogData>();
  for (const auto& [infra, path] : chosen) {
    std::filesystem::path cache_path = path.string() + ".skycache";
    if (!paths.state_dir.empty() && path.filename() != "vms.csv") {
      auto cache_dir = paths.state_dir / "catalogs" / "cache";
      try {
        files::EnsurePrivateDir(paths.state_dir / "catalogs");
        files::EnsurePrivateDir(cache_dir);
      } catch (const Error&) {
        // Then without a cache file, as when the directory cannot be made.
      }
      cache_path = cache_dir / fmt::format("{}-{:016x}.skycache", infra,
                                           std::hash<std::string>{}(path.string()));
    }
    auto table = catalog_internal::LoadTableFile(infra, path, issues, cache_path);
    if (table) data->tables[infra] = std::move(table);
  }
  return Catalog(std::move(data));
}

Catalog Catalog::FromCsvText(const std::string& infra, const std::string& csv_text,
                             const std::string& filename, std::vector<CatalogIssue>* issues) {
  auto data = std::make_shared<CatalogData>();
  data->tables[infra] = catalog_internal::ParseCatalogCsv(infra, csv_text, filename, issues);
  return Catalog(std::move(data));
}

Catalog Catalog::MergedWith(const Catalog& other) const {
  auto data = std::make_shared<CatalogData>(*data_);
  for (const auto& [infra, table] : other.data_->tables) data->tables[infra] = table;
  return Catalog(std::move(data));
}

std::vector<std::string> Catalog::infras() const {
  std::vector<std::string> out;
  for (const auto& [infra, table] : data_->tables) out.push_back(infra);
  return out;
}

size_t Catalog::num_rows() const {
  size_t rows = 0;
  for (const auto& [infra, table] : data_->tables) rows += table->size();
  return rows;
}

std::vector<CatalogRow> Catalog::Rows(const std::string& infra) const {
  std::vector<CatalogRow> out;
  auto it = data_->tables.find(infra);
  if (it == data_->tables.end()) return out;
  for (uint32_t row = 0; row < it->second->size(); ++row) out.push_back(it->second->Row(row));
  return out;
}

std::vector<CatalogRow> Catalog::FeasibleOfferings(const Resources& resources) const {
  std::vector<CatalogRow> out;
  for (const auto& ref : catalog_internal::FeasibleRows(*data_, resources)) {
    out.push_back(ref.table->Row(ref.row));
  }
  return out;
}

std::optional<double> Catalog::HourlyPrice(const std::string& infra,
                                           const std::string& instance_type,
                                           const std::string& region, const std::string& zone,
                                           bool use_spot) const {
  auto it = data_->tables.find(infra);
  if (it == data_->tables.end()) return std::nullopt;
  const InfraTable& table = *it->second;
  uint32_t code = table.dict.Find(instance_type);
  auto rows = table.by_instance_type.find(code);
  if (code == StringDict::kNotFound || rows == table.by_instance_type.end()) return std::nullopt;
  std::optional<double> best;
  for (uint32_t row : rows->second) {
    if (table.dict.at(table.region[row]) != region) continue;
    if (!zone.empty() && table.dict.at(table.zone[row]) != zone) continue;
    double price = use_spot ? table.spot_price[row] : table.price[row];
    if (std::isnan(price)) continue;
    if (!best || price < *best) best = price;
  }
  return best;
}

std::vector<std::string> Catalog::Regions(const std::string& infra) const {
  std::set<std::string> out;
  auto it = data_->tables.find(infra);
  if (it != data_->tables.end()) {
    for (uint32_t code : it->second->region) out.insert(it->second->dict.at(code));
  }
  return {out.begin(), out.end()};
}

std::vector<std::string> Catalog::Zones(const std::string& infra, const std::string& region) const {
  std::set<std::string> out;
  auto it = data_->tables.find(infra);
  if (it != data_->tables.end()) {
    const InfraTable& table = *it->second;
    for (uint32_t row = 0; row < table.size(); ++row) {
      if (table.zone[row] != 0 && table.dict.at(table.region[row]) == region) {
        out.insert(table.dict.at(table.zone[row]));
      }
    }
  }
  return {out.begin(), out.end()};
}

std::vector<std::string> Catalog::AcceleratorNames() const {
  std::set<std::string> out;
  for (const auto& [infra, table] : data_->tables) {
    for (const auto& [code, rows] : table->by_accelerator) out.insert(table->dict.at(code));
  }
  return {out.begin(), out.end()};
}

// ---------------------------------------------------------------- locating

namespace {

std::filesystem::path DirectoryOfThisBinary() {
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&DirectoryOfThisBinary), &info) == 0 ||
      info.dli_fname == nullptr) {
    return {};
  }
  std::error_code ec;
  auto path = std::filesystem::canonical(info.dli_fname, ec);
  return ec ? std::filesystem::path() : path.parent_path();
}

}  // namespace

CatalogPaths CatalogPaths::FromEnvironment(const EnvLookup& lookup) {
  CatalogPaths paths;
  if (auto state = lookup("SKYCORE_STATE_DIR"); state && !state->empty()) {
    paths.state_dir = *state;
  } else if (auto home = lookup("HOME"); home && !home->empty()) {
    paths.state_dir = std::filesystem::path(*home) / ".sky";
  }
  std::vector<std::filesystem::path> candidates;
  if (auto dir = lookup("SKYCORE_CATALOG_DIR"); dir && !dir->empty()) candidates.emplace_back(*dir);
  auto binary_dir = DirectoryOfThisBinary();
  if (!binary_dir.empty()) {
    candidates.push_back(binary_dir / "catalog" / "builtin");
    candidates.push_back(binary_dir.parent_path() / "share" / "skycore" / "catalog" / "builtin");
  }
  // The source tree this file was compiled from (development builds).
  candidates.push_back(std::filesystem::path(__FILE__).parent_path().parent_path().parent_path() /
                       "catalog" / "builtin");
  std::error_code ec;
  for (auto& dir : candidates) {
    if (std::filesystem::is_directory(dir, ec)) paths.builtin_dirs.push_back(std::move(dir));
  }
  return paths;
}

}  // namespace skycore
