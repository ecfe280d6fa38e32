// Kubeconfig files as kubectl reads them: `$KUBECONFIG` (several files joined
// with ':', merged first-wins per named entry and for current-context) or
// ~/.kube/config. Parsing never touches the network; relative file paths are
// resolved against the directory of the kubeconfig that names them.
//
// Inside a pod, Kubernetes' in-cluster configuration adds a context named
// `in-cluster` (as SkyPilot names it): the API server of
// $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT with the pod's service
// account. It is the current context when no kubeconfig file exists.
//
// Credentials come from the kubeconfig (client certificate and key, token,
// tokenFile) or from an exec credential plugin (credential_plugin.h), whose
// credentials a CredentialCache keeps between runs.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "infra/kubernetes/credential_plugin.h"

namespace skycore::kubernetes {

struct KubeCluster {
  std::string server;                           // "https://host:port"
  std::string certificate_authority_data;       // PEM (decoded from base64)
  std::filesystem::path certificate_authority;  // a PEM file
  bool insecure_skip_tls_verify = false;        // only when set to true
  std::string source;                           // the kubeconfig file it came from
};

struct KubeUser {
  std::string client_certificate_data;  // PEM
  std::filesystem::path client_certificate;
  std::string client_key_data;  // PEM
  std::filesystem::path client_key;
  std::string token;
  std::filesystem::path token_file;
  std::optional<ExecConfig> exec;  // an exec credential plugin
  bool has_auth_provider = false;  // not supported
  std::string source;
};

struct KubeContext {
  std::string cluster;
  std::string user;
  std::string namespace_name;  // empty: "default"
  std::string source;
};

struct Kubeconfig {
  std::vector<std::filesystem::path> files;  // the files read, in order
  std::string current_context;
  std::vector<std::string> context_names;  // in file order, first file first
  std::map<std::string, KubeContext> contexts;
  std::map<std::string, KubeCluster> clusters;
  std::map<std::string, KubeUser> users;
};

// What is needed to talk to one context's API server, with every file read.
struct ContextCredentials {
  std::string context;
  std::string server;
  std::string namespace_name;  // never empty ("default")
  std::string user_name;
  std::string ca_pem;  // empty: the system's CAs
  bool insecure_skip_tls_verify = false;
  std::string client_cert_pem;
  std::string client_key_pem;
  std::string token;
  // Set when the credentials came from an exec plugin: runs it again, past
  // any cached credential, and returns fresh credentials. ApiClient calls it
  // once when the API server answers 401, as kubectl does.
  std::function<ContextCredentials()> renew;
};

// Where the in-cluster context points; an empty server when not in a pod.
struct InClusterConfig {
  std::string context = "in-cluster";
  std::string server;  // "https://10.96.0.1:443" ("https://[fd00::1]:443")
  // Holds `token` (read at each resolution: the kubelet rotates it), `ca.crt`
  // and `namespace`.
  std::filesystem::path service_account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
};

// How ResolveContext obtains credentials from exec plugins.
struct ResolveOptions {
  // Keeps plugin credentials between resolutions (and, with a directory,
  // between processes); null: the plugin runs at every resolution.
  std::shared_ptr<CredentialCache> cache;
  double exec_timeout_s = 60;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The kubeconfig paths kubectl would read: the entries of $KUBECONFIG (empty
// entries skipped), else $HOME/.kube/config.
std::vector<std::filesystem::path> KubeconfigPaths(const EnvLookup& env);

// The in-cluster configuration of the environment: the server from
// $KUBERNETES_SERVICE_HOST and $KUBERNETES_SERVICE_PORT (both must be set),
// the context name from $SKYPILOT_IN_CLUSTER_CONTEXT_NAME (else
// "in-cluster"), and the service account directory from
// $SKYCORE_K8S_SERVICEACCOUNT_DIR (else the one Kubernetes mounts; the
// variable exists so tests can point it at files of their own).
InClusterConfig InClusterFromEnvironment(const EnvLookup& env);

// The process's environment as an EnvLookup.
std::optional<std::string> ProcessEnvironment(const std::string& name);

// Parses one kubeconfig's text into `into`, keeping entries already there
// (first wins). Throws InvalidSkyPilotConfigError naming `file` and the field.
void MergeKubeconfigText(const std::string& text, const std::filesystem::path& file,
                         Kubeconfig& into);

// Reads and merges the files; missing files are skipped as kubectl does.
// With an in-cluster server, adds its context (unless a file defines one of
// that name), which is the current one when no file exists. Throws
// InvalidSkyPilotConfigError when there is neither a file nor an in-cluster
// server, or a file is malformed.
Kubeconfig LoadKubeconfig(const std::vector<std::filesystem::path>& paths,
                          const InClusterConfig& in_cluster = {});

// Resolves a context (empty: current-context) into credentials, reading the
// files it names and running its user's exec plugin when the user has no
// certificate or token of its own. Throws InvalidSkyPilotConfigError for a
// missing context, cluster, user or file or a malformed exec section,
// NetworkError when the exec plugin gives no credential (RunExecPlugin), and
// NotSupportedError for auth-provider users.
ContextCredentials ResolveContext(const Kubeconfig& config, const std::string& context = {},
                                  const ResolveOptions& options = {});

// A kubeconfig holding only `credentials`' context, cluster and user, with
// every certificate, key and token embedded (no file paths), whose
// current-context is that context: what a machine needs to reach the same
// API server as the same user. The text holds secrets; store it mode 600.
std::string StandaloneKubeconfig(const ContextCredentials& credentials);

}  // namespace skycore::kubernetes
