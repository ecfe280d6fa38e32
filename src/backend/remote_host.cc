#include "backend/remote_host.h"

#include <fmt/format.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "common/files.h"
#include "common/strings.h"
#include "common/subprocess.h"
#include "infra/ssh/inventory.h"
#include "skycore/agent.h"
#include "skycore/error.h"

namespace skycore::backend::remote {
namespace fs = std::filesystem;
using strings::ShellQuote;

namespace {

constexpr int kConnectTimeoutS = 5;
constexpr double kCommandDeadlineS = 60;

void Rsync(std::vector<std::string> args, const std::string& what) {
  args.insert(args.begin(), "rsync");
  auto result = subprocess::Run(args, 600);
  if (!result.started || result.timed_out || result.exit_code != 0) {
    throw CommandError(fmt::format("copying {} failed (rsync exit {}): {}", what, result.exit_code,
                                   result.output.substr(0, 2000)));
  }
}

// A quoted heredoc whose end marker cannot occur in the content.
std::string WriteFile(const std::string& path, const std::string& content,
                      const std::string& mode) {
  std::string marker = "SKYCORE_EOF_" + HashText(content);
  return fmt::format("umask 077; cat >{} <<'{}'\n{}{}{}\nchmod {} {}; ", ShellQuote(path), marker,
                     content, content.empty() || content.back() == '\n' ? "" : "\n", marker, mode,
                     ShellQuote(path));
}

// Shell lines stopping the agent whose pid file is in "$D" (TERM, then KILL).
constexpr const char* kStopAgent =
    "if [ -f \"$D/skyletd.pid\" ]; then p=$(cat \"$D/skyletd.pid\"); "
    "if [ -n \"$p\" ] && grep -qa skyletd /proc/$p/cmdline 2>/dev/null; then kill -TERM $p; "
    "for i in $(seq 150); do kill -0 $p 2>/dev/null || break; sleep 0.1; done; "
    "kill -KILL $p 2>/dev/null || true; fi; rm -f \"$D/skyletd.pid\"; fi; ";

}  // namespace

std::string WriteFileCommand(const std::string& path, const std::string& content,
                             const std::string& mode) {
  return WriteFile(path, content, mode);
}

ssh::RunnerOptions RunnerOptionsFor(const BackendContext& context) {
  ssh::RunnerOptions options;
  options.known_hosts = ssh::KnownHostsPath(context.options.state_dir);
  try {
    files::EnsurePrivateDir(options.known_hosts.parent_path());
  } catch (const IoError&) {
    // ssh then reports the file it cannot write.
  }
  options.control_dir = context.options.ssh_control_dir.empty() ? ssh::DefaultControlDir()
                                                                : context.options.ssh_control_dir;
  if (!ssh::PrepareControlDir(options.control_dir)) options.control_dir.clear();
  options.connect_timeout_s = kConnectTimeoutS;
  options.max_attempts = 2;
  return options;
}

std::string LocalSocketPath(const ssh::RunnerOptions& options, const fs::path& state_dir,
                            const std::string& name) {
  // Beside the shared connections: a private directory with a short path
  // (a socket path must fit in 108 bytes).
  const fs::path dir = options.control_dir.empty() ? ssh::DefaultControlDir() : options.control_dir;
  return (dir / fmt::format("a-{}.sock", HashText(state_dir.string() + "\n" + name))).string();
}

std::string HashText(const std::string& text) {
  return fmt::format("{:016x}", std::hash<std::string>{}(text));
}

std::string AgentBinaryName(const fs::path& skyletd) {
  std::error_code ec;
  const auto size = fs::file_size(skyletd, ec);
  struct stat info {};
  ::stat(skyletd.c_str(), &info);
  return fmt::format("skyletd-{}-{}", size, static_cast<long long>(info.st_mtime));
}

void InstallAgent(const ssh::SshRunner& runner, const fs::path& skyletd, const std::string& root) {
  if (skyletd.empty()) {
    throw IoError("cannot find the agent binary (skyletd) on this machine to install it");
  }
  const std::string name = AgentBinaryName(skyletd);
  const std::string staged = fmt::format("{}/bin/.{}.partial", root, name);
  Rsync({"-a", "-e", runner.RemoteShell(), skyletd.string(), runner.Destination() + ":" + staged},
        "the agent binary");
  runner.RunOrThrow(
      fmt::format("mv -f {} {}", ShellQuote(staged), ShellQuote(root + "/bin/" + name)),
      kCommandDeadlineS);
}

std::string ClusterDir(const std::string& root, const std::string& name) {
  return root + "/clusters/" + name;
}

std::string RemoteSocket(const std::string& root, const std::string& name) {
  return root + "/run/" + HashText(name).substr(0, 12) + ".sock";
}

std::string NodeWorkdir(const std::string& root, const std::string& name, size_t node) {
  return fmt::format("{}/node{}/sky_workdir", ClusterDir(root, name), node);
}

std::string PrepareCommand(const std::string& name, const std::vector<size_t>& nodes,
                           const std::string& agent_name) {
  std::string dirs;
  for (size_t node : nodes) {
    dirs += fmt::format(" \"$R/clusters/\"{}\"/node{}/sky_workdir\"", ShellQuote(name), node);
  }
  // Private (0700): the agents' job tables and the jobs' logs live there. An
  // older version made them 0755: take other users' access away.
  return fmt::format(
      "set -e; umask 077; R=\"${{SKYCORE_HOME:-$HOME/.skycore}}\"; "
      "mkdir -p \"$R/bin\" \"$R/run\"{dirs}; "
      "chmod go-rwx \"$R\" \"$R/bin\" \"$R/run\" \"$R/clusters\" \"$R/clusters/\"{name} "
      "2>/dev/null || true; "
      "cd \"$R\"; echo \"root=$(pwd -P)\"; "
      "if [ -x \"$R/bin/\"{agent} ]; then echo agent=yes; else echo agent=no; fi",
      fmt::arg("dirs", dirs), fmt::arg("name", ShellQuote(name)),
      fmt::arg("agent", ShellQuote(agent_name)));
}

Prepared ParsePrepared(const std::string& output) {
  Prepared prepared;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.rfind("root=", 0) == 0) prepared.root = line.substr(5);
    if (line == "agent=yes") prepared.has_agent = true;
  }
  return prepared;
}

