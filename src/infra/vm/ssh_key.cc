#include "infra/vm/ssh_key.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/files.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "skycore/error.h"

namespace skycore::vm {
namespace fs = std::filesystem;

fs::path EnsureClientKey(const fs::path& state_dir) {
  const fs::path dir = state_dir / "ssh";
  files::EnsurePrivateDir(dir);
  const fs::path key = dir / "sky-key";
  const fs::path lock_path = dir / ".sky-key.lock";
  const int fd = ::open(lock_path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) throw IoError(fmt::format("cannot open {}", lock_path.string()));
  ::flock(fd, LOCK_EX);
  std::error_code ec;
  std::string failure;
  if (!fs::exists(key, ec) || !fs::exists(fs::path(key.string() + ".pub"), ec)) {
    const fs::path temp = dir / fmt::format(".sky-key.{}", ::getpid());
    fs::remove(temp, ec);
    fs::remove(fs::path(temp.string() + ".pub"), ec);
    const auto result = subprocess::Run(
        {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "skycore", "-f", temp.string()}, 30);
    if (result.exit_code != 0) {
      failure = result.started ? strings::Trim(result.output) : "ssh-keygen is not installed";
    } else {
      fs::rename(fs::path(temp.string() + ".pub"), fs::path(key.string() + ".pub"), ec);
      if (!ec) fs::rename(temp, key, ec);
      if (ec) failure = ec.message();
    }
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  if (!failure.empty()) {
    throw IoError(fmt::format("cannot create skycore's SSH key {}: {}", key.string(), failure));
  }
  return key;
}

}  // namespace skycore::vm
