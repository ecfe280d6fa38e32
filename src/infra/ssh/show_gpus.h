// `sky show-gpus --infra ssh[/<pool>]`'s per-host table.
#pragma once

#include <filesystem>
#include <string>

namespace skycore {

// Each ready host's GPUs, total and free (not held by a cluster), as the last
// `sky check ssh` found the hosts; `pool` empty: every pool.
void PrintSshHostGpus(const std::string& pool, const std::filesystem::path& state_dir);

}  // namespace skycore
