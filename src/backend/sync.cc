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
  // An empty home is the remote user's: rsync starts relative paths there.
  if (destination == "~") return node_home.empty() ? fs::path(".") : node_home;
  if (destination.rfind("~/", 0) == 0) return node_home / destination.substr(2);
  if (!destination.empty() && destination[0] == '/') return destination;
  return node_home / destination;
}

std::string SyncTarget::Spec(const fs::path& path) const {
  return remote() ? host + ":" + path.string() : path.string();
}

namespace {

// rsync arguments reaching `target`; a remote destination's parents are made
// with --mkpath (a local one's by the caller).
std::vector<std::string> RsyncBase(const SyncTarget& target) {
  std::vector<std::string> args = {"-a"};
  if (target.remote()) args.insert(args.end(), {"--mkpath", "-e", target.remote_shell});
  return args;
}

}  // namespace

void SyncWorkdir(const Workdir& workdir, const std::vector<SyncTarget>& targets) {
  if (workdir.is_git()) {
    ForEachParallel(targets, [&](const SyncTarget& target) {
      if (target.remote()) {
        throw NotSupportedError(fmt::format(
            "a git workdir ({}) is cloned on this machine's nodes only; on remote nodes use a "
            "local directory as the workdir",
            workdir.git_url));
      }
      const fs::path& destination = target.workdir;
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
  ForEachParallel(targets, [&](const SyncTarget& target) {
    std::vector<std::string> args = RsyncBase(target);
    args.insert(args.end(), filters.begin(), filters.end());
    args.push_back(source.string() + "/");
    args.push_back(target.Spec(target.workdir) + "/");
    Rsync(std::move(args), fmt::format("workdir {}", source.string()));
  });
}

void SyncFileMounts(const std::vector<FileMount>& mounts, const std::vector<SyncTarget>& targets) {
  struct Copy {
    fs::path source;
    const SyncTarget* target;
    fs::path destination;
  };
  std::vector<Copy> copies;
  std::set<std::string> seen;
  for (const auto& mount : mounts) {
    if (mount.is_storage() || IsUri(mount.source)) {
      throw NotSupportedError(fmt::format(
          "file_mounts.{}: storage and cloud bucket mounts are not supported yet; use a local "
          "path as the source",
          mount.destination));
    }
    const fs::path source = ExpandUser(mount.source);
    std::error_code ec;
    if (!fs::exists(source, ec)) {
      throw IoError(fmt::format("file_mounts.{}: source {} does not exist", mount.destination,
                                source.string()));
    }
    for (const auto& target : targets) {
      fs::path destination = ResolveDestination(mount.destination, target.home);
      if (!seen.insert(target.Spec(destination)).second) continue;  // shared absolute path
      copies.push_back({source, &target, destination});
    }
  }
  ForEachParallel(copies, [](const Copy& copy) {
    std::error_code ec;
    if (!copy.target->remote()) fs::create_directories(copy.destination.parent_path(), ec);
    const bool is_dir = fs::is_directory(copy.source, ec);
    std::vector<std::string> args = RsyncBase(*copy.target);
    args.push_back(is_dir ? copy.source.string() + "/" : copy.source.string());
    args.push_back(copy.target->Spec(copy.destination) + (is_dir ? "/" : ""));
    Rsync(std::move(args), fmt::format("file mount {} -> {}", copy.source.string(),
                                       copy.target->Spec(copy.destination)));
  });
}

void FetchDirectory(const SyncTarget& target, const fs::path& source, const fs::path& destination) {
  std::error_code ec;
  fs::create_directories(destination, ec);
  std::vector<std::string> args = RsyncBase(target);
  args.push_back(target.Spec(source) + "/");
  args.push_back(destination.string() + "/");
  Rsync(std::move(args), fmt::format("{} to {}", target.Spec(source), destination.string()));
}

}  // namespace skycore::backend
