// A cloud's section of `<state_dir>/config.yaml` (`aws:`, `azure:`, ...):
// the keys it may have, checked, and its string values read.
#pragma once

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace skycore::vm {

// Reads section `name` of the config file at `path` (absent: nothing is
// set). Every key must be in `keys`; the values of those in `targets` must be
// non-empty strings and are stored there. Throws InvalidSkyPilotConfigError
// naming the file, line and field for an unknown key (with close matches), a
// section that is not a mapping, or a value that is not a string.
void ReadCloudSection(const std::filesystem::path& path, const std::string& name,
                      const std::vector<std::string>& keys,
                      const std::map<std::string, std::string*>& targets);

}  // namespace skycore::vm