std::string StartAgentCommand(const std::string& root, const std::string& name,
                              const std::string& agent_name, const nlohmann::json& node_spec,
                              const std::vector<std::pair<std::string, std::string>>& files,
                              bool restart, const std::string& socket,
                              const std::string& autostop_hook) {
  std::string writes;
  for (const auto& [path, content] : files) writes += WriteFile(path, content, "600");
  writes += WriteFile(ClusterDir(root, name) + "/nodes.json", node_spec.dump(2) + "\n", "600");
  std::string extra;
  // Tests of autostop cannot wait real minutes.
  if (const char* minute = std::getenv("SKYCORE_AUTOSTOP_MINUTE_S"); minute && *minute) {
    extra = " --autostop-minute-s " + ShellQuote(minute);
  }
  if (!autostop_hook.empty()) extra += " --autostop-hook " + ShellQuote(autostop_hook);
  return fmt::format(
      "set -e; umask 077; D={dir}; S={socket}; mkdir -p \"$D/agent\" \"$D/ssh\"; "
      "chmod 700 \"$D\" \"$D/agent\" \"$D/ssh\"; "
      "for f in \"$D/skyletd.log\" \"$D/nodes.json\"; do if [ -f \"$f\" ]; then chmod 600 \"$f\"; "
      "fi; "
      "done; "
      "{restart}{writes}"
      "if [ -f \"$D/skyletd.pid\" ]; then p=$(cat \"$D/skyletd.pid\"); "
      "if [ -n \"$p\" ] && grep -qa skyletd /proc/$p/cmdline 2>/dev/null && [ -S \"$S\" ]; then "
      "echo running; exit 0; fi; fi; "
      "rm -f \"$S\"; "
      "nohup setsid {bin} --socket \"$S\" --state-dir \"$D/agent\" --node-spec "
      "\"$D/nodes.json\" --log-root \"$D\"{extra} >>\"$D/skyletd.log\" 2>&1 </dev/null & "
      "echo $! >\"$D/skyletd.pid\"; "
      "for i in $(seq 200); do [ -S \"$S\" ] && exit 0; kill -0 $! 2>/dev/null || break; "
      "sleep 0.05; done; "
      "echo 'the agent (skyletd) did not start; its log ends with:'; tail -c 2000 "
      "\"$D/skyletd.log\"; exit 1",
      fmt::arg("dir", ShellQuote(ClusterDir(root, name))),
      fmt::arg("socket", ShellQuote(socket.empty() ? RemoteSocket(root, name) : socket)),
      fmt::arg("restart", restart ? std::string("set +e; ") + kStopAgent + "set -e; " : ""),
      fmt::arg("writes", writes), fmt::arg("bin", ShellQuote(root + "/bin/" + agent_name)),
      fmt::arg("extra", extra));
}

