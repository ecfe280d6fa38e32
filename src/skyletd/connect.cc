// `skyletd --connect SOCKET`: joins stdin and stdout to the agent's Unix
// socket. Kubernetes clusters reach their head's agent this way: the client
// runs it through the exec API, whose stdin and stdout then carry the agent
// protocol as if it had connected to the socket itself.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

// Writes all of `size` bytes; false when `fd` is closed.
bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t written = ::send(fd, data, size, MSG_NOSIGNAL);
    if (written < 0 && errno == ENOTSOCK) {
      const ssize_t plain = ::write(fd, data, size);
      if (plain < 0 && errno == EINTR) continue;
      if (plain <= 0) return false;
      data += plain;
      size -= static_cast<size_t>(plain);
      continue;
    }
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data += written;
    size -= static_cast<size_t>(written);
  }
  return true;
}

}  // namespace

int RunConnect(const std::string& socket_path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (socket_path.size() >= sizeof(address.sun_path)) {
    std::fprintf(stderr, "skyletd: the socket path %s is too long\n", socket_path.c_str());
    return 2;
  }
  std::memcpy(address.sun_path, socket_path.c_str(), socket_path.size() + 1);
  const int agent = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (agent < 0 ||
      ::connect(agent, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    std::fprintf(stderr, "skyletd: cannot connect to %s: %s\n", socket_path.c_str(),
                 std::strerror(errno));
    return 1;
  }
  pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {agent, POLLIN, 0}};
  char buffer[64 * 1024];
  bool stdin_open = true;
  for (;;) {
    fds[0].fd = stdin_open ? STDIN_FILENO : -1;
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return 1;
    }
    if (stdin_open && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      const ssize_t got = ::read(STDIN_FILENO, buffer, sizeof(buffer));
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        // The client is done sending: the agent sees the end of its request
        // stream and closes once it has answered.
        stdin_open = false;
        ::shutdown(agent, SHUT_WR);
      } else if (!WriteAll(agent, buffer, static_cast<size_t>(got))) {
        return 0;
      }
    }
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t got = ::recv(agent, buffer, sizeof(buffer), 0);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return 0;  // the agent closed the connection
      if (!WriteAll(STDOUT_FILENO, buffer, static_cast<size_t>(got))) return 0;
    }
  }
}
