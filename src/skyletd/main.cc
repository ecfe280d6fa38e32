// skyletd: the per-cluster job agent. See include/skycore/agent.h.
//
//   skyletd --socket PATH --state-dir DIR --node-spec JSON|FILE
//           [--log-root DIR] [--kill-grace-s SECONDS] [--autostop-hook COMMAND]
//   skyletd --connect PATH    (stdin and stdout to the agent at PATH; connect.cc)
//   skyletd kexec ...         (a command in a Kubernetes pod over exec; kexec.cc)
//   skyletd cloud-stop --config FILE [--terminate]
//                             (a cloud head's autostop: stops or terminates
//                             its own cluster through the cloud's API)
//
// Runs in the foreground until SIGTERM or SIGINT; then it stops the jobs it
// runs (they become FAILED_DRIVER) and exits 0.
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "agent/agent_core.h"
#include "agent/launcher.h"
#include "agent/node_spec.h"
#include "agent/remote_launcher.h"
#include "agent/server.h"
#include "infra/vm/cluster.h"
#include "skycore/error.h"

extern char** environ;

int RunConnect(const std::string& socket_path);  // connect.cc
int RunKexec(int argc, char** argv);             // kexec.cc

namespace {

using skycore::agent::AgentCore;

struct Flags {
  std::string socket_path;
  std::string state_dir;
  std::string node_spec;
  std::string log_root;
  double kill_grace_s = 5;
  std::string autostop_hook;
  double autostop_minute_s = 60;
};

constexpr const char* kUsage =
    "usage: skyletd --socket PATH --state-dir DIR --node-spec JSON|FILE\n"
    "               [--log-root DIR] [--kill-grace-s SECONDS] [--autostop-hook COMMAND]\n"
    "               [--autostop-minute-s SECONDS]   (tests: a shorter autostop minute)\n";

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  const char* home = std::getenv("HOME");
  flags.log_root = home ? home : ".";
  for (int index = 1; index < argc; ++index) {
    std::string flag = argv[index];
    if (flag == "--help" || flag == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    }
    if (index + 1 >= argc) {
      std::fprintf(stderr, "skyletd: %s needs a value\n%s", flag.c_str(), kUsage);
      std::exit(2);
    }
    std::string value = argv[++index];
    if (flag == "--socket") {
      flags.socket_path = value;
    } else if (flag == "--state-dir") {
      flags.state_dir = value;
    } else if (flag == "--node-spec") {
      flags.node_spec = value;
    } else if (flag == "--log-root") {
      flags.log_root = value;
    } else if (flag == "--kill-grace-s") {
      flags.kill_grace_s = std::atof(value.c_str());
    } else if (flag == "--autostop-hook") {
      flags.autostop_hook = value;
    } else if (flag == "--autostop-minute-s") {
      flags.autostop_minute_s = std::atof(value.c_str());
      if (flags.autostop_minute_s <= 0) flags.autostop_minute_s = 60;
    } else {
      std::fprintf(stderr, "skyletd: unknown flag %s\n%s", flag.c_str(), kUsage);
      std::exit(2);
    }
  }
  if (flags.socket_path.empty() || flags.state_dir.empty() || flags.node_spec.empty()) {
    std::fprintf(stderr, "skyletd: --socket, --state-dir and --node-spec are required\n%s", kUsage);
    std::exit(2);
  }
  return flags;
}

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Starts the autostop hook detached; the agent's SIGCHLD reaping collects it.
void RunHook(const std::string& command, const skycore::AutostopStatus& status) {
  std::string script =
      fmt::format("export SKYPILOT_AUTOSTOP_DOWN={}; {}", status.down ? 1 : 0, command);
  char* argv[] = {const_cast<char*>("/bin/sh"), const_cast<char*>("-c"), script.data(), nullptr};
  pid_t pid = 0;
  if (::posix_spawn(&pid, "/bin/sh", nullptr, nullptr, argv, environ) != 0) {
    std::fprintf(stderr, "skyletd: cannot run the autostop hook\n");
  }
}

void ScheduleAutostopCheck(boost::asio::steady_timer& timer, AgentCore& core) {
  timer.expires_after(std::chrono::seconds(1));
  timer.async_wait([&timer, &core](const boost::system::error_code& error) {
    if (error) return;
    core.CheckAutostop();
    ScheduleAutostopCheck(timer, core);
  });
}

void WaitForChildren(boost::asio::signal_set& signals, AgentCore& core) {
  signals.async_wait([&signals, &core](const boost::system::error_code& error, int) {
    if (error) return;
    core.ReapChildren();
    WaitForChildren(signals, core);
  });
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--connect") return RunConnect(argv[2]);
  if (argc >= 2 && std::string(argv[1]) == "kexec") return RunKexec(argc, argv);
  if (argc >= 4 && std::string(argv[1]) == "cloud-stop" && std::string(argv[2]) == "--config") {
    const bool terminate = argc == 5 && std::string(argv[4]) == "--terminate";
    if (argc == 4 || terminate) return skycore::vm::RunCloudStop(argv[3], terminate);
  }
  Flags flags = ParseFlags(argc, argv);
  ::signal(SIGPIPE, SIG_IGN);
  // What the agent writes (job table, logs, its socket) is this user's
  // alone; jobs start with the umask the agent was started with.
  skycore::agent::SetChildUmask(::umask(077));
  try {
    boost::asio::io_context io;
    // SIGCHLD is handled before any child can exist.
    boost::asio::signal_set children(io, SIGCHLD);
    boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);

    skycore::agent::AgentOptions options;
    options.state_dir = flags.state_dir;
    options.log_root = flags.log_root;
    options.node_spec = skycore::agent::ParseNodeSpec(flags.node_spec);
    options.kill_grace_s = flags.kill_grace_s;
    options.autostop_minute_s = flags.autostop_minute_s;
    AgentCore core(io, std::move(options), std::make_unique<skycore::agent::NodeRankLauncher>(),
                   UnixNow);
    if (!flags.autostop_hook.empty()) {
      core.SetAutostopHook([hook = flags.autostop_hook](const skycore::AutostopStatus& status) {
        RunHook(hook, status);
      });
    }
    skycore::agent::AgentServer server(io, core, flags.socket_path);
    server.Start();

    WaitForChildren(children, core);
    boost::asio::steady_timer autostop_timer(io);
    ScheduleAutostopCheck(autostop_timer, core);
    stop_signals.async_wait([&](const boost::system::error_code& error, int) {
      if (error) return;
      server.Stop();
      core.Shutdown();
      io.stop();
    });
    core.ReapChildren();  // children that exited before the handler was armed
    io.run();
    return 0;
  } catch (const skycore::Error& error) {
    std::fprintf(stderr, "skyletd: %s\n", error.what());
    return 1;
  }
}
