#include "cli/display.h"

#include <fmt/format.h>

#include <chrono>
#include <map>

#include "cli/task_flags.h"
#include "common/strings.h"
#include "infra/descriptor.h"
#include "skycore/yaml.h"

namespace skycore::cli {
namespace {

std::optional<Resources> ParseResources(const nlohmann::json& launched_resources) {
  if (!launched_resources.is_object() || launched_resources.empty()) return std::nullopt;
  try {
    return LoadResourcesConfig(launched_resources);
  } catch (const Error&) {
    return std::nullopt;  // written by another version: show what we can
  }
}

}  // namespace

std::string PrettyInfraName(std::string_view infra) { return infra::DisplayName(infra); }

std::string InfraCell(const nlohmann::json& launched_resources) {
  auto resources = ParseResources(launched_resources);
  if (!resources || resources->cloud().empty()) return "-";
  std::string cell = PrettyInfraName(resources->cloud());
  std::string where = resources->region();
  if (!resources->zone().empty()) where += (where.empty() ? "" : ", ") + resources->zone();
  if (!where.empty()) cell += " (" + where + ")";
  return cell;
}

std::string ResourcesCell(const nlohmann::json& launched_resources, int num_nodes) {
  auto resources = ParseResources(launched_resources);
  if (!resources) return "-";
  std::vector<std::string> parts;
  if (resources->accelerators()) parts.push_back("gpus=" + resources->accelerators()->ToString());
  if (resources->cpus()) parts.push_back("cpus=" + resources->cpus()->ToString());
  if (resources->memory()) parts.push_back("mem=" + resources->memory()->ToString());
  if (!resources->instance_type().empty()) parts.push_back(resources->instance_type());
  if (resources->disk_size_gb())
    parts.push_back(fmt::format("disk={}", *resources->disk_size_gb()));
  if (resources->use_spot()) parts.push_back("[spot]");
  if (parts.empty()) return fmt::format("{}x", num_nodes);
  return fmt::format("{}x({})", num_nodes, fmt::join(parts, ", "));
}

std::string TildePath(const std::string& path) {
  auto home = LookupEnv("HOME");
  if (home && !home->empty() && path.starts_with(*home) &&
      (path.size() == home->size() || path[home->size()] == '/')) {
    return "~" + path.substr(home->size());
  }
  return path;
}

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::unique_ptr<Sky> OpenSky() {
  return std::make_unique<Sky>(SkyOptions::FromEnvironment(LookupEnv));
}

bool IsGlob(std::string_view name) { return name.find_first_of("*?[") != std::string::npos; }

int JobStatusExitCode(JobStatus status) {
  switch (status) {
    case JobStatus::kSucceeded:
      return 0;
    case JobStatus::kCancelled:
      return kExitJobCancelled;
    case JobStatus::kFailed:
    case JobStatus::kFailedSetup:
    case JobStatus::kFailedDriver:
      return kExitJobFailed;
    default:
      return kExitJobNotFinished;
  }
}

}  // namespace skycore::cli
