// Copying a task's workdir and file_mounts onto nodes with rsync.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "skycore/task.h"

namespace skycore::backend {

// One node as rsync reaches it: a directory of this machine, or a host
// through a remote shell (`rsync -e`).
struct SyncTarget {
  std::string remote_shell;       // the `ssh ...` command rsync runs; empty: this machine
  std::string host;               // "user@address" (remote only)
  std::filesystem::path home;     // where `~/x` and relative file_mounts land
  std::filesystem::path workdir;  // where the workdir lands

  static SyncTarget Local(std::filesystem::path home, std::filesystem::path workdir) {
    return {"", "", std::move(home), std::move(workdir)};
  }
  bool remote() const { return !remote_shell.empty(); }
  // rsync's name for `path` on this target ("user@host:/p" or "/p").
  std::string Spec(const std::filesystem::path& path) const;
};

// Where a file_mounts destination lands on a node whose home is `node_home`:
// `~/x` and relative paths under the node's home, absolute paths as they are
// (every local node is this machine, so those are shared by all of them).
std::filesystem::path ResolveDestination(const std::string& destination,
                                         const std::filesystem::path& node_home);

// Syncs the workdir into each target's workdir (in parallel). A `.skyignore`
// in the workdir, else its `.gitignore` files, say what to leave out, as in
// SkyPilot. Throws IoError naming the source when it is missing,
// CommandError with rsync's output when a copy fails.
void SyncWorkdir(const Workdir& workdir, const std::vector<SyncTarget>& targets);

// Copies the plain file mounts to every target (in parallel);
// NotSupportedError for storage and cloud-URI mounts.
void SyncFileMounts(const std::vector<FileMount>& mounts, const std::vector<SyncTarget>& targets);

// Copies `source` (a directory of `target`) into the local `destination`.
void FetchDirectory(const SyncTarget& target, const std::filesystem::path& source,
                    const std::filesystem::path& destination);

// Expands a leading `~` with $HOME.
std::filesystem::path ExpandUser(const std::string& path);

}  // namespace skycore::backend
