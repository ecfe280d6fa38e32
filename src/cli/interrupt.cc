#include "cli/interrupt.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdlib>

namespace skycore::cli {
namespace {

// Async-signal-safe state: a counter and the write end of a self-pipe.
std::atomic<int> g_signals{0};
int g_pipe[2] = {-1, -1};
struct sigaction g_old_int;
struct sigaction g_old_term;

void OnSignal(int) {
  if (g_signals.fetch_add(1) >= 1) _exit(130);  // the second Ctrl-C: leave now
  const char byte = 's';
  [[maybe_unused]] ssize_t n = ::write(g_pipe[1], &byte, 1);
}

}  // namespace

InterruptGuard::InterruptGuard(CancelToken token) : token_(std::move(token)) {
  g_signals = 0;
  if (::pipe2(g_pipe, O_CLOEXEC) != 0) {
    g_pipe[0] = g_pipe[1] = -1;
    return;  // no watcher: Ctrl-C keeps its default meaning
  }
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  ::sigaction(SIGINT, &action, &g_old_int);
  ::sigaction(SIGTERM, &action, &g_old_term);
  const int read_fd = g_pipe[0];
  watcher_ = std::thread([this, read_fd] {
    char byte = 0;
    while (true) {
      const ssize_t n = ::read(read_fd, &byte, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || byte == 'q') return;  // closed, or the guard is going away
      token_.Cancel();
    }
  });
}

InterruptGuard::~InterruptGuard() {
  if (g_pipe[1] < 0) return;
  ::sigaction(SIGINT, &g_old_int, nullptr);
  ::sigaction(SIGTERM, &g_old_term, nullptr);
  const char quit = 'q';
  [[maybe_unused]] ssize_t n = ::write(g_pipe[1], &quit, 1);
  if (watcher_.joinable()) watcher_.join();
  ::close(g_pipe[0]);
  ::close(g_pipe[1]);
  g_pipe[0] = g_pipe[1] = -1;
}

bool InterruptGuard::interrupted() const noexcept { return g_signals.load() > 0; }

}  // namespace skycore::cli
