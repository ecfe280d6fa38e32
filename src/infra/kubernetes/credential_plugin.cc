#include "infra/kubernetes/credential_plugin.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/strings.h"
#include "common/subprocess.h"
#include "skycore/error.h"

extern char** environ;

namespace skycore::kubernetes {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr size_t kMaxOutput = 1 << 20;
constexpr size_t kStderrLines = 20;

// The last `count` non-empty lines of `text`, trimmed.
std::string LastLines(std::string_view text, size_t count) {
  std::vector<std::string> lines;
  for (const auto& line : strings::Split(std::string(strings::Trim(text)), '\n')) {
    lines.push_back(line);
  }
  if (lines.size() > count) lines.erase(lines.begin(), lines.end() - count);
  std::string out;
  for (const auto& line : lines) {
    if (!out.empty()) out += "\n";
    out += line;
  }
  return out;
}

json CredentialToJson(const ExecCredential& credential) {
  return {{"token", credential.token},
          {"client_certificate_data", credential.client_cert_pem},
          {"client_key_data", credential.client_key_pem},
          {"expires_at", credential.expires_at}};
}

std::optional<ExecCredential> CredentialFromJson(const json& value) {
  if (!value.is_object()) return std::nullopt;
  ExecCredential credential;
  try {
    credential.token = value.value("token", "");
    credential.client_cert_pem = value.value("client_certificate_data", "");
    credential.client_key_pem = value.value("client_key_data", "");
    credential.expires_at = value.value("expires_at", int64_t{0});
  } catch (const json::exception&) {
    return std::nullopt;
  }
  if (credential.token.empty() && credential.client_cert_pem.empty()) return std::nullopt;
  return credential;
}

// Writes `text` to `path` readable by this user only, all-or-nothing.
bool WritePrivately(const fs::path& path, const std::string& text) {
  const fs::path temporary =
      path.parent_path() / fmt::format(".{}.{}.tmp", path.filename().string(), ::getpid());
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<size_t>(n);
  }
  const bool ok = ::close(fd) == 0 && written == text.size();
  if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
    ::unlink(temporary.c_str());
    return false;
  }
  return true;
}

struct PluginRun {
  bool timed_out = false;
  int exit_code = -1;  // -1: killed by a signal
  int signal = 0;
  std::string out;
  std::string err;
};

