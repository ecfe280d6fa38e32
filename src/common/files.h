// Small file helpers shared by the state kept beside the database.
#pragma once

#include <filesystem>
#include <string_view>

namespace skycore::files {

// Writes `text` to `path` all-or-nothing: into a temporary file beside it,
// then renamed over it, so a reader never sees half a file. Creates the
// parent directory. Throws IoError naming the path.
void WriteAtomically(const std::filesystem::path& path, std::string_view text);

}  // namespace skycore::files
