// The `sky` command.
#include <cstdio>
#include <cstdlib>

#include "cli/commands.h"

int main(int argc, char** argv) {
  const int code = skycore::cli::Main(argc, argv);
  // Everything Main owned is gone by now. Threads that bridge a cluster's
  // agent connections (Kubernetes exec, Slurm srun) are detached and may
  // still be tearing down a TLS stream: ending without static destructors
  // (OpenSSL's, libcurl's) running under them keeps an exit from aborting.
  std::fflush(nullptr);
  std::_Exit(code);
}