// Runs `program` with `args` and the environment `env` (NAME=value), stdin
// from /dev/null, in its own process group, killed at the deadline.
PluginRun RunProgram(const std::string& program, const std::vector<std::string>& args,
                     const std::vector<std::string>& env, double timeout_s) {
  // Everything the child needs is built before fork: it may not allocate.
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (const auto& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  int out_pipe[2];
  int err_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0) {
    throw IoError(fmt::format("cannot run {}: {}", program, std::strerror(errno)));
  }
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    ::close(out_pipe[0]);
    ::close(out_pipe[1]);
    throw IoError(fmt::format("cannot run {}: {}", program, std::strerror(errno)));
  }
  const pid_t pid = ::fork();
  if (pid < 0) {
    for (int fd : {out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) ::close(fd);
    throw IoError(fmt::format("cannot run {}: {}", program, std::strerror(errno)));
  }
  if (pid == 0) {
    ::setpgid(0, 0);
    const int null_fd = ::open("/dev/null", O_RDONLY);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    ::dup2(out_pipe[1], 1);
    ::dup2(err_pipe[1], 2);
    // Nothing else of ours (a held cluster lock) may live on in the plugin or
    // a daemon it leaves behind.
#ifdef SYS_close_range
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
#endif
    ::execve(program.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here: the kill below must not race the child's own call
  ::close(out_pipe[1]);
  ::close(err_pipe[1]);
  PluginRun run;
  const auto deadline = std::chrono::steady_clock::now() +
                        std::chrono::milliseconds(static_cast<long>(timeout_s * 1000));
  pollfd fds[2] = {{out_pipe[0], POLLIN, 0}, {err_pipe[0], POLLIN, 0}};
  std::string* sinks[2] = {&run.out, &run.err};
  int open_count = 2;
  char buffer[16384];
  while (open_count > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (left <= 0) {
      run.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    const int polled = ::poll(fds, 2, static_cast<int>(std::min<long>(left, 1000)));
    if (polled < 0 && errno == EINTR) continue;
    if (polled <= 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      const ssize_t size = ::read(fds[i].fd, buffer, sizeof(buffer));
      if (size < 0 && errno == EINTR) continue;
      if (size <= 0) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_count;
        continue;
      }
      std::string& sink = *sinks[i];
      if (sink.size() < kMaxOutput) {
        sink.append(buffer, std::min(static_cast<size_t>(size), kMaxOutput - sink.size()));
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFEXITED(status)) run.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) run.signal = WTERMSIG(status);
  return run;
}

}  // namespace

std::string ExecRequestJson(const ExecConfig& exec, const ExecClusterInfo& cluster) {
  json spec = {{"interactive", false}};
  if (exec.provide_cluster_info) {
    json info = {{"server", cluster.server}};
    if (!cluster.ca_pem.empty()) {
      info["certificate-authority-data"] = strings::EncodeBase64(cluster.ca_pem);
    }
    if (cluster.insecure_skip_tls_verify) info["insecure-skip-tls-verify"] = true;
    spec["cluster"] = std::move(info);
  }
  return json{{"apiVersion", exec.api_version}, {"kind", "ExecCredential"}, {"spec", spec}}.dump();
}

std::optional<int64_t> ParseRfc3339(const std::string& text) {
  int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &year, &month, &day, &hour,
                  &minute, &second, &consumed) != 6 ||
      consumed < 19) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  size_t at = static_cast<size_t>(consumed);
  if (at < text.size() && text[at] == '.') {
    ++at;
    const size_t digits = at;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
    if (at == digits) return std::nullopt;
  }
  int64_t offset = 0;
  if (at < text.size() && (text[at] == 'Z' || text[at] == 'z')) {
    ++at;
  } else if (at < text.size() && (text[at] == '+' || text[at] == '-')) {
    int off_hour = 0, off_minute = 0;
    int used = 0;
    if (std::sscanf(text.c_str() + at + 1, "%2d:%2d%n", &off_hour, &off_minute, &used) != 2 ||
        used != 5 || off_hour > 23 || off_minute > 59) {
      return std::nullopt;
    }
    offset = (off_hour * 3600 + off_minute * 60) * (text[at] == '+' ? 1 : -1);
    at += 6;
  } else {
    return std::nullopt;
  }
  if (at != text.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(::timegm(&tm)) - offset;
}

bool StillValid(const ExecCredential& credential, int64_t now) {
  return credential.expires_at == 0 || now + kExpirySlackS < credential.expires_at;
}

ExecCredential ParseExecCredential(const std::string& output, const ExecConfig& exec,
                                   const std::string& what) {
  const json parsed = json::parse(output, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) {
    throw NetworkError(fmt::format(
        "{} printed no ExecCredential JSON on stdout ({} bytes that are not a JSON object)", what,
        output.size()));
  }
  const std::string kind = parsed.value("kind", "");
  const std::string version = parsed.value("apiVersion", "");
  if (kind != "ExecCredential" || version != exec.api_version) {
    throw NetworkError(
        fmt::format("{} printed kind '{}' of apiVersion '{}'; expected kind 'ExecCredential' of "
                    "apiVersion '{}' (the exec apiVersion in the kubeconfig)",
                    what, kind, version, exec.api_version));
  }
  const json status = parsed.value("status", json::object());
  if (!status.is_object()) {
    throw NetworkError(
        fmt::format("{} printed an ExecCredential whose status is not an object", what));
  }
  auto text = [&](const char* key) -> std::string {
    auto it = status.find(key);
    if (it == status.end() || it->is_null()) return {};
    if (!it->is_string()) {
      throw NetworkError(
          fmt::format("{} printed an ExecCredential whose status.{} is not a string", what, key));
    }
    return it->get<std::string>();
  };
  ExecCredential credential;
  credential.token = text("token");
  credential.client_cert_pem = text("clientCertificateData");
  credential.client_key_pem = text("clientKeyData");
  if (credential.client_cert_pem.empty() != credential.client_key_pem.empty()) {
    throw NetworkError(fmt::format(
        "{} printed an ExecCredential with only one of status.clientCertificateData and "
        "status.clientKeyData; both are needed",
        what));
  }
  if (credential.token.empty() && credential.client_cert_pem.empty()) {
    throw NetworkError(
        fmt::format("{} printed an ExecCredential without status.token or "
                    "status.clientCertificateData and status.clientKeyData",
                    what));
  }
  const std::string expiry = text("expirationTimestamp");
  if (!expiry.empty()) {
    auto at = ParseRfc3339(expiry);
    if (!at) {
      throw NetworkError(fmt::format(
          "{} printed status.expirationTimestamp '{}', which is not an RFC 3339 time such as "
          "2024-05-01T12:00:00Z",
          what, expiry));
    }
    credential.expires_at = *at;
  }
  return credential;
}

ExecCredential RunExecPlugin(const ExecConfig& exec, const ExecClusterInfo& cluster,
                             const ExecRunOptions& options) {
  const std::string what = fmt::format("Kubernetes context '{}': the exec credential plugin '{}'",
                                       options.context, exec.command);
  if (exec.interactive_mode == "Always") {
    throw NotSupportedError(fmt::format(
        "{} of user '{}' asks for interactiveMode Always; skycore gives credential plugins no "
        "terminal. Log in with the plugin once by hand (e.g. with kubectl), or set "
        "interactiveMode to IfAvailable or Never",
        what, options.user));
  }
  const std::string program = subprocess::FindInPath(exec.command);
  if (program.empty()) {
    std::string message = fmt::format(
        "{} of user '{}' was not found{}", what, options.user,
        exec.command.find('/') == std::string::npos ? " in PATH" : " or is not executable");
    const auto hint = strings::Trim(exec.install_hint);
    if (!hint.empty()) {
      message += ". ";
      message += hint;
    } else {
      message += "; install it, or fix the command in the kubeconfig";
    }
    throw NetworkError(message);
  }
  std::vector<std::string> args = {exec.command};
  args.insert(args.end(), exec.args.begin(), exec.args.end());
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    if (std::strncmp(*entry, "KUBERNETES_EXEC_INFO=", 21) == 0) continue;
    env.emplace_back(*entry);
  }
  for (const auto& [name, value] : exec.env) {
    env.push_back(name);
    env.back() += "=";
    env.back() += value;
  }
  env.push_back("KUBERNETES_EXEC_INFO=");
  env.back() += ExecRequestJson(exec, cluster);
  const PluginRun run = RunProgram(program, args, env, options.timeout_s);
  if (run.timed_out) {
    throw NetworkError(fmt::format("{} did not finish within {} s and was stopped", what,
                                   strings::FormatNumber(options.timeout_s)));
  }
  if (run.exit_code != 0) {
    const std::string err = LastLines(run.err, kStderrLines);
    std::string message = run.exit_code >= 0
                              ? fmt::format("{} failed (exit code {})", what, run.exit_code)
                              : fmt::format("{} was killed by signal {}", what, run.signal);
    if (!err.empty()) {
      message += ": ";
      message += err;
    } else {
      message += " and printed nothing on stderr";
    }
    throw NetworkError(message);
  }
  return ParseExecCredential(run.out, exec, what);
}

