// A Unix socket of this process whose connections are served elsewhere: how
// `sky` reaches an agent that no socket forwarding can reach (inside a pod
// through the exec API, on a Slurm compute node through `srun`).
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace skycore::bridge {

// Serves `socket_path` (mode 0600) from a background thread for the rest of
// the process; each accepted connection goes to `handle` on a thread of its
// own, which then owns the descriptor. Idempotent per path (a path already
// served is left as it is). Throws IoError when the socket cannot be made.
// The socket file is removed when the process exits normally.
void ServeUnixSocket(const std::filesystem::path& socket_path, std::function<void(int)> handle);

// A connection handler that runs `argv` with the connection as its stdin
// and stdout (stderr discarded): the program speaks for the socket's peer,
// e.g. `ssh login srun ... skyletd --connect SOCKET`.
std::function<void(int)> SpawnPerConnection(std::vector<std::string> argv);

}  // namespace skycore::bridge
