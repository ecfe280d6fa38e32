#include "backend/sync.h"

#include <fmt/format.h>

#include <cstdlib>
#include <future>
#include <set>

#include "common/subprocess.h"
#include "skycore/error.h"

namespace skycore::backend {
namespace fs = std::filesystem;

namespace {

constexpr double kRsyncTimeoutS = 3600;

void Rsync(std::vector<std::string> args, const std::string& what) {
  args.insert(args.begin(), "rsync");
  auto result = subprocess::Run(args, kRsyncTimeoutS);
  if (!result.started) {
    throw CommandError(
        "rsync is not installed; it copies workdir and file_mounts (apt-get install rsync)");
  }
  if (result.timed_out || result.exit_code != 0) {
    throw CommandError(fmt::format("copying {} failed (rsync exit {}): {}", what, result.exit_code,
                                   result.output.substr(0, 2000)));
  }
}

// Runs fn for every item in parallel; rethrows the first failure.
template <typename T, typename Fn>
void ForEachParallel(const std::vector<T>& items, Fn fn) {
  std::vector<std::future<void>> futures;
  for (const auto& item : items) futures.push_back(std::async(std::launch::async, fn, item));
  std::exception_ptr first;
  for (auto& future : futures) {
    try {
      future.get();
    } catch (...) {
      if (!first) first = std::current_exception();
    }
  }
  if (first) std::rethrow_exception(first);
}

bool IsUri(const std::string& text) { return text.find("://") != std::string::npos; }

}  // namespace

fs::path ExpandUser(const std::string& path) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    return fs::path(home ? home : "/") / path.substr(path.size() > 1 ? 2 : 1);
  }
  return path;
}

fs::path ResolveDestination(const std::string& destination, const fs::path& node_home) {
  if (destination == "~") return node_home;
  if (destination.rfind("~/", 0) == 0) return node_home / destination.substr(2);
  if (!destination.empty() && destination[0] == '/') return destination;
  return node_home / destination;
}

void SyncWorkdir(const Workdir& workdir, const std::vector<fs::path>& destinations) {
  if (workdir.is_git()) {
    ForEachParallel(destinations, [&](const fs::path& destination) {
      std::vector<std::string> args = {"git", "clone", "--quiet"};
      if (!workdir.git_ref.empty()) args.insert(args.end(), {"--branch", workdir.git_ref});
      args.insert(args.end(), {workdir.git_url, destination.string()});
      std::error_code ec;
      fs::remove_all(destination, ec);
      auto result = subprocess::Run(args, kRsyncTimeoutS);
      if (!result.started || result.exit_code != 0) {
        throw CommandError(fmt::format("cloning the workdir {} failed: {}", workdir.git_url,
                                       result.output.substr(0, 2000)));
      }
    });
    return;
  }
  const fs::path source = ExpandUser(workdir.path);
  std::error_code ec;
  if (!fs::is_directory(source, ec)) {
    throw IoError(fmt::format("workdir {} is not a directory", source.string()));
  }
  std::vector<std::string> filters;
  if (fs::exists(source / ".skyignore", ec)) {
    filters.push_back("--filter=dir-merge,- .skyignore");
  } else {
    filters.push_back("--filter=dir-merge,- .gitignore");
  }
  ForEachParallel(destinations, [&](const fs::path& destination) {
    std::vector<std::string> args = {"-a"};
    args.insert(args.end(), filters.begin(), filters.end());
    args.push_back(source.string() + "/");
    args.push_back(destination.string() + "/");
    Rsync(std::move(args), fmt::format("workdir {}", source.string()));
  });
}

void SyncFileMounts(const std::vector<FileMount>& mounts, const std::vector<fs::path>& node_homes) {
  struct Copy {
    fs::path source;
    fs::path destination;
  };
  std::vector<Copy> copies;
  std::set<fs::path> seen;
  for (const auto& mount : mounts) {
    if (mount.is_storage() || IsUri(mount.source)) {
      throw NotSupportedError(fmt::format(
          "file_mounts.{}: storage and cloud bucket mounts are not supported on the local infra "
          "yet; use a local path as the source",
          mount.destination));
    }
    const fs::path source = ExpandUser(mount.source);
    std::error_code ec;
    if (!fs::exists(source, ec)) {
      throw IoError(fmt::format("file_mounts.{}: source {} does not exist", mount.destination,
                                source.string()));
    }
    for (const auto& home : node_homes) {
      fs::path destination = ResolveDestination(mount.destination, home);
      if (!seen.insert(destination).second) continue;  // shared absolute path
      copies.push_back({source, destination});
    }
  }
  ForEachParallel(copies, [](const Copy& copy) {
    std::error_code ec;
    fs::create_directories(copy.destination.parent_path(), ec);
    const bool is_dir = fs::is_directory(copy.source, ec);
    Rsync({"-a", is_dir ? copy.source.string() + "/" : copy.source.string(),
           is_dir ? copy.destination.string() + "/" : copy.destination.string()},
          fmt::format("file mount {} -> {}", copy.source.string(), copy.destination.string()));
  });
}

}  // namespace skycore::backend
