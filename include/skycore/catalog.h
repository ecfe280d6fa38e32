// skycore/catalog.h — what each infra offers, at what price, where.
//
// A Catalog holds one columnar, dictionary-encoded table per infra, loaded from
// SkyPilot-format catalog CSVs (catalog v7 columns; the header names the
// columns, their order differs per cloud). Loading never throws for bad data:
// a malformed row is skipped and reported as a CatalogIssue naming file:line.
// Next to each CSV a binary cache (`<file>.skycache`, versioned, mmap-able) is
// written when the directory is writable and reused while the CSV's size and
// modification time are unchanged.
//
// Where catalogs come from is explicit: a CatalogPaths value (no hidden
// globals). For each infra, a catalog downloaded by RefreshCatalogs() under
// `<state_dir>/catalogs/v7/<infra>/vms.csv` wins over the built-in
// `<builtin dir>/<infra>.csv`.
//
// A Catalog is immutable after loading, cheap to copy (shared storage) and
// safe to query from many threads.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "skycore/resources.h"

namespace skycore {

namespace catalog_internal {
struct CatalogData;
}

// One offering: an instance type (with its accelerators) in a region/zone.
struct CatalogRow {
  std::string infra;             // "aws", "gcp", ...
  std::string instance_type;     // for GCP GPUs: the host VM the GPUs attach to
  std::string accelerator_name;  // empty for CPU-only offerings
  double accelerator_count = 0;  // may be fractional (e.g. 0.5)
  double vcpus = 0;
  double memory_gib = 0;
  std::optional<double> price;       // USD/h on-demand; nullopt = not offered
  std::optional<double> spot_price;  // USD/h spot; nullopt = no spot market
  std::string region;
  std::string zone;      // empty when the infra has no zones
  std::string gpu_info;  // the raw GpuInfo text (JSON-ish), parsed only on demand
};

// A problem met while loading: a skipped row, an unreadable file.
struct CatalogIssue {
  std::string file;
  int line = 0;  // 1-based; 0 = the whole file
  std::string message;
  std::string ToString() const;  // "aws.csv:12: bad Price 'x'"
};

// Where catalogs live. Build it explicitly, or from the environment with
// FromEnvironment().
struct CatalogPaths {
  // Root of skycore's state (default `~/.sky`). Refreshed catalogs live under
  // `<state_dir>/catalogs/v7/<infra>/vms.csv`. Empty: no downloaded catalogs.
  std::filesystem::path state_dir;
  // Directories holding `<infra>.csv` built-in catalogs, searched in order;
  // for each infra the first directory that has its file wins.
  std::vector<std::filesystem::path> builtin_dirs;

  using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
  // state_dir: $SKYCORE_STATE_DIR, else $HOME/.sky.
  // builtin_dirs: $SKYCORE_CATALOG_DIR (if set), then `catalog/builtin` beside
  // the loaded skycore binary (the Python package installs it as
  // `sky/catalog/builtin`), then `<prefix>/share/skycore/catalog/builtin`,
  // then the source tree skycore was built from. Only existing directories
  // are kept.
  static CatalogPaths FromEnvironment(const EnvLookup& lookup);
};

// A filter for ListAccelerators (`sky show-gpus`).
struct AcceleratorQuery {
  std::string name_filter;          // case-insensitive substring, or a regex when it
                                    // contains regex metacharacters; empty = all
  bool exact_name = false;          // name_filter must equal the name (case-insensitive)
  std::optional<double> count;      // only this accelerator count
  std::vector<std::string> infras;  // empty = every infra in the catalog
  std::string region;               // only this region; empty = any
  bool all_regions = false;         // one entry per region instead of the cheapest
  bool include_cpu_only = false;    // also list offerings without accelerators
};

// One line of `sky show-gpus NAME`: an accelerator shape on an instance type.
struct AcceleratorOffering {
  std::string accelerator_name;
  double accelerator_count = 0;
  std::string infra;
  std::string instance_type;
  double vcpus = 0;
  double memory_gib = 0;
  std::optional<double> device_memory_gib;  // per device, from GpuInfo when known
  std::optional<double> price;
  std::optional<double> spot_price;
  std::string region;  // the cheapest region, or each region with all_regions
};

class Catalog {
 public:
  Catalog();  // empty: every query finds nothing

