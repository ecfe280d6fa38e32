// Catalog loading: header-driven CSV parsing, bad rows, GPU attachment, the
// binary cache, and the built-in catalog.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "skycore/catalog.h"
#include "skycore/error.h"
#include "temp_dir.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;

// Each test's own directory under /tmp.
struct TempDir : skycore::testing::TempDir {
  TempDir() : skycore::testing::TempDir("catalog") {}
};

void WriteFile(const fs::path& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

// A copy of the built-in catalog, so that cache files stay out of the source tree.
CatalogPaths BuiltinCopy(const fs::path& dir) {
  for (const auto& entry :
       fs::directory_iterator(fs::path(SKYCORE_SOURCE_DIR) / "catalog" / "builtin")) {
    if (entry.path().extension() == ".csv")
      fs::copy_file(entry.path(), dir / entry.path().filename());
  }
  CatalogPaths paths;
  paths.builtin_dirs = {dir};
  return paths;
}

TEST(CatalogCsv, ColumnOrderComesFromTheHeader) {
  const std::string aws =
      "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,"
      "Region,AvailabilityZone\n"
      "p4d.24xlarge,A100,8.0,96.0,1152.0,\"{'Gpus': [{'Name': 'A100', 'MemoryInfo': "
      "{'SizeInMiB': 40960}}]}\",32.77,9.83,us-east-1,us-east-1a\n";
  const std::string reordered =
      "Region,Price,InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,SpotPrice\n"
      "us-east-1,32.77,p4d.24xlarge,96,1152,A100,8,\n";
  for (const auto& text : {aws, reordered}) {
    std::vector<CatalogIssue> issues;
    Catalog catalog = Catalog::FromCsvText("aws", text, "x.csv", &issues);
    EXPECT_TRUE(issues.empty()) << issues.front().ToString();
    auto rows = catalog.Rows("aws");
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].instance_type, "p4d.24xlarge");
    EXPECT_EQ(rows[0].accelerator_name, "A100");
    EXPECT_DOUBLE_EQ(rows[0].accelerator_count, 8);
    EXPECT_DOUBLE_EQ(rows[0].vcpus, 96);
    EXPECT_DOUBLE_EQ(*rows[0].price, 32.77);
    EXPECT_EQ(rows[0].region, "us-east-1");
  }
}

TEST(CatalogCsv, BadRowsAreReportedWithLineAndSkipped) {
  const std::string text =
      "InstanceType,vCPUs,MemoryGiB,Price,SpotPrice,Region,AvailabilityZone\n"
      "m.good,2,8,0.1,0.03,r1,r1a\n"
      "m.badprice,2,8,abc,,r1,r1a\n"
      "m.short,2,8\n"
      "m.negative,2,8,-1,,r1,r1a\n"
      "\n"
      ",2,8,0.1,,r1,r1a\n"
      "m.noregion,2,8,0.1,,,r1a\n"
      "m.nospot,4,16,0.2,,r1,r1b\n"
      "\"m.unterminated,2,8,0.1,,r1,r1a\n";
  std::vector<CatalogIssue> issues;
  Catalog catalog = Catalog::FromCsvText("test", text, "t.csv", &issues);
  auto rows = catalog.Rows("test");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].instance_type, "m.good");
  EXPECT_EQ(rows[1].instance_type, "m.nospot");
  EXPECT_FALSE(rows[1].spot_price.has_value());
  std::vector<int> lines;
  for (const auto& issue : issues) lines.push_back(issue.line);
  EXPECT_EQ(lines, (std::vector<int>{3, 4, 5, 7, 8, 10}));
  EXPECT_EQ(issues[0].ToString().substr(0, 6), "t.csv:");
  EXPECT_NE(issues[0].message.find("Price"), std::string::npos);
}

TEST(CatalogCsv, MissingRequiredColumnsIsOneIssue) {
  std::vector<CatalogIssue> issues;
  Catalog catalog = Catalog::FromCsvText("x", "a,b,c\n1,2,3\n", "g.csv", &issues);
  EXPECT_EQ(catalog.num_rows(), 0u);
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 1);
}

TEST(CatalogCsv, GcpAcceleratorRowsAttachToHosts) {
  const std::string text =
      "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,"
      "AvailabilityZone,Price,SpotPrice\n"
      "a2-highgpu-8g,96.0,680.0,,,,us-central1,us-central1-a,5.9,2.3\n"
      "n1-standard-8,8.0,30.0,,,,us-central1,us-central1-a,0.38,0.08\n"
      ",,,A100,8,,us-central1,us-central1-a,23.4,9.1\n"
      ",,,T4,1,,us-central1,us-central1-a,0.35,0.14\n";
  std::vector<CatalogIssue> issues;
  Catalog catalog = Catalog::FromCsvText("gcp", text, "gcp.csv", &issues);
  EXPECT_TRUE(issues.empty());
  auto rows = catalog.Rows("gcp");
  // n1-standard-8 as CPU; a2 host only with its GPUs; A100:8 on a2; T4 on n1.
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].instance_type, "n1-standard-8");
  EXPECT_EQ(rows[1].instance_type, "a2-highgpu-8g");
  EXPECT_EQ(rows[1].accelerator_name, "A100");
  EXPECT_NEAR(*rows[1].price, 29.3, 1e-9);
  EXPECT_NEAR(*rows[1].spot_price, 11.4, 1e-9);
  EXPECT_EQ(rows[2].instance_type, "n1-standard-8");
  EXPECT_EQ(rows[2].accelerator_name, "T4");
}

