// Small file helpers shared by the state kept beside the database.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>

namespace skycore::files {

// Writes `text` to `path` all-or-nothing: into a temporary file beside it,
// then renamed over it, so a reader never sees half a file. Creates the
// parent directory. Throws IoError naming the path.
void WriteAtomically(const std::filesystem::path& path, std::string_view text);

// The JSON document at `path`; nullopt when the file is missing or is not
// JSON (a cache a crash or another version left: the caller rebuilds it).
std::optional<nlohmann::json> ReadJsonFile(const std::filesystem::path& path);

}  // namespace skycore::files
