// Catalog queries: FeasibleRows walks per-region price indexes and stops at
// each region's cheapest matches; these tests hold it to a plain scan of
// every row, on tables built in memory and on the same tables read back from
// the binary cache.
#include <gtest/gtest.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <random>
#include <set>

#include "catalog/query.h"
#include "catalog/table.h"
#include "infra/descriptor.h"
#include "skycore/resources.h"
#include "temp_dir.h"

namespace skycore::catalog_internal {
namespace {

namespace fs = std::filesystem;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// Each test's own directory under /tmp.
struct TempDir : skycore::testing::TempDir {
  TempDir() : skycore::testing::TempDir("query") {}
};

// A table with many ties: few distinct prices, shapes, regions and zones,
// some rows without an on-demand or a spot price.
std::shared_ptr<InfraTable> RandomTable(const std::string& infra, uint32_t seed, size_t rows) {
  std::mt19937 rng(seed);
  auto pick = [&](const auto& values) { return values[rng() % values.size()]; };
  const std::vector<std::string> accelerators{"", "", "", "A100", "T4"};
  const std::vector<float> counts{0.5f, 1, 2, 8};
  const std::vector<float> vcpus{2, 4, 8, 16, 32};
  const std::vector<float> memory{4, 16, 32, 64, 256};
  const std::vector<double> prices{0.1, 0.2, 0.2, 0.3, 0.5, 1.0, 2.5, kNaN};
  const std::vector<std::string> regions{"r0", "r1", "r2", "r3", ""};
  auto table = std::make_shared<InfraTable>();
  table->infra = infra;
  for (size_t row = 0; row < rows; ++row) {
    const std::string accelerator = pick(accelerators);
    const std::string region = pick(regions);
    const std::string zone = region.empty() ? "" : region + "abc"[rng() % 3];
    table->AppendRow("m" + std::to_string(rng() % 12), accelerator, pick(counts), pick(vcpus),
                     pick(memory), pick(prices), rng() % 3 == 0 ? kNaN : pick(prices), region, zone,
                     "");
  }
  table->BuildIndexes();
  return table;
}

// What FeasibleRows promises, by scanning every row.
std::vector<std::pair<std::string, uint32_t>> Reference(const CatalogData& data, const Resources& r,
                                                        size_t keep) {
  struct Found {
    double price;
    std::string infra;
    uint32_t row;
    uint32_t region;
  };
  std::vector<Found> all;
  std::set<std::string> virtual_infras;
  for (const auto& [infra, table] : data.tables) {
    if (!r.cloud().empty() && r.cloud() != infra) continue;
    const bool fractional = infra == "local";  // the one infra sharing a GPU (infra_descriptor.cc)
    const bool default_shape = UsesDefaultShape(r) && infra != "kubernetes";
    // Kubernetes: rows are node shapes that hold the pod's virtual type.
    if (const auto sizer = infra::DescribeInfra(infra).virtual_instance_type) {
      virtual_infras.insert(infra);
      const auto type = sizer(r);
      if (!type) continue;
      for (uint32_t row = 0; row < table->size(); ++row) {
        const double price = r.use_spot() ? table->spot_price[row] : table->price[row];
        if (std::isnan(price)) continue;
        const std::string& accelerator = table->dict.at(table->accelerator_name[row]);
        if (type->accelerator_count > 0
                ? strcasecmp(accelerator.c_str(), type->accelerator.c_str()) != 0 ||
                      !SameCount(table->accelerator_count[row], type->accelerator_count)
                : !accelerator.empty()) {
          continue;
        }
        if (!r.region().empty() && table->dict.at(table->region[row]) != r.region()) continue;
        if (!r.zone().empty() && table->dict.at(table->zone[row]) != r.zone()) continue;
        if (table->vcpus[row] + 1e-6 < type->cpus) continue;
        if (table->memory_gib[row] + 1e-6 < type->memory_gib) continue;
        all.push_back(Found{price, infra, row, table->region[row]});
      }
      continue;
    }
    for (uint32_t row = 0; row < table->size(); ++row) {
      const double price = r.use_spot() ? table->spot_price[row] : table->price[row];
      if (std::isnan(price)) continue;
      const std::string& accelerator = table->dict.at(table->accelerator_name[row]);
      const double count = table->accelerator_count[row];
      if (r.accelerators()) {
        const double want = r.accelerators()->count;
        const bool shared =
            fractional && want != std::floor(want) && SameCount(count, std::ceil(want));
        if (strcasecmp(accelerator.c_str(), r.accelerators()->name.c_str()) != 0 ||
            (!SameCount(count, want) && !shared)) {
          continue;
        }
      } else if (r.instance_type().empty() && !accelerator.empty() &&
                 !infra::DescribeInfra(infra).accelerator_machines_only) {
        // Without an accelerator or an instance type: CPU rows only, except
        // where an infra sells accelerator machines only (Lambda, RunPod).
        continue;
      }
      if (!r.instance_type().empty() &&
          table->dict.at(table->instance_type[row]) != r.instance_type()) {
        continue;
      }
      if (!r.region().empty() && table->dict.at(table->region[row]) != r.region()) continue;
      if (!r.zone().empty() && table->dict.at(table->zone[row]) != r.zone()) continue;
      const double vcpus = table->vcpus[row];
      const double memory = table->memory_gib[row];
      if (default_shape && (vcpus < 8 || memory < 32)) continue;
      if (const auto& cpus = r.cpus()) {
        if (cpus->or_more ? vcpus + 1e-6 < cpus->value : std::fabs(vcpus - cpus->value) >= 1e-3) {
          continue;
        }
      }
      if (const auto& mem = r.memory()) {
        const double want = mem->per_cpu ? mem->value * vcpus : mem->value;
        if (mem->or_more || mem->per_cpu ? memory + 1e-6 < want
                                         : std::fabs(memory - want) >= 1e-3) {
          continue;
        }
      }
      all.push_back(Found{price, infra, row, table->region[row]});
    }
  }
  auto cheaper = [](const Found& a, const Found& b) {
    if (a.price != b.price) return a.price < b.price;
    if (a.infra != b.infra) return a.infra < b.infra;
    return a.row < b.row;
  };
  std::sort(all.begin(), all.end(), cheaper);
  std::map<std::pair<std::string, uint32_t>, size_t> per_region;
  std::vector<std::pair<std::string, uint32_t>> out;
  for (const Found& found : all) {
    // One row per region of a virtual-type infra: its shapes plan one type.
    const size_t limit = virtual_infras.count(found.infra) ? 1 : keep;
    if (limit > 0 && ++per_region[{found.infra, found.region}] > limit) continue;
    out.emplace_back(found.infra, found.row);
  }
  return out;
}

std::vector<Resources> Requests() {
  std::vector<ResourcesSpec> specs(1);  // any: the default shape
  auto add = [&](auto edit) {
    ResourcesSpec spec;
    edit(spec);
    specs.push_back(spec);
  };
  add([](ResourcesSpec& s) { s.cpus = Quantity{16, true, false}; });
  add([](ResourcesSpec& s) { s.cpus = Quantity{8, false, false}; });
  add([](ResourcesSpec& s) { s.cpus = Quantity{3, true, false}; });
  add([](ResourcesSpec& s) { s.memory = Quantity{32, true, false}; });
  add([](ResourcesSpec& s) { s.memory = Quantity{4, false, true}; });
  add([](ResourcesSpec& s) {
    s.cpus = Quantity{4, true, false};
    s.memory = Quantity{64, false, false};
  });
  add([](ResourcesSpec& s) { s.accelerators = AcceleratorRequest{"A100", 8}; });
  add([](ResourcesSpec& s) { s.accelerators = AcceleratorRequest{"t4", 1}; });
  add([](ResourcesSpec& s) { s.accelerators = AcceleratorRequest{"A100", 0.5}; });
  add([](ResourcesSpec& s) {
    s.accelerators = AcceleratorRequest{"T4", 2};
    s.cpus = Quantity{16, true, false};
  });
  add([](ResourcesSpec& s) { s.instance_type = "m3"; });
  add([](ResourcesSpec& s) {
    s.instance_type = "m5";
    s.accelerators = AcceleratorRequest{"A100", 1};
  });
  add([](ResourcesSpec& s) {
    s.cpus = Quantity{16, true, false};
    s.region = "r2";
  });
  add([](ResourcesSpec& s) {
    s.cloud = "aws";
    s.region = "r1";
    s.zone = "r1b";
  });
  add([](ResourcesSpec& s) { s.cloud = "kubernetes"; });
  std::vector<Resources> out;
  for (ResourcesSpec spec : specs) {
    out.emplace_back(spec);
    spec.use_spot = true;
    out.emplace_back(spec);
  }
  return out;
}

void ExpectSameAsScan(const CatalogData& data) {
  for (const Resources& request : Requests()) {
    for (size_t keep : {0, 1, 3, 1000}) {
      std::vector<std::pair<std::string, uint32_t>> got;
      for (const RowRef& ref : FeasibleRows(data, request, keep)) {
        got.emplace_back(ref.table->infra, ref.row);
        EXPECT_EQ(ref.region, ref.table->region[ref.row]);
        EXPECT_EQ(ref.price,
                  request.use_spot() ? ref.table->spot_price[ref.row] : ref.table->price[ref.row]);
      }
      EXPECT_EQ(got, Reference(data, request, keep))
          << "request " << request.ToString() << (request.use_spot() ? " [spot]" : "") << ", keep "
          << keep;
    }
  }
}

TEST(CatalogQuery, CheapestPerRegionEqualsAFullScan) {
  CatalogData data;
  data.tables["aws"] = RandomTable("aws", 1, 3000);
  data.tables["kubernetes"] = RandomTable("kubernetes", 2, 500);
  data.tables["runpod"] = RandomTable("runpod", 3, 2000);
  ExpectSameAsScan(data);
}

TEST(CatalogQuery, PriceOrderSortsByPriceThenRowWithUnpricedLast) {
  const std::vector<double> prices{2.0, kNaN, 0.5, -0.0, 2.0, 0.0, 1e-300, kNaN, -1.0, 0.5};
  const std::vector<uint32_t> expected{8, 3, 5, 6, 2, 9, 0, 4, 1, 7};
  EXPECT_EQ(PriceOrder(prices), expected);
  EXPECT_TRUE(IsPriceOrder(expected, prices));
  std::vector<uint32_t> swapped = expected;
  std::swap(swapped[4], swapped[5]);  // equal prices out of row order
  EXPECT_FALSE(IsPriceOrder(swapped, prices));
  std::vector<uint32_t> repeated = expected;
  repeated[9] = 1;  // not a permutation
  EXPECT_FALSE(IsPriceOrder(repeated, prices));
  EXPECT_TRUE(PriceOrder({}).empty());
}

TEST(CatalogQuery, TablesReadFromTheCacheAnswerTheSame) {
  TempDir dir;
  CatalogData data;
  for (auto [infra, seed] : {std::pair<std::string, uint32_t>{"aws", 4}, {"kubernetes", 5}}) {
    auto built = RandomTable(infra, seed, 1500);
    const fs::path cache = dir.path() / (infra + ".skycache");
    ASSERT_TRUE(WriteCache(cache, *built, 123, 456, {}));
    auto loaded = LoadCache(cache, infra, 123, 456, nullptr);
    ASSERT_NE(loaded, nullptr);
    data.tables[infra] = loaded;
  }
  ExpectSameAsScan(data);
}

TEST(CatalogQuery, ACacheWithAWrongPriceOrderIsNotUsed) {
  TempDir dir;
  auto table = RandomTable("aws", 6, 100);
  const fs::path cache = dir.path() / "aws.skycache";
  ASSERT_TRUE(WriteCache(cache, *table, 1, 2, {}));
  ASSERT_NE(LoadCache(cache, "aws", 1, 2, nullptr), nullptr);
  // The price order follows the header (64 bytes) and the row columns (two
  // f64, five u32 and three f32 per row): swap its first two entries.
  std::fstream file(cache, std::ios::in | std::ios::out | std::ios::binary);
  const std::streamoff order_at = 64 + 100 * (2 * 8 + 5 * 4 + 3 * 4);
  uint32_t first[2];
  file.seekg(order_at);
  file.read(reinterpret_cast<char*>(first), sizeof first);
  std::swap(first[0], first[1]);
  file.seekp(order_at);
  file.write(reinterpret_cast<const char*>(first), sizeof first);
  file.close();
  EXPECT_EQ(LoadCache(cache, "aws", 1, 2, nullptr), nullptr);
}

}  // namespace
}  // namespace skycore::catalog_internal