TEST(CatalogCsv, GcpTpuRowsComeWithTheirOwnHost) {
  const std::string text =
      "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,GpuInfo,Region,"
      "AvailabilityZone,Price,SpotPrice\n"
      "n1-standard-8,8.0,30.0,,,,us-central1,us-central1-a,0.38,0.08\n"
      ",224.0,384.0,tpu-v5litepod-8,1,,us-central1,us-central1-a,9.6,3.84\n";
  std::vector<CatalogIssue> issues;
  Catalog catalog = Catalog::FromCsvText("gcp", text, "gcp.csv", &issues);
  EXPECT_TRUE(issues.empty());
  auto rows = catalog.Rows("gcp");
  // Not attached to n1-standard-8 (no host rule names TPUs): a TPU VM.
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[1].instance_type, "TPU-VM");
  EXPECT_EQ(rows[1].accelerator_name, "tpu-v5litepod-8");
  EXPECT_NEAR(*rows[1].price, 9.6, 1e-9);
}

TEST(CatalogBuiltin, LoadsEveryCloudWithoutIssues) {
  TempDir dir;
  std::vector<CatalogIssue> issues;
  Catalog catalog = Catalog::Load(BuiltinCopy(dir.path()), &issues);
  for (const auto& issue : issues) ADD_FAILURE() << issue.ToString();
  EXPECT_EQ(catalog.infras(),
            (std::vector<std::string>{"aws", "azure", "gcp", "lambda", "runpod"}));
  for (const char* gpu :
       {"H200", "H100", "A100-80GB", "A100", "L40S", "L4", "A10G", "A10", "T4", "V100"}) {
    AcceleratorQuery query;
    query.name_filter = gpu;
    query.exact_name = true;
    EXPECT_FALSE(catalog.ListAccelerators(query).empty()) << gpu;
  }
  auto price = catalog.HourlyPrice("aws", "m6i.large", "us-east-1", "", false);
  ASSERT_TRUE(price.has_value());
  EXPECT_DOUBLE_EQ(*price, 0.096);
  EXPECT_FALSE(catalog.HourlyPrice("aws", "m6i.large", "mars-1", "", false).has_value());
  EXPECT_NE(std::find(catalog.Regions("gcp").begin(), catalog.Regions("gcp").end(), "us-central1"),
            catalog.Regions("gcp").end());
  auto zones = catalog.Zones("aws", "us-east-1");
  EXPECT_EQ(zones.size(), 5u);
}

TEST(CatalogCache, IsWrittenReusedAndRebuiltWhenTheCsvChanges) {
  TempDir dir;
  const fs::path csv = dir.path() / "test.csv";
  WriteFile(csv,
            "InstanceType,vCPUs,MemoryGiB,Price,SpotPrice,Region\n"
            "m.one,2,8,0.1,,r1\n"
            "m.bad,2,8,x,,r1\n");
  std::vector<CatalogIssue> issues;
  Catalog first = Catalog::LoadFiles({{"test", csv}}, &issues);
  ASSERT_TRUE(fs::exists(dir.path() / "test.csv.skycache"));
  EXPECT_EQ(first.num_rows(), 1u);
  ASSERT_EQ(issues.size(), 1u);

  // The second load reads the cache, and reports the same issue.
  issues.clear();
  Catalog second = Catalog::LoadFiles({{"test", csv}}, &issues);
  EXPECT_EQ(second.Rows("test")[0].instance_type, "m.one");
  ASSERT_EQ(issues.size(), 1u);
  EXPECT_EQ(issues[0].line, 3);
  EXPECT_EQ(issues[0].file, csv.string());

  // A corrupt cache is ignored (and replaced).
  WriteFile(dir.path() / "test.csv.skycache", "SKYCCAT garbage");
  EXPECT_EQ(Catalog::LoadFiles({{"test", csv}}).num_rows(), 1u);

  // A changed CSV (other size) invalidates the cache.
  WriteFile(csv,
            "InstanceType,vCPUs,MemoryGiB,Price,SpotPrice,Region\n"
            "m.one,2,8,0.1,,r1\n"
            "m.two,4,16,0.2,0.05,r2\n");
  Catalog third = Catalog::LoadFiles({{"test", csv}});
  ASSERT_EQ(third.num_rows(), 2u);
  EXPECT_EQ(third.Rows("test")[1].instance_type, "m.two");
  EXPECT_DOUBLE_EQ(*third.Rows("test")[1].spot_price, 0.05);
}

TEST(CatalogPathsTest, EnvironmentOverridesAndStateCatalogsWin) {
  TempDir dir;
  fs::create_directories(dir.path() / "builtin");
  WriteFile(dir.path() / "builtin" / "aws.csv",
            "InstanceType,Price,Region\nbuiltin.large,1.0,r1\n");
  fs::create_directories(dir.path() / "state" / "catalogs" / "v7" / "aws");
  auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    if (name == "SKYCORE_CATALOG_DIR") return (dir.path() / "builtin").string();
    if (name == "SKYCORE_STATE_DIR") return (dir.path() / "state").string();
    return std::nullopt;
  };
  CatalogPaths paths = CatalogPaths::FromEnvironment(lookup);
  EXPECT_EQ(paths.state_dir, dir.path() / "state");
  ASSERT_FALSE(paths.builtin_dirs.empty());
  EXPECT_EQ(paths.builtin_dirs[0], dir.path() / "builtin");
  paths.builtin_dirs.resize(1);
  EXPECT_EQ(Catalog::Load(paths).Rows("aws")[0].instance_type, "builtin.large");
  WriteFile(dir.path() / "state" / "catalogs" / "v7" / "aws" / "vms.csv",
            "InstanceType,Price,Region\nrefreshed.large,1.0,r1\n");
  EXPECT_EQ(Catalog::Load(paths).Rows("aws")[0].instance_type, "refreshed.large");
}

}  // namespace
}  // namespace skycore
