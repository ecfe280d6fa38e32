// Reading SkyPilot's config file (`~/.sky/config.yaml`, i.e.
// `<state_dir>/config.yaml`) for the few keys skycore's infras use.
#pragma once

#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace skycore::config {

// The whole config file at `path`; a null node when there is none (no file
// is no settings). InvalidSkyPilotConfigError naming the file, line and
// column for malformed YAML.
YAML::Node LoadConfigFile(const std::filesystem::path& path);

// `<section>.<key>` as a list of names (`kubernetes.allowed_contexts`,
// `ssh.allowed_node_pools`); empty when the file, section or key is absent.
// Throws InvalidSkyPilotConfigError naming the file, line and field for
// malformed YAML or a value that is not a list of names; `what` says what
// the names are ("context names"). A scalar `all_word` (SkyPilot's `all`),
// when given, reads as {all_value}.
std::vector<std::string> ReadNameList(const std::filesystem::path& path, std::string_view section,
                                      std::string_view key, std::string_view what,
                                      std::string_view all_word = {},
                                      std::string_view all_value = {});

}  // namespace skycore::config
