#include "common/files.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "skycore/error.h"

namespace skycore::files {
namespace fs = std::filesystem;

void WriteAtomically(const fs::path& path, std::string_view text) {
  std::error_code ec;
  try {
    EnsurePrivateDir(path.parent_path());
  } catch (const IoError&) {
    // Writing the temporary file below says why.
  }
  // Unique per writer: threads of one process may replace the same file at once.
  static std::atomic<uint64_t> sequence{0};
  const fs::path temporary =
      path.parent_path() / fmt::format(".{}.{}.{}.tmp", path.filename().string(), ::getpid(),
                                       sequence.fetch_add(1, std::memory_order_relaxed));
  {
    std::ofstream out(temporary, std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    if (!out.flush()) {
      fs::remove(temporary, ec);
      throw IoError(fmt::format("cannot write {}", temporary.string()));
    }
  }
  // State: this user's alone (the directory is private too).
  fs::permissions(temporary, fs::perms::owner_read | fs::perms::owner_write, ec);
  fs::rename(temporary, path, ec);
  if (ec) {
    const std::string why = ec.message();
    fs::remove(temporary, ec);
    throw IoError(fmt::format("cannot replace {}: {}", path.string(), why));
  }
}

std::optional<std::string> ReadText(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

std::optional<nlohmann::json> ReadJsonFile(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  auto parsed = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return std::nullopt;
  return parsed;
}

namespace {

// Creates `dir` (mode 0700) and its missing parents (0700 too); an existing
// directory is left as it is. Fills `info` with the directory's.
void MakeDirs(const fs::path& dir, struct stat& info) {
  if (::stat(dir.c_str(), &info) == 0) return;
  const fs::path parent = dir.parent_path();
  if (!parent.empty() && parent != dir) {
    struct stat ignored {};
    MakeDirs(parent, ignored);
  }
  if ((::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) || ::stat(dir.c_str(), &info) != 0) {
    throw IoError(
        fmt::format("cannot create the directory {}: {}", dir.string(), std::strerror(errno)));
  }
}

}  // namespace

void EnsurePrivateDir(const fs::path& dir) {
  if (dir.empty()) return;
  struct stat info {};
  MakeDirs(dir, info);
  if (!S_ISDIR(info.st_mode)) throw IoError(fmt::format("{} is not a directory", dir.string()));
  // Only a directory this user owns is ours to restrict.
  if ((info.st_mode & 077) != 0 && info.st_uid == ::getuid()) ::chmod(dir.c_str(), 0700);
}

void RestrictToOwner(const fs::path& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0 || S_ISLNK(info.st_mode)) return;
  if ((info.st_mode & 077) != 0 && info.st_uid == ::getuid()) {
    ::chmod(path.c_str(), info.st_mode & (S_ISDIR(info.st_mode) ? 0700 : 0600));
  }
}

void PrepareDatabaseFile(const fs::path& path) {
  // Only a missing file is opened: closing any descriptor of a file drops
  // every POSIX lock this process holds on it, SQLite's included. A process
  // with the database already open (a long-lived controller or SDK opening a
  // second store) would lose its shared lock, and the next process to close
  // the database would think itself the last one and delete the WAL from
  // under it.
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    RestrictToOwner(path.string() + suffix);
  }
}

}  // namespace skycore::files
