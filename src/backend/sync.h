// Copying a task's workdir and file_mounts onto nodes with rsync.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "skycore/task.h"

namespace skycore::backend {

// Where a file_mounts destination lands on a node whose home is `node_home`:
// `~/x` and relative paths under the node's home, absolute paths as they are
// (every local node is this machine, so those are shared by all of them).
std::filesystem::path ResolveDestination(const std::string& destination,
                                         const std::filesystem::path& node_home);

// Syncs the workdir into each destination directory (in parallel). A
// `.skyignore` in the workdir, else its `.gitignore` files, say what to leave
// out, as in SkyPilot. Throws IoError naming the source when it is missing,
// CommandError with rsync's output when a copy fails.
void SyncWorkdir(const Workdir& workdir, const std::vector<std::filesystem::path>& destinations);

// Copies the plain file mounts to every node home (in parallel);
// NotSupportedError for storage and cloud-URI mounts on the local infra.
void SyncFileMounts(const std::vector<FileMount>& mounts,
                    const std::vector<std::filesystem::path>& node_homes);

// Expands a leading `~` with $HOME.
std::filesystem::path ExpandUser(const std::string& path);

}  // namespace skycore::backend