CredentialCache::CredentialCache(fs::path dir) : dir_(std::move(dir)) {}

std::optional<ExecCredential> CredentialCache::Lookup(const std::string& key, int64_t now) const {
  std::lock_guard lock(mutex_);
  if (auto it = memory_.find(key); it != memory_.end()) {
    if (StillValid(it->second, now)) return it->second;
    memory_.erase(it);
  }
  if (dir_.empty()) return std::nullopt;
  std::ifstream in(dir_ / (key + ".json"), std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream buffer;
  buffer << in.rdbuf();
  auto credential = CredentialFromJson(json::parse(buffer.str(), nullptr, false));
  // A file without an expiry was not written by Store: never trusted.
  if (!credential || credential->expires_at == 0 || !StillValid(*credential, now)) {
    return std::nullopt;
  }
  memory_[key] = *credential;
  return credential;
}

void CredentialCache::Store(const std::string& key, const ExecCredential& credential) {
  std::lock_guard lock(mutex_);
  memory_[key] = credential;
  if (dir_.empty() || credential.expires_at == 0) return;
  std::error_code ec;
  fs::create_directories(dir_, ec);
  // The directory holds secrets: only this user may list or open it.
  if (::chmod(dir_.c_str(), 0700) != 0) return;
  WritePrivately(dir_ / (key + ".json"), CredentialToJson(credential).dump() + "\n");
}

void CredentialCache::Drop(const std::string& key) {
  std::lock_guard lock(mutex_);
  memory_.erase(key);
  if (dir_.empty()) return;
  std::error_code ec;
  fs::remove(dir_ / (key + ".json"), ec);
}

fs::path CredentialCacheDir(const fs::path& state_dir) {
  if (state_dir.empty()) return {};
  return state_dir / "kubernetes" / "credentials";
}

std::string CredentialCacheKey(const ExecConfig& exec, const std::string& server) {
  json env = json::array();
  for (const auto& [name, value] : exec.env) env.push_back({name, value});
  const std::string material = json{
      {"apiVersion", exec.api_version},
      {"command", exec.command},
      {"args", exec.args},
      {"env", env},
      {"provideClusterInfo", exec.provide_cluster_info},
      {"interactiveMode", exec.interactive_mode},
      {"server", server}}.dump();
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  if (EVP_Digest(material.data(), material.size(), digest, &size, EVP_sha256(), nullptr) != 1) {
    throw InternalError("SHA-256 of an exec credential plugin's config failed");
  }
  std::string hex;
  for (unsigned int i = 0; i < size; ++i) hex += fmt::format("{:02x}", digest[i]);
  return hex;
}

}  // namespace skycore::kubernetes
