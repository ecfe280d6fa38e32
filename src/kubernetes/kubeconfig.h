// Kubeconfig files as kubectl reads them: `$KUBECONFIG` (several files joined
// with ':', merged first-wins per named entry and for current-context) or
// ~/.kube/config. Parsing never touches the network; relative file paths are
// resolved against the directory of the kubeconfig that names them.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

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
  bool has_exec = false;  // an exec credential plugin (not supported yet)
  bool has_auth_provider = false;
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
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// The kubeconfig paths kubectl would read: the entries of $KUBECONFIG (empty
// entries skipped), else $HOME/.kube/config.
std::vector<std::filesystem::path> KubeconfigPaths(const EnvLookup& env);

// Parses one kubeconfig's text into `into`, keeping entries already there
// (first wins). Throws InvalidSkyPilotConfigError naming `file` and the field.
void MergeKubeconfigText(const std::string& text, const std::filesystem::path& file,
                         Kubeconfig& into);

// Reads and merges the files; missing files are skipped as kubectl does.
// Throws InvalidSkyPilotConfigError when none exists or one is malformed.
Kubeconfig LoadKubeconfig(const std::vector<std::filesystem::path>& paths);

// Resolves a context (empty: current-context) into credentials, reading the
// files it names. Throws InvalidSkyPilotConfigError for a missing context,
// cluster, user or file, and NotSupportedError for exec/auth-provider users.
ContextCredentials ResolveContext(const Kubeconfig& config, const std::string& context = {});

// A kubeconfig holding only `credentials`' context, cluster and user, with
// every certificate, key and token embedded (no file paths), whose
// current-context is that context: what a machine needs to reach the same
// API server as the same user. The text holds secrets; store it mode 600.
std::string StandaloneKubeconfig(const ContextCredentials& credentials);

}  // namespace skycore::kubernetes