  // Loads every infra found under `paths`. Problems go to `issues` (if given).
  static Catalog Load(const CatalogPaths& paths, std::vector<CatalogIssue>* issues = nullptr);
  // Loads the given (infra, csv path) pairs, using/refreshing the binary
  // cache beside each CSV when `use_cache`.
  static Catalog LoadFiles(
      const std::vector<std::pair<std::string, std::filesystem::path>>& infra_csvs,
      std::vector<CatalogIssue>* issues = nullptr, bool use_cache = true);
  // Parses CSV text for one infra (tests, in-memory catalogs).
  static Catalog FromCsvText(const std::string& infra, const std::string& csv_text,
                             const std::string& filename = "<string>",
                             std::vector<CatalogIssue>* issues = nullptr);
  // A catalog with the infras of both (those of `other` replace same-named ones).
  Catalog MergedWith(const Catalog& other) const;

  // Infra names with a table, sorted.
  std::vector<std::string> infras() const;
  size_t num_rows() const;
  // Every row of one infra (materialised; for tests and tools, not hot paths).
  std::vector<CatalogRow> Rows(const std::string& infra) const;

  std::vector<AcceleratorOffering> ListAccelerators(const AcceleratorQuery& query) const;

  // The rows on which `resources` could run, any infra it allows, cheapest
  // first (by spot price when use_spot). Empty when nothing fits. Throws
  // ResourcesUnavailableError, with close matches, when the accelerator or
  // instance type is unknown to every allowed infra.
  std::vector<CatalogRow> FeasibleOfferings(const Resources& resources) const;

  // The hourly price of an instance type in a region (and zone, if given);
  // the cheapest zone when zone is empty. nullopt when not offered.
  std::optional<double> HourlyPrice(const std::string& infra, const std::string& instance_type,
                                    const std::string& region, const std::string& zone,
                                    bool use_spot) const;
  std::vector<std::string> Regions(const std::string& infra) const;
  std::vector<std::string> Zones(const std::string& infra, const std::string& region) const;
  // Every accelerator name in the catalog, sorted (for suggestions).
  std::vector<std::string> AcceleratorNames() const;

  // Internal storage; for the optimizer and bindings.
  const catalog_internal::CatalogData& data() const { return *data_; }

 private:
  explicit Catalog(std::shared_ptr<const catalog_internal::CatalogData> data);
  std::shared_ptr<const catalog_internal::CatalogData> data_;
};

// ---------------------------------------------------------------- refresh

struct RefreshOptions {
  // Catalogs are fetched from `<base_url>/<infra>/vms.csv`.
  std::string base_url =
      "https://raw.githubusercontent.com/skypilot-org/skypilot-catalog/master/catalogs/v7";
  std::filesystem::path state_dir;  // where `catalogs/v7/<infra>/vms.csv` is written
  std::vector<std::string> infras = {"aws", "gcp", "azure", "lambda", "runpod"};
  double connect_timeout_s = 10;
  double timeout_s = 60;         // whole transfer, per attempt
  double low_speed_time_s = 10;  // abort when under 1 byte/s for this long (a stalled server)
  int attempts = 3;              // tries per file, with exponential backoff
  double backoff_initial_s = 0.5;
  // Called before each backoff wait; tests pass a no-op to keep runs short.
  std::function<void(double seconds)> sleep;
};

struct RefreshResult {
  std::string infra;
  enum class Status { kUpdated, kNotModified, kFailed } status = Status::kFailed;
  std::string message;  // why it failed, or what was written
  size_t rows = 0;      // rows in the catalog now in place (0 when failed)
};

// Downloads each infra's catalog with conditional requests (ETag /
// If-Modified-Since from the previous download), validates it (header, rows,
// ends with a complete line), writes it to a temporary file, verifies the
// written bytes' checksum, then atomically renames it over the old one. A
// failed, partial or invalid download never replaces a good catalog.
std::vector<RefreshResult> RefreshCatalogs(const RefreshOptions& options);

}  // namespace skycore
