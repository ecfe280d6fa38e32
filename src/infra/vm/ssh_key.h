// skycore's own SSH key for cloud instances: every VM cloud imports its
// public half (a key pair per user) and logs into the instances with it.
#pragma once

#include <filesystem>

namespace skycore::vm {

// `<state_dir>/ssh/sky-key` (and `.pub`), made with ssh-keygen (ed25519) on
// first use; a file lock keeps two launches from making two keys. IoError
// saying why when it cannot be made.
std::filesystem::path EnsureClientKey(const std::filesystem::path& state_dir);

}  // namespace skycore::vm
