// `skyletd kexec`: runs a command in a pod through the API server's exec, as
// a streaming transport for the agent's ranks on Kubernetes worker pods
// (agent/remote_launcher.h):
//
//   skyletd kexec --kubeconfig FILE [--context NAME] --namespace NS --pod POD
//                 [--container NAME] [--idle-timeout-s S] -- COMMAND [ARG...]
//
// Inside a pod, `--context in-cluster` is the pod's service account (the
// kubeconfig FILE then need not exist): a cluster launched with a
// service-account `remote_identity` reaches its workers so.
//
// Stdin streams to the command's stdin and its end ends the command's stdin;
// the command's stdout and stderr stream to ours. Exits with the command's
// exit code, or 255 with a message on stderr when the exec could not run or
// its stream broke (API server unreachable, pod gone), as ssh does for its
// own errors. A stream silent for --idle-timeout-s (default 30), pings
// unanswered, counts as broken.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "infra/kubernetes/exec.h"
#include "infra/kubernetes/kubeconfig.h"
#include "skycore/error.h"

namespace {

constexpr int kTransportFailure = 255;

constexpr const char* kKexecUsage =
    "usage: skyletd kexec --kubeconfig FILE [--context NAME] --namespace NS --pod POD\n"
    "                     [--container NAME] [--idle-timeout-s S] -- COMMAND [ARG...]\n";

}  // namespace

int RunKexec(int argc, char** argv) {
  std::string kubeconfig, context;
  double idle_timeout_s = 30;
  skycore::kubernetes::ExecTarget target;
  std::vector<std::string> command;
  for (int index = 2; index < argc; ++index) {
    const std::string flag = argv[index];
    if (flag == "--") {
      command.assign(argv + index + 1, argv + argc);
      break;
    }
    if (index + 1 >= argc) {
      std::fprintf(stderr, "skyletd kexec: %s needs a value\n%s", flag.c_str(), kKexecUsage);
      return 2;
    }
    const std::string value = argv[++index];
    if (flag == "--kubeconfig") {
      kubeconfig = value;
    } else if (flag == "--context") {
      context = value;
    } else if (flag == "--namespace") {
      target.namespace_name = value;
    } else if (flag == "--pod") {
      target.pod = value;
    } else if (flag == "--container") {
      target.container = value;
    } else if (flag == "--idle-timeout-s") {
      idle_timeout_s = std::atof(value.c_str());
      if (idle_timeout_s <= 0) idle_timeout_s = 30;
    } else {
      std::fprintf(stderr, "skyletd kexec: unknown flag %s\n%s", flag.c_str(), kKexecUsage);
      return 2;
    }
  }
  if (kubeconfig.empty() || target.namespace_name.empty() || target.pod.empty() ||
      command.empty()) {
    std::fprintf(stderr,
                 "skyletd kexec: --kubeconfig, --namespace, --pod and a command are "
                 "required\n%s",
                 kKexecUsage);
    return 2;
  }
  ::signal(SIGPIPE, SIG_IGN);
  try {
    target.protocol = skycore::kubernetes::ExecProtocolFromName(
        skycore::kubernetes::ProcessEnvironment(skycore::kubernetes::kExecProtocolVariable)
            .value_or(""));
    const auto credentials = skycore::kubernetes::ResolveContext(
        skycore::kubernetes::LoadKubeconfig(
            {kubeconfig},
            skycore::kubernetes::InClusterFromEnvironment(skycore::kubernetes::ProcessEnvironment)),
        context);
    return skycore::kubernetes::ExecStreaming(credentials, target, command, STDIN_FILENO,
                                              STDOUT_FILENO, STDERR_FILENO, idle_timeout_s) &
           0xff;
  } catch (const skycore::Error& error) {
    std::fprintf(stderr, "skyletd kexec: %s\n", error.what());
    return kTransportFailure;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "skyletd kexec: %s\n", error.what());
    return kTransportFailure;
  }
}