std::string TeardownCommand(const std::string& name) {
  // Whatever still runs inside the cluster's directory after its agent
  // stopped are ranks an agent killed with -9 left behind.
  return fmt::format(
      "R=\"${{SKYCORE_HOME:-$HOME/.skycore}}\"; D=\"$R/clusters/\"{name}; {stop}"
      "if [ -d \"$D\" ]; then D=$(cd \"$D\" && pwd -P); for p in /proc/[0-9]*; do "
      "case \"$(readlink $p/cwd 2>/dev/null)\" in \"$D\"|\"$D\"/*) kill -KILL ${{p#/proc/}} "
      "2>/dev/null || true;; esac; done; fi; "
      "rm -rf \"$D\" \"$R/run/\"{socket}; true",
      fmt::arg("name", ShellQuote(name)), fmt::arg("stop", kStopAgent),
      fmt::arg("socket", ShellQuote(HashText(name).substr(0, 12) + ".sock")));
}

std::string ConnectAgent(const std::string& local_socket, const ssh::SshRunner& runner,
                         const std::string& remote_socket, const std::string& name) {
  try {
    AgentClient(local_socket, 5).ping();
    return local_socket;
  } catch (const Error&) {
    // No forwarding yet (or the shared connection ended): set it up again.
  }
  // A socket file left by a connection that ended (the host stopped or
  // rebooted under it) would make the new forwarding fail to bind; one the
  // shared connection still forwards is given up first, as its far end no
  // longer answers.
  runner.CancelForward(local_socket, remote_socket);
  std::error_code ec;
  fs::remove(local_socket, ec);
  fs::create_directories(fs::path(local_socket).parent_path(), ec);
  auto forwarded = runner.ForwardUnixSocket(local_socket, remote_socket, 20);
  if (forwarded.outcome != ssh::SshOutcome::kOk) {
    throw ClusterNotUpError(fmt::format(
        "cannot reach the agent of cluster '{}' on {}: {}; `sky status -r {}` refreshes its state",
        name, runner.host().Display(), forwarded.error, name));
  }
  try {
    AgentClient(local_socket, 5).ping();
  } catch (const Error& error) {
    throw ClusterNotUpError(fmt::format(
        "the agent of cluster '{}' on {} does not answer ({}); `sky status -r {}` refreshes "
        "the cluster's state and `sky launch -c {}` restarts it",
        name, runner.host().Display(), error.message(), name, name));
  }
  return local_socket;
}

SyncTarget TargetFor(const ssh::SshRunner& runner, const std::string& root, const std::string& name,
                     size_t node) {
  // `~` of a remote file mount is the remote user's home: rsync's relative
  // paths start there.
  return {runner.RemoteShell(), runner.Destination(), "", NodeWorkdir(root, name, node)};
}

std::string ReadLocal(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("cannot read {}", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

}  // namespace skycore::backend::remote
