#include "infra/vm/settings.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>

#include "common/sky_config.h"
#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::vm {

void ReadCloudSection(const std::filesystem::path& path, const std::string& name,
                      const std::vector<std::string>& keys,
                      const std::map<std::string, std::string*>& targets) {
  const YAML::Node root = config::LoadConfigFile(path);
  if (!root || !root.IsMap() || !root[name]) return;
  const YAML::Node section = root[name];
  if (section.IsNull()) return;
  if (!section.IsMap()) {
    throw InvalidSkyPilotConfigError(
        fmt::format("{}: {} must be a mapping", path.string(), name),
        {path.string(), section.Mark().line + 1, section.Mark().column + 1, name});
  }
  for (const auto& entry : section) {
    const std::string key = entry.first.as<std::string>();
    const ErrorLocation where{path.string(), entry.first.Mark().line + 1,
                              entry.first.Mark().column + 1, fmt::format("{}.{}", name, key)};
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      const auto close = strings::CloseMatches(key, keys);
      throw InvalidSkyPilotConfigError(
          fmt::format("unknown field {}.{}{}", name, key,
                      close.empty() ? fmt::format("; valid fields: {}", fmt::join(keys, ", "))
                                    : std::string(".")),
          where, close);
    }
    const auto target = targets.find(key);
    if (target == targets.end()) continue;
    if (!entry.second.IsScalar() || entry.second.Scalar().empty()) {
      throw InvalidSkyPilotConfigError(fmt::format("{}.{} must be a non-empty string", name, key),
                                       where);
    }
    *target->second = entry.second.Scalar();
  }
}

}  // namespace skycore::vm
