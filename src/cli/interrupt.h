// Ctrl-C for long `sky` commands: the first SIGINT cancels a CancelToken, so
// the running SDK call stops at its next check and the command exits cleanly
// (130) while the job keeps running on the cluster. A second Ctrl-C exits at
// once, as an impatient user expects.
#pragma once

#include <thread>

#include "skycore/sdk.h"

namespace skycore::cli {

// While alive, SIGINT and SIGTERM cancel `token` (from a watcher thread: the
// signal handler itself only sets a flag and writes to a pipe). The previous
// handlers come back on destruction. One at a time per process.
class InterruptGuard {
 public:
  explicit InterruptGuard(CancelToken token);
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  // True once a signal arrived.
  bool interrupted() const noexcept;

 private:
  CancelToken token_;
  std::thread watcher_;
};

}  // namespace skycore::cli
