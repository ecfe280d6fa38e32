// What the SSH and Slurm backends share: a cluster's agent on a remote host
// reached over ssh.
//
// On a host, skycore keeps to one directory, `$SKYCORE_HOME` or else
// `~/.skycore` (the "root", found by the first command):
//
//   <root>/bin/skyletd-<size>-<mtime>   the agent binary (shared by the
//                                       host's clusters; a new build gets a
//                                       new name, so none runs a stale one)
//   <root>/run/<hash>.sock              a cluster's agent socket
//   <root>/clusters/<name>/             everything of cluster <name>:
//     node<i>/sky_workdir               node i's working directory
//     nodes.json, agent/, sky_logs/, skyletd.log, skyletd.pid   (the agent)
//
// This machine reaches the agent through a Unix socket forwarded over the
// shared ssh connection to the agent's host.
#pragma once

#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "backend/cluster_backend.h"
#include "backend/ssh_runner.h"
#include "backend/sync.h"

namespace skycore::backend::remote {

// The runner options every backend uses: skycore's known_hosts, shared
// connections, short connect timeouts.
ssh::RunnerOptions RunnerOptionsFor(const BackendContext& context);

// Where this machine's end of cluster `name`'s forwarded agent socket is.
std::string LocalSocketPath(const ssh::RunnerOptions& options,
                            const std::filesystem::path& state_dir, const std::string& name);

// A short stable hash of `text` (16 hex digits).
std::string HashText(const std::string& text);

// The agent binary's name on hosts.
std::string AgentBinaryName(const std::filesystem::path& skyletd);

// Copies the agent binary to `<root>/bin/` on the runner's host.
void InstallAgent(const ssh::SshRunner& runner, const std::filesystem::path& skyletd,
                  const std::string& root);

std::string ClusterDir(const std::string& root, const std::string& name);
std::string RemoteSocket(const std::string& root, const std::string& name);
std::string NodeWorkdir(const std::string& root, const std::string& name, size_t node);

// Creates the root and cluster `name`'s directories for `nodes` (indices);
// prints `root=<absolute root>` and `agent=yes|no`.
std::string PrepareCommand(const std::string& name, const std::vector<size_t>& nodes,
                           const std::string& agent_name);
struct Prepared {
  std::string root;  // empty when the output was not PrepareCommand's
  bool has_agent = false;
};
Prepared ParsePrepared(const std::string& output);

// Writes `files` (path → content, mode 600) and the node spec, then starts
// the agent unless it already runs, and waits for its socket. With
// `restart`, a running agent is stopped first (its node spec changed).
// `socket`: where the agent listens (empty: RemoteSocket(root, name)).
// `autostop_hook`: the shell command the agent runs when autostop fires.
std::string StartAgentCommand(const std::string& root, const std::string& name,
                              const std::string& agent_name, const nlohmann::json& node_spec,
                              const std::vector<std::pair<std::string, std::string>>& files,
                              bool restart, const std::string& socket = "",
                              const std::string& autostop_hook = "");

// Shell lines writing `content` to `path` (then `chmod mode`).
std::string WriteFileCommand(const std::string& path, const std::string& content,
                             const std::string& mode);

// Stops cluster `name`'s agent (it stops its jobs) and whatever still runs
// in the cluster's directory, then removes the directory and the socket.
std::string TeardownCommand(const std::string& name);

// A Unix socket here that reaches the agent at `remote_socket` on the
// runner's host (ClusterNotUpError saying why when it cannot).
std::string ConnectAgent(const std::string& local_socket, const ssh::SshRunner& runner,
                         const std::string& remote_socket, const std::string& name);

// rsync's view of node `node` of cluster `name` on the runner's host.
SyncTarget TargetFor(const ssh::SshRunner& runner, const std::string& root, const std::string& name,
                     size_t node);

// The content of a local file (IoError naming it).
std::string ReadLocal(const std::filesystem::path& path);

// Runs fn(i) for i in [0, n) in parallel; returns the results in order.
template <typename Fn>
auto Parallel(size_t n, Fn fn) {
  std::vector<std::future<decltype(fn(size_t{0}))>> futures;
  for (size_t i = 0; i < n; ++i) futures.push_back(std::async(std::launch::async, fn, i));
  std::vector<decltype(fn(size_t{0}))> results;
  for (auto& future : futures) results.push_back(future.get());
  return results;
}

}  // namespace skycore::backend::remote
