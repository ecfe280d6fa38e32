#include "common/sky_config.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "skycore/error.h"

namespace skycore::config {

YAML::Node LoadConfigFile(const std::filesystem::path& path) {
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) return YAML::Node();
  try {
    return YAML::LoadFile(path.string());
  } catch (const YAML::Exception& e) {
    throw InvalidSkyPilotConfigError(fmt::format("{}: not valid YAML: {}", path.string(), e.msg),
                                     {path.string(), e.mark.line + 1, e.mark.column + 1, ""});
  }
}

std::vector<std::string> ReadNameList(const std::filesystem::path& path, std::string_view section,
                                      std::string_view key, std::string_view what,
                                      std::string_view all_word, std::string_view all_value) {
  std::error_code ec;
  if (path.empty() || !std::filesystem::exists(path, ec)) return {};
  const std::string field = fmt::format("{}.{}", section, key);
  const YAML::Node root = LoadConfigFile(path);
  const std::string section_name(section), key_name(key);
  if (!root.IsMap() || !root[section_name] || !root[section_name].IsMap()) return {};
  const YAML::Node list = root[section_name][key_name];
  if (!list || list.IsNull()) return {};
  auto fail = [&](const YAML::Node& node) -> void {
    throw InvalidSkyPilotConfigError(
        fmt::format("{}: {} must be a list of {}", path.string(), field, what),
        {path.string(), node.Mark().line + 1, node.Mark().column + 1, field});
  };
  if (!all_word.empty() && list.IsScalar() && list.Scalar() == all_word) {
    return {std::string(all_value)};
  }
  if (!list.IsSequence()) fail(list);
  std::vector<std::string> names;
  for (const auto& item : list) {
    if (!item.IsScalar() || item.Scalar().empty()) fail(item);
    names.push_back(item.Scalar());
  }
  return names;
}

}  // namespace skycore::config
