#include "backend/ssh_runner.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <sstream>
#include <thread>

#include "common/strings.h"
#include "skycore/error.h"

namespace skycore::ssh {
namespace fs = std::filesystem;
namespace {

using Clock = std::chrono::steady_clock;

// The last line ssh wrote about the failure ("ssh: connect to host ... refused").
std::string LastLine(const std::string& output) {
  std::istringstream lines(output);
  std::string line, last;
  while (std::getline(lines, line)) {
    auto trimmed = strings::Trim(line);
    if (!trimmed.empty() && !trimmed.starts_with("Warning: Permanently added")) {
      last = std::string(trimmed);
    }
  }
  return last;
}

bool Contains(const std::string& text, std::string_view part) {
  return text.find(part) != std::string::npos;
}

struct Classified {
  SshOutcome outcome;
  bool transient;
};

// What an exit status of 255 means: ssh's own failure (not the command's).
Classified ClassifyFailure(const std::string& output) {
  if (Contains(output, "Permission denied") || Contains(output, "Too many authentication")) {
    return {SshOutcome::kAuthFailed, false};
  }
  if (Contains(output, "Host key verification failed") ||
      Contains(output, "REMOTE HOST IDENTIFICATION HAS CHANGED")) {
    return {SshOutcome::kHostKeyMismatch, false};
  }
  if (Contains(output, "Could not resolve hostname")) return {SshOutcome::kUnreachable, false};
  return {SshOutcome::kUnreachable, true};
}

std::string KeyText(const SshHost& host) {
  return host.identity_file.empty() ? std::string("ssh's default keys")
                                    : "key " + host.identity_file;
}

}  // namespace

SshRunner::SshRunner(SshHost host, RunnerOptions options, SpawnFunction spawn, SleepFunction sleep)
    : host_(std::move(host)),
      options_(std::move(options)),
      spawn_(std::move(spawn)),
      sleep_(std::move(sleep)) {
  if (!spawn_) {
    spawn_ = [](const std::vector<std::string>& argv, double timeout_s) {
      return subprocess::Run(argv, timeout_s);
    };
  }
  if (!sleep_) {
    sleep_ = [](double seconds) {
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
    };
  }
}

std::vector<std::string> SshRunner::Options() const {
  std::vector<std::string> argv = {options_.ssh_program, "-F", "/dev/null", "-T"};
  auto option = [&](const std::string& text) {
    argv.push_back("-o");
    argv.push_back(text);
  };
  option("BatchMode=yes");
  option("StrictHostKeyChecking=accept-new");
  option("UserKnownHostsFile=" + options_.known_hosts.string());
  option("GlobalKnownHostsFile=/dev/null");
  option(fmt::format("ConnectTimeout={}", options_.connect_timeout_s));
  option("ServerAliveInterval=5");
  option("ServerAliveCountMax=3");
  option("LogLevel=ERROR");
  if (!options_.control_dir.empty()) {
    option("ControlMaster=auto");
    option("ControlPath=" + (options_.control_dir / "%C").string());
    option(fmt::format("ControlPersist={}s", options_.control_persist_s));
  }
  if (!host_.identity_file.empty()) {
    argv.push_back("-i");
    argv.push_back(host_.identity_file);
    option("IdentitiesOnly=yes");
  }
  argv.push_back("-p");
  argv.push_back(std::to_string(host_.port));
  argv.push_back("-l");
  argv.push_back(host_.user);
  return argv;
}

std::vector<std::string> SshRunner::CommandLine(const std::string& command) const {
  std::vector<std::string> argv = Options();
  argv.push_back(host_.address);
  argv.push_back("--");
  argv.push_back(command);
  return argv;
}

std::string SshRunner::RemoteShell() const {
  std::string shell;
  for (const auto& arg : Options()) {
    shell += shell.empty() ? "" : " ";
    // rsync splits -e on spaces and honours single quotes.
    shell += arg.find_first_of(" '\"") == std::string::npos ? arg : strings::ShellQuote(arg);
  }
  return shell;
}

std::string SshRunner::Destination() const { return host_.user + "@" + host_.address; }

SshResult SshRunner::ForwardUnixSocket(const std::string& local, const std::string& remote,
                                       double deadline_s) const {
  if (options_.control_dir.empty()) {
    SshResult result;
    result.outcome = SshOutcome::kUnreachable;
    result.error = "forwarding the agent's socket needs shared connections (a control directory)";
    return result;
  }
  // The shared connection carries the forwarding: make sure it is up, then
  // add the forwarding to it (a stale socket file is replaced).
  SshResult up = Run("true", deadline_s);
  if (up.outcome != SshOutcome::kOk) return up;
  std::vector<std::string> argv = Options();
  argv.insert(argv.end(), {"-o", "StreamLocalBindUnlink=yes", "-O", "forward", "-L",
                           local + ":" + remote, host_.address});
  subprocess::Result run = spawn_(argv, deadline_s);
  SshResult result;
  result.attempts = 1;
  result.output = run.output;
  result.outcome = run.exit_code == 0 ? SshOutcome::kOk : SshOutcome::kUnreachable;
  result.exit_code = run.exit_code;
  if (result.outcome != SshOutcome::kOk) {
    result.error =
        fmt::format("cannot forward {} on {}: {}", remote, host_.Display(), LastLine(run.output));
  }
  return result;
}

void SshRunner::CancelForward(const std::string& local, const std::string& remote) const {
  if (options_.control_dir.empty()) return;
  std::vector<std::string> argv = Options();
  argv.insert(argv.end(), {"-O", "cancel", "-L", local + ":" + remote, host_.address});
  spawn_(argv, 5);
}

SshResult SshRunner::Run(const std::string& command, double deadline_s) const {
  SshResult result;
  const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                           std::chrono::duration<double>(deadline_s));
  auto seconds_left = [&] {
    return std::chrono::duration<double>(deadline - Clock::now()).count();
  };
  const auto argv = CommandLine(command);
  double backoff_s = options_.initial_backoff_s;
  for (;;) {
    ++result.attempts;
    const double left = seconds_left();
    if (left <= 0) {
      result.outcome = SshOutcome::kTimedOut;
      break;
    }
    subprocess::Result run = spawn_(argv, left);
    result.output = std::move(run.output);
    if (!run.started) {
      result.outcome = SshOutcome::kNoSshClient;
      result.error = fmt::format("cannot run `{}`: install the OpenSSH client (openssh-client)",
                                 options_.ssh_program);
      return result;
    }
    if (run.timed_out) {
      result.outcome = SshOutcome::kTimedOut;
      break;
    }
    if (run.exit_code != 255) {
      result.outcome = SshOutcome::kOk;
      result.exit_code = run.exit_code;
      result.error.clear();
      return result;
    }
    const Classified failure = ClassifyFailure(result.output);
    result.outcome = failure.outcome;
    if (!failure.transient || result.attempts >= options_.max_attempts) break;
    const double pause = std::min(backoff_s, seconds_left());
    if (pause <= 0) break;
    sleep_(pause);
    backoff_s *= 2;
  }
  std::string detail = LastLine(result.output);
  switch (result.outcome) {
    case SshOutcome::kAuthFailed:
      // "root@10.0.0.1: Permission denied (publickey)." → "Permission denied (publickey)"
      if (auto colon = detail.find(": Permission denied"); colon != std::string::npos) {
        detail = detail.substr(colon + 2);
      }
      while (!detail.empty() && detail.back() == '.') detail.pop_back();
      result.error = fmt::format("{} for {} with {}", detail.empty() ? "Permission denied" : detail,
                                 host_.Display(), KeyText(host_));
      if (host_.has_password) {
        result.error +=
            " (the pools file gives a password, but skycore logs in with keys only: install a "
            "public key on the host)";
      }
      break;
    case SshOutcome::kHostKeyMismatch:
      result.error = fmt::format(
          "the host key of {} does not match the one recorded in {}; if the host was "
          "reinstalled, remove its line there",
          host_.Display(), options_.known_hosts.string());
      break;
    case SshOutcome::kTimedOut:
      result.error = fmt::format("no answer from {} within {} s{}", host_.Display(), deadline_s,
                                 detail.empty() ? "" : " (" + detail + ")");
      break;
    default:
      result.error = fmt::format("cannot connect to {} after {} attempt{}: {}", host_.Display(),
                                 result.attempts, result.attempts == 1 ? "" : "s",
                                 detail.empty() ? "ssh failed without a message" : detail);
  }
  return result;
}

std::string SshRunner::RunOrThrow(const std::string& command, double deadline_s) const {
  SshResult result = Run(command, deadline_s);
  if (result.outcome != SshOutcome::kOk) throw NetworkError(result.error);
  if (result.exit_code != 0) {
    throw CommandError(fmt::format("`{}` exited with {} on {}: {}", command, result.exit_code,
                                   host_.Display(), LastLine(result.output)));
  }
  return result.output;
}

fs::path DefaultControlDir() { return fmt::format("/tmp/skycore-ssh-{}", ::geteuid()); }

bool PrepareControlDir(const fs::path& dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return false;
  struct stat info {};
  if (::lstat(dir.c_str(), &info) != 0 || !S_ISDIR(info.st_mode) || info.st_uid != ::geteuid()) {
    return false;
  }
  return (info.st_mode & 077) == 0 || ::chmod(dir.c_str(), 0700) == 0;
}

}  // namespace skycore::ssh
