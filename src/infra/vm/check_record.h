// `sky check <cloud>`'s last result, kept in <state_dir>/<cloud>/check.json
// (0600): what a cloud's Infra::Enabled reads without asking the cloud.
#pragma once

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

namespace skycore::vm {

// When the last check of `cloud` passed (Unix seconds); nullopt when it
// failed, or none was kept (no state directory, never checked).
std::optional<int64_t> LastPassedCheck(const std::filesystem::path& state_dir,
                                       const std::string& cloud);

// Keeps a check's result with `fields` (the credentials' source, the
// subscription or project, ...; never a secret). Returns `reason`, with a
// note when the result could not be kept.
std::string KeepCheck(const std::filesystem::path& state_dir, const std::string& cloud,
                      bool enabled, std::string reason,
                      nlohmann::json fields = nlohmann::json::object());

}  // namespace skycore::vm
