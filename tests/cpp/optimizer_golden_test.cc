// Golden optimizer cases: tests/golden/optimizer/<case>.yaml against a fixed
// small catalog (tests/golden/optimizer/catalog/*.csv) must give exactly
// <case>.expected (the plan, failover order and optimizer table, or the
// error). A first line `# options: {...}` sets OptimizeOptions
// (enabled_infras, blocked as infra strings, target "cost"/"time").
// To regenerate after an intended change: SKYCORE_UPDATE_GOLDEN=1 skycore_tests
// --gtest_filter='OptimizerGolden*', then review the diff.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/strings.h"
#include "skycore/error.h"
#include "skycore/optimizer.h"
#include "skycore/yaml.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;

const fs::path kGoldenDir = fs::path(SKYCORE_SOURCE_DIR) / "tests" / "golden" / "optimizer";

std::string ReadFile(const fs::path& path) {
  std::ifstream stream(path, std::ios::binary);
  std::stringstream buffer;
  buffer << stream.rdbuf();
  return buffer.str();
}

Catalog GoldenCatalog() {
  std::vector<std::pair<std::string, fs::path>> files;
  for (const auto& entry : fs::directory_iterator(kGoldenDir / "catalog")) {
    if (entry.path().extension() == ".csv") files.emplace_back(entry.path().stem(), entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<CatalogIssue> issues;
  Catalog catalog = Catalog::LoadFiles(files, &issues, /*use_cache=*/false);
  for (const auto& issue : issues) ADD_FAILURE() << issue.ToString();
  return catalog;
}

OptimizeOptions ParseOptions(const std::string& yaml_text) {
  OptimizeOptions options;
  const std::string marker = "# options:";
  if (yaml_text.rfind(marker, 0) != 0) return options;
  auto json =
      nlohmann::json::parse(yaml_text.substr(marker.size(), yaml_text.find('\n') - marker.size()));
  if (json.contains("enabled_infras")) {
    options.enabled_infras = json["enabled_infras"].get<std::vector<std::string>>();
  }
  for (const auto& blocked : json.value("blocked", nlohmann::json::array())) {
    options.blocked.push_back(LoadResourcesConfig(blocked));
  }
  if (json.value("target", "cost") == "time") options.target = OptimizeTarget::kTime;
  return options;
}

std::string RenderCandidate(const Candidate& c) {
  std::string gpus = c.accelerator_name.empty() ? std::string()
                                                : " " + c.accelerator_name + ":" +
                                                      strings::FormatNumber(c.accelerator_count);
  return fmt::format("{} {}{}{} ${:.4f}/h", c.InfraString(), c.instance_type, gpus,
                     c.use_spot ? " [spot]" : "", c.hourly_price);
}

std::string Render(const Dag& dag, const Catalog& catalog, const OptimizeOptions& options) {
  std::string out;
  try {
    Plan plan = Optimize(dag, catalog, options);
    for (const TaskPlan& task_plan : plan.tasks) {
      const Task& task = *dag.tasks()[task_plan.task_index];
      out += fmt::format("task {}: {} cost ${:.4f} (alternative {})\n",
                         task.name().value_or(fmt::format("#{}", task_plan.task_index)),
                         RenderCandidate(task_plan.chosen), task_plan.chosen.cost,
                         task_plan.chosen.alternative);
      if (task_plan.egress_cost_in > 0) {
        out += fmt::format("  egress in: ${:.4f}\n", task_plan.egress_cost_in);
      }
      for (size_t i = 0; i < task_plan.failover.size() && i < 6; ++i) {
        out += fmt::format("  failover {}: {}\n", i + 1, RenderCandidate(task_plan.failover[i]));
      }
    }
    out += fmt::format("total: ${:.4f} (compute ${:.4f}, egress ${:.4f})\n\n", plan.total_cost(),
                       plan.compute_cost, plan.egress_cost);
    out += FormatOptimizerTable(dag, plan);
  } catch (const Error& e) {
    out += fmt::format("error {}: {}\n", ErrorCodeName(e.code()), e.what());
    for (const auto& suggestion : e.suggestions()) out += "  suggestion: " + suggestion + "\n";
  }
  return out;
}

class OptimizerGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimizerGolden, MatchesExpected) {
  static const Catalog catalog = GoldenCatalog();
  const fs::path yaml_path = kGoldenDir / (GetParam() + ".yaml");
  const std::string yaml_text = ReadFile(yaml_path);
  Dag dag = LoadDagYaml(yaml_text);
  const std::string actual = Render(dag, catalog, ParseOptions(yaml_text));
  const fs::path expected_path = kGoldenDir / (GetParam() + ".expected");
  if (std::getenv("SKYCORE_UPDATE_GOLDEN") != nullptr) {
    std::ofstream(expected_path, std::ios::binary) << actual;
  }
  ASSERT_TRUE(fs::exists(expected_path)) << expected_path << " is missing";
  EXPECT_EQ(actual, ReadFile(expected_path)) << "golden case " << GetParam();
}

std::vector<std::string> Cases() {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(kGoldenDir)) {
    if (entry.path().extension() == ".yaml") names.push_back(entry.path().stem());
  }
  std::sort(names.begin(), names.end());
  return names;
}

INSTANTIATE_TEST_SUITE_P(Cases, OptimizerGolden, ::testing::ValuesIn(Cases()),
                         [](const auto& info) { return info.param; });

TEST(OptimizerGoldenSuite, HasTheRequiredCases) {
  auto cases = Cases();
  for (const char* required : {"chain_with_egress", "any_of_cheapest", "ordered_first_feasible",
                               "spot_uses_spot_price", "blocked_resources", "infeasible_count"}) {
    EXPECT_NE(std::find(cases.begin(), cases.end(), required), cases.end()) << required;
  }
}

}  // namespace
}  // namespace skycore
