// Small file helpers shared by the state kept beside the database.
#pragma once

#include <filesystem>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace skycore::files {

// Writes `text` to `path` all-or-nothing: into a temporary file beside it,
// then renamed over it, so a reader never sees half a file. The file is
// mode 0600. Creates the parent directory (0700, see EnsurePrivateDir).
// Throws IoError naming the path.
void WriteAtomically(const std::filesystem::path& path, std::string_view text);

// The whole content of the file at `path`, bytes as they are; nullopt when it
// cannot be opened (missing, unreadable).
std::optional<std::string> ReadText(const std::filesystem::path& path);

// The JSON document at `path`; nullopt when the file is missing or is not
// JSON (a cache a crash or another version left: the caller rebuilds it).
std::optional<nlohmann::json> ReadJsonFile(const std::filesystem::path& path);

// Private state: directories skycore keeps state, logs or secrets in are 0700
// and their databases and logs 0600, so other users of a shared machine (a
// Slurm login node, an SSH host) cannot read them.
//
// Creates `dir` and its missing parents with mode 0700, and takes group and
// other permissions away from `dir` itself when it exists already (state an
// older version created 0755). Throws IoError naming the directory.
void EnsurePrivateDir(const std::filesystem::path& dir);

// Takes group and other permissions away from `path` when it exists (a file
// an older version created 0644); best effort.
void RestrictToOwner(const std::filesystem::path& path);

// Prepares the SQLite database at `path` for private use: creates it empty
// with mode 0600 when missing (SQLite gives its -wal and -shm files the
// database's mode) and restricts an existing one and its -wal and -shm.
void PrepareDatabaseFile(const std::filesystem::path& path);

}  // namespace skycore::files
