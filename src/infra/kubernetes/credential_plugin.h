// Exec credential plugins (`users[].user.exec` of a kubeconfig), run as
// kubectl runs them: the command gets the ExecCredential request in
// $KUBERNETES_EXEC_INFO and no stdin, and prints an ExecCredential
// (`client.authentication.k8s.io/v1` or `v1beta1`) whose status holds a
// bearer token or a client certificate and key, maybe with an expiry.
//
// kubectl keeps a plugin's credential in memory for the life of its process.
// `sky` is a short process, so a credential that expires is also kept on disk
// (CredentialCache) and reused by later processes until shortly before it
// expires; one without an expiry lives in memory only.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace skycore::kubernetes {

// The API versions of ExecCredential that skycore speaks (v1alpha1 is gone
// from kubectl too).
inline constexpr const char* kExecApiV1 = "client.authentication.k8s.io/v1";
inline constexpr const char* kExecApiV1Beta1 = "client.authentication.k8s.io/v1beta1";

// A user's `exec:` section.
struct ExecConfig {
  std::string api_version;
  // As kubectl resolves it: a relative command holding a '/' is relative to
  // the directory of the kubeconfig naming it; one without is looked up in
  // PATH when it runs.
  std::string command;
  std::vector<std::string> args;
  std::vector<std::pair<std::string, std::string>> env;  // added to ours
  std::string install_hint;                              // shown when not found
  bool provide_cluster_info = false;                     // the request carries the cluster
  std::string interactive_mode;  // Never, IfAvailable, Always; "" as IfAvailable
};

// What a plugin's request tells it about the cluster (provideClusterInfo).
struct ExecClusterInfo {
  std::string server;
  std::string ca_pem;
  bool insecure_skip_tls_verify = false;
};

// A credential a plugin returned.
struct ExecCredential {
  std::string token;
  std::string client_cert_pem;
  std::string client_key_pem;
  int64_t expires_at = 0;  // Unix seconds; 0: no expiry
};

// The JSON put in $KUBERNETES_EXEC_INFO: kind ExecCredential, the configured
// apiVersion, spec.interactive false (the plugin has no terminal), and
// spec.cluster when the config asks for it.
std::string ExecRequestJson(const ExecConfig& exec, const ExecClusterInfo& cluster);

// Parses a plugin's stdout. `what` names the plugin in errors ("Kubernetes
// context 'x': the exec credential plugin 'aws'"). Throws NetworkError for
// invalid JSON, another kind or apiVersion than requested, no token nor
// certificate and key, or a malformed expirationTimestamp. The output is
// never quoted in errors: it holds secrets.
ExecCredential ParseExecCredential(const std::string& output, const ExecConfig& exec,
                                   const std::string& what);

// An RFC 3339 time ("2024-05-01T12:00:00Z", fractions and offsets allowed)
// as Unix seconds; nullopt when malformed.
std::optional<int64_t> ParseRfc3339(const std::string& text);

// Whether a credential is still good at `now`: it does not expire, or it
// expires more than kExpirySlackS seconds later (a request sent with it must
// not meet the expiry on the way).
inline constexpr int64_t kExpirySlackS = 30;
bool StillValid(const ExecCredential& credential, int64_t now);

struct ExecRunOptions {
  double timeout_s = 60;
  // Names the context and user in errors.
  std::string context;
  std::string user;
};

// Runs the plugin and parses its credential. Its stdout is the credential;
// its stderr is kept for errors only. The process group is killed after
// timeout_s. Throws NetworkError naming the context and the command: not
// found (with the plugin's installHint), did not finish, exited non-zero
// (with the end of its stderr), or printed no valid credential; and
// NotSupportedError for interactiveMode Always (skycore never has a terminal
// to give a plugin).
ExecCredential RunExecPlugin(const ExecConfig& exec, const ExecClusterInfo& cluster,
                             const ExecRunOptions& options);

// Exec plugin credentials kept between runs: in memory for this process and,
// for those that expire, as files `<dir>/<key>.json` (mode 600 in a mode 700
// directory, replaced atomically) for later processes. An empty dir keeps
// them in memory only. Safe to share between threads.
class CredentialCache {
 public:
  explicit CredentialCache(std::filesystem::path dir = {});

  // The entry of `key` still valid at `now`, from memory, else from disk.
  std::optional<ExecCredential> Lookup(const std::string& key, int64_t now) const;
  // Keeps `credential`; on disk only when it expires. Failing to write the
  // file is not an error: the next process runs the plugin again.
  void Store(const std::string& key, const ExecCredential& credential);
  // Forgets the entry (the API server rejected it).
  void Drop(const std::string& key);

  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, ExecCredential> memory_;
};

// `<state_dir>/kubernetes/credentials`; empty for an empty state_dir.
std::filesystem::path CredentialCacheDir(const std::filesystem::path& state_dir);

// The cache key of a plugin's credential for one API server: the SHA-256
// (hex) of the exec config and the server, so a changed config or another
// cluster never reuses it.
std::string CredentialCacheKey(const ExecConfig& exec, const std::string& server);

}  // namespace skycore::kubernetes
