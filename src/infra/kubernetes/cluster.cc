// ClusterBackend of Kubernetes: a cluster's nodes are pods of one context.
//
// Pods are `<cluster>-head` and `<cluster>-worker<i>` (pods.h),
// selected by a headless Service `<cluster>-nodes` that gives them DNS names;
// their container idles; everything else arrives through the exec API
// (exec.h). In the head pod, under `$SKYCORE_HOME` or else
// `~/.skycore`:
//
//   bin/skyletd-<size>-<mtime>     the agent binary, streamed in over exec
//   clusters/<name>/               nodes.json, agent/, sky_logs/, skyletd.log,
//                                  node0/sky_workdir
//   clusters/<name>/kube/config    (several nodes) the context's credentials,
//                                  mode 600: the agent starts the ranks of
//                                  worker pods through their exec
//                                  (`skyletd kexec`, agent/remote_launcher.h)
//
// and in worker pod i, clusters/<name>/node<i>/sky_workdir.
//
// and the agent's socket in /tmp (a pod's home can be too deep for a Unix
// socket path). This machine reaches the agent through a Unix socket that
// this process serves: each connection to it becomes an exec of `skyletd
// --connect <socket>` in the head pod, which joins the exec's stdin and
// stdout to the agent (no port-forward, no Service, nothing listening on the
// pod's network).
#include "infra/kubernetes/cluster.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "backend/cluster_backend.h"
#include "backend/remote_host.h"
#include "backend/ssh_runner.h"
#include "backend/sync.h"
#include "common/strings.h"
#include "infra/kubernetes/api_client.h"
#include "infra/kubernetes/endpoints.h"
#include "infra/kubernetes/exec.h"
#include "infra/kubernetes/kubeconfig.h"
#include "infra/kubernetes/pod_commands.h"
#include "infra/kubernetes/pods.h"
#include "infra/kubernetes/provision.h"
#include "infra/kubernetes/services.h"
#include "skycore/agent.h"
#include "skycore/error.h"

namespace skycore::backend {
namespace fs = std::filesystem;
using k8s::CreatePods;
using k8s::CreateService;
using k8s::PodsPath;
using k8s::Selector;
using k8s::ServiceName;
using k8s::ServicePath;
using k8s::WaitForPods;
using nlohmann::json;
using strings::ShellQuote;

namespace {

constexpr double kCommandTimeoutS = 60;
constexpr double kCopyTimeoutS = 600;
constexpr double kTeardownWaitS = 30;
constexpr double kAgentStopTimeoutS = 20;

std::string HashText(const std::string& text) {
  return fmt::format("{:016x}", std::hash<std::string>{}(text));
}

// A label value (at most 63 of [A-Za-z0-9._-], alphanumeric at both ends)
// standing for `text`.
std::string LabelValue(const std::string& text) {
  std::string value;
  for (char c : text) {
    value.push_back(
        std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ? c : '_');
  }
  value = value.substr(0, 63);
  while (!value.empty() && !std::isalnum(static_cast<unsigned char>(value.back())))
    value.pop_back();
  while (!value.empty() && !std::isalnum(static_cast<unsigned char>(value.front()))) {
    value.erase(value.begin());
  }
  return value.empty() ? "unknown" : value;
}

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string ReadLocal(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(fmt::format("cannot read {}", path.string()));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

class K8sBackend : public ClusterBackend {
 public:
  explicit K8sBackend(BackendContext context) : context_(std::move(context)) {}

  json Plan(const ClusterRequest& request) override {
    const std::string& context_name = request.chosen->region;
    const auto creds = Credentials(context_name);
    const json overrides =
        request.task_config.is_object() ? request.task_config.value("kubernetes", json()) : json();
    // Read (and checked) now: a config mistake is the user's to fix, not a
    // reason to fail over to another context.
    const auto config = kubernetes::ReadKubernetesConfig(context_.options.state_dir / "config.yaml",
                                                         context_name, overrides);
    const Candidate& chosen = *request.chosen;
    const int gpus = static_cast<int>(std::ceil(chosen.accelerator_count - 1e-9));
    // How ports will be opened is fixed at launch (in the handle), so a later
    // config change cannot lose track of the cluster's Service.
    auto port_mode = PortMode(context_name, !request.ports.empty());
    if (overrides.is_object() && overrides.contains("ports") && !overrides["ports"].is_null()) {
      // The task's own `config.kubernetes.ports` wins over the file's.
      if (!overrides["ports"].is_string()) {
        throw InvalidSkyPilotConfigError(
            "the task's config: kubernetes.ports must be 'loadbalancer', 'nodeport', 'ingress' or "
            "'podip'");
      }
      port_mode =
          kubernetes::ParsePortMode(overrides["ports"].get<std::string>(), "the task's config");
      if (!request.ports.empty() && port_mode == kubernetes::PortMode::kIngress) {
        throw NotSupportedError(
            "the task's config: kubernetes.ports 'ingress' is not supported by skycore; use "
            "'loadbalancer' (the default), 'nodeport' or 'podip'");
      }
    }
    json pods = json::array();
    for (int i = 0; i < request.num_nodes; ++i)
      pods.push_back(kubernetes::PodName(request.name, i));
    json handle = {
        {"infra", "kubernetes"},
        {"cluster_name", request.name},
        {"context", context_name},
        {"namespace", config.namespace_name.empty() ? creds.namespace_name : config.namespace_name},
        {"user", LabelValue(context_.user)},
        {"pods", pods},
        {"num_nodes", request.num_nodes},
        // Each pod requests the candidate's virtual instance type.
        {"instance_type", chosen.instance_type},
        {"cpus_per_node", chosen.vcpus},
        {"memory_gib_per_node", chosen.memory_gib},
        {"accelerator", gpus > 0 ? chosen.accelerator_name : std::string()},
        {"gpus_per_node", gpus},
        {"image", request.image.empty() ? kubernetes::kDefaultImage : request.image},
        {"requests", {{"cpus", chosen.vcpus}, {"memory_gb", chosen.memory_gib}}},
        {"port_mode", kubernetes::PortModeName(port_mode)}};
    if (!overrides.is_null()) handle["kubernetes_config"] = overrides;
    handle["remote_identity"] = config.remote_identity;
    return handle;
  }

  void Up(json& handle, const std::string&, OutputSink& out, const RecordHandle& record) override {
    const std::string name = handle.value("cluster_name", "");
    const auto creds = Credentials(handle.value("context", ""));
    const kubernetes::ApiClient api(creds);
    const auto config = Config(handle);
    CreateService(handle, api);
    CreatePods(handle, api, config);
    out.Step(fmt::format("Waiting for {} pod{} to run", handle["pods"].size(),
                         handle["pods"].size() == 1 ? "" : "s"));
    handle["node_ips"] = WaitForPods(handle, api, config, out);
    record(handle);

    const ExecTarget head = Head(handle);
    const std::string agent_name = AgentBinaryName();
    const auto prepared = remote::ParsePrepared(
        RunOrThrow(creds, head, remote::PrepareCommand(name, {0}, agent_name), ""));
    if (prepared.root.empty()) {
      throw CommandError(fmt::format("preparing pod {} printed no skycore directory", head.pod));
    }
    const std::string root = prepared.root;
    const bool has_agent = prepared.has_agent;
    handle["root"] = root;
    json roots = json::array({root});
    const json pods = handle["pods"];
    // Workers are prepared in parallel: each is an exec of its own.
    const auto texts = remote::Parallel(pods.size() - 1, [&](size_t index) {
      const ExecTarget worker = k8s::PodTarget(handle, static_cast<int>(index + 1));
      return RunOrThrow(creds, worker, remote::PrepareCommand(name, {index + 1}, agent_name), "");
    });
    for (size_t i = 1; i < pods.size(); ++i) {
      const std::string worker_root = remote::ParsePrepared(texts[i - 1]).root;
      if (worker_root.empty()) {
        throw CommandError(fmt::format("preparing pod {} printed no skycore directory: {}",
                                       k8s::PodTarget(handle, static_cast<int>(i)).pod,
                                       texts[i - 1].substr(0, 500)));
      }
      roots.push_back(worker_root);
    }
    handle["pod_roots"] = roots;
    // The pod's root tells pods of the same name apart where /tmp is shared.
    handle["agent_socket"] = fmt::format(
        "/tmp/skycore-{}.sock", HashText(fmt::format("{}\n{}\n{}\n{}", handle.value("context", ""),
                                                     head.namespace_name, head.pod, root))
                                    .substr(0, 12));
    handle["agent_binary"] = agent_name;
    record(handle);
    if (!has_agent) {
      out.Step(fmt::format("Installing the agent (skyletd) in pod {}", head.pod));
      const std::string binary = ReadLocal(context_.skyletd);
      const std::string target = root + "/bin/" + agent_name;
      // `head -c` rather than `cat`: a v4 exec stream cannot end stdin.
      RunOrThrow(
          creds, head,
          fmt::format("head -c {} >{}.partial && chmod 755 {}.partial && mv -f {}.partial {}",
                      binary.size(), ShellQuote(target), ShellQuote(target), ShellQuote(target),
                      ShellQuote(target)),
          binary, kCopyTimeoutS);
    }
    if (pods.size() > 1 && k8s::UsesLocalCredentials(handle)) {
      // The agent reaches the workers' exec as this machine's user does;
      // with a service account identity, as that account (in-cluster).
      const std::string dir = fmt::format("{}/clusters/{}/kube", root, name);
      const std::string kubeconfig = kubernetes::StandaloneKubeconfig(creds);
      RunOrThrow(creds, head,
                 fmt::format("set -e; umask 077; mkdir -p {d}; head -c {n} >{d}/config.partial; "
                             "chmod 600 {d}/config.partial; mv -f {d}/config.partial {d}/config",
                             fmt::arg("d", ShellQuote(dir)), fmt::arg("n", kubeconfig.size())),
                 kubeconfig);
    }
    out.Step(fmt::format("Starting the agent (skyletd) in pod {}", head.pod));
    RunOrThrow(creds, head,
               remote::StartAgentCommand(root, name, agent_name, k8s::AgentNodeSpec(handle), {},
                                         /*restart=*/false, handle.value("agent_socket", "")),
               "");
    out.StepDone();
    AgentClient(AgentSocket(handle), 10).ping();
  }

  std::string AgentSocket(const json& handle) override {
    const std::string name = handle.value("cluster_name", "");
    if (handle.value("root", "").empty()) {
      throw ClusterNotUpError(
          fmt::format("cluster '{}' was never brought up; `sky launch -c {}` does it", name, name));
    }
    // This process's own socket (the bridge lives in this process), in a
    // directory only we can use.
    const fs::path dir = fmt::format("/tmp/skycore-k8s-{}", ::geteuid());
    if (!ssh::PrepareControlDir(dir)) {
      throw IoError(fmt::format("{} is not a private directory of this user; remove it and retry",
                                dir.string()));
    }
    const fs::path local =
        dir / fmt::format("{}-{}.sock",
                          HashText(context_.options.state_dir.string() + "\n" + name).substr(0, 12),
                          ::getpid());
    const auto creds = Credentials(handle.value("context", ""));
    kubernetes::ServeExecBridge(local, creds, Head(handle),
                                {handle.value("root", "") + "/bin/" + AgentBinaryName(handle),
                                 "--connect", handle.value("agent_socket", "")});
    try {
      AgentClient(local.string(), 10).ping();
    } catch (const Error& error) {
      std::string why = error.message();
      try {
        if (!Exists(handle)) why = fmt::format("its head pod {} is gone", Head(handle).pod);
      } catch (const Error&) {
      }
      throw ClusterNotUpError(fmt::format(
          "the agent of cluster '{}' on Kubernetes context '{}' does not answer ({}); `sky "
          "status -r {}` refreshes the cluster's state and `sky launch -c {}` restarts it",
          name, handle.value("context", ""), why, name, name));
    }
    return local.string();
  }

  NodeShape Shape(const json& handle) const override { return ShapeFromHandle(handle); }

  void SyncWorkdir(const json& handle, const Workdir& workdir) override {
    if (workdir.is_git()) {
      throw NotSupportedError("a git workdir is not supported on Kubernetes clusters yet");
    }
    const std::string archive = Pack(ExpandUser(workdir.path));
    remote::Parallel(handle.value("pods", json::array()).size(), [&](size_t i) {
      CopyIn(handle, static_cast<int>(i), archive, k8s::NodeWorkdir(handle, static_cast<int>(i)));
      return 0;
    });
  }

  void SyncFileMounts(const json& handle, const std::vector<FileMount>& mounts) override {
    if (!mounts.empty()) {
      throw NotSupportedError(
          fmt::format("file_mounts are not supported on Kubernetes clusters yet (cluster '{}')",
                      handle.value("cluster_name", "")));
    }
  }

  void FetchDirectory(const json& handle, const std::string& remote_dir,
                      const fs::path& local_dir) override {
    const auto creds = Credentials(handle.value("context", ""));
    auto result = kubernetes::Exec(
        creds, Head(handle),
        {"/bin/sh", "-c", fmt::format("tar -C {} -cf - .", ShellQuote(remote_dir))}, "",
        kCopyTimeoutS);
    if (result.exit_code != 0) {
      throw CommandError(fmt::format("copying {} out of pod {} failed (exit {}): {}{}", remote_dir,
                                     Head(handle).pod, result.exit_code, result.err, result.error));
    }
    std::error_code ec;
    fs::create_directories(local_dir, ec);
    FILE* tar =
        ::popen(fmt::format("tar -C {} -xf -", ShellQuote(local_dir.string())).c_str(), "w");
    if (!tar) throw IoError("cannot run tar to unpack " + remote_dir);
    const bool written =
        std::fwrite(result.out.data(), 1, result.out.size(), tar) == result.out.size();
    if (::pclose(tar) != 0 || !written) {
      throw IoError(fmt::format("unpacking {} into {} failed", remote_dir, local_dir.string()));
    }
  }

  void Stop(const json&) override {
    throw NotSupportedError(
        "sky stop is not supported for Kubernetes clusters; `sky down` removes the cluster's pods");
  }

  void Teardown(const json& handle, OutputSink& out) override {
    const std::string context_name = handle.value("context", "");
    const kubernetes::ApiClient api(Credentials(context_name));
    const std::string pods_path = PodsPath(handle);
    const std::string selector = Selector(handle);
    std::set<std::string> listed;
    for (const auto& pod :
         api.Get(pods_path + "?labelSelector=" + selector).value("items", json::array())) {
      listed.insert(pod["metadata"].value("name", ""));
    }
    // The planned names too: a pod whose labels were edited is ours all the
    // same. But one the list did not show may never have been created (a
    // launch refused by RBAC): a refusal to delete it is a warning, not a
    // reason to keep a cluster that has nothing left.
    std::set<std::string> unseen;
    for (const auto& pod : handle.value("pods", json::array())) {
      if (!listed.count(pod.get<std::string>())) unseen.insert(pod.get<std::string>());
    }
    auto delete_unseen = [&](const std::string& path, const std::string& what) {
      try {
        api.Delete(path);
      } catch (const NetworkError& e) {
        if (e.message().find("HTTP 403") == std::string::npos) throw;
        out.Write(
            fmt::format("Warning: not allowed to delete {} (it was likely never created): "
                        "{}\n",
                        what, e.message()));
      }
    };
    // The agent first (it stops its jobs): it runs beside the container's
    // main process, and a runtime that does not end the pod's whole process
    // tree with it would leave the agent behind.
    if (!handle.value("root", "").empty()) {
      try {
        kubernetes::Exec(
            Credentials(context_name), Head(handle),
            {"/bin/sh", "-c", remote::TeardownCommand(handle.value("cluster_name", ""))}, "",
            kAgentStopTimeoutS);
      } catch (const Error&) {
        // The head pod is gone or unreachable: deleting it below is all there is to do.
      }
    }
    for (const auto& pod : listed) api.Delete(pods_path + "/" + pod);
    for (const auto& pod : unseen) delete_unseen(pods_path + "/" + pod, "pod " + pod);
    delete_unseen(ServicePath(handle) + "/" + ServiceName(handle),
                  "service " + ServiceName(handle));
    // The load balancer of its ports, and any other Service labelled for it.
    try {
      kubernetes::DeleteClusterServices(api, handle.value("namespace", "default"),
                                        handle.value("cluster_name", ""));
    } catch (const NetworkError& e) {
      if (e.message().find("HTTP 403") == std::string::npos) throw;
      out.Write(fmt::format("Warning: not allowed to look for the cluster's services: {}\n",
                            e.message()));
    }
    // Gone means gone from the API server, so a relaunch can reuse the names.
    const double deadline = Now() + kTeardownWaitS;
    for (;;) {
      size_t left =
          api.Get(pods_path + "?labelSelector=" + selector).value("items", json::array()).size();
      if (left == 0) break;
      if (Now() > deadline) {
        out.Write(fmt::format("Warning: {} pod{} of cluster '{}' still terminating after {} s\n",
                              left, left == 1 ? "" : "s", handle.value("cluster_name", ""),
                              kTeardownWaitS));
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }

  bool Exists(const json& handle) override {
    kubernetes::ApiResponse response;
    try {
      const kubernetes::ApiClient api(Credentials(handle.value("context", "")));
      response = api.Send("GET", PodsPath(handle) + "/" + Head(handle).pod);
    } catch (const Error&) {
      return true;  // the API server cannot say: not known to be gone
    }
    if (response.status == 404) return false;
    if (response.status >= 200 && response.status < 300) {
      return kubernetes::ProgressOf(response.body).kind != kubernetes::PodProgress::Kind::kFailed;
    }
    return true;
  }

  bool AllNodesPresent(const json& handle) override {
    json list;
    try {
      const kubernetes::ApiClient api(Credentials(handle.value("context", "")));
      list = api.Get(PodsPath(handle) + "?labelSelector=" + Selector(handle));
    } catch (const Error&) {
      return true;  // the API server cannot say: not known to be gone
    }
    std::set<std::string> running;
    for (const auto& pod : list.value("items", json::array())) {
      // A pod being deleted (evicted, drained) is as good as gone.
      if (kubernetes::ProgressOf(pod).kind == kubernetes::PodProgress::Kind::kRunning &&
          !pod["metadata"].contains("deletionTimestamp")) {
        running.insert(pod["metadata"].value("name", ""));
      }
    }
    for (const auto& pod : handle.value("pods", json::array())) {
      if (!running.count(pod.get<std::string>())) return false;
    }
    return true;
  }

  json LaunchedResources(const json& handle, const Candidate& chosen,
                         const Task& task) const override {
    json resources = LaunchedResourcesOf("k8s/" + handle.value("context", chosen.region),
                                         Shape(handle), chosen, task);
    // What each pod requested, in SkyPilot's words (older handles lack it).
    if (const std::string type = handle.value("instance_type", ""); !type.empty()) {
      resources["instance_type"] = type;
    }
    return resources;
  }

  std::string Where(const json& handle) const override {
    return fmt::format("on Kubernetes context '{}' (namespace '{}')", handle.value("context", ""),
                       handle.value("namespace", ""));
  }

  void OpenPorts(json& handle, const std::vector<int>& ports, OutputSink& out) override {
    const std::string mode = handle.value("port_mode", "loadbalancer");
    if (mode == "podip") return;  // the pod's own IP: nothing to create
    if (mode != "loadbalancer" && mode != "nodeport") {
      PortMode(handle.value("context", ""), true);  // throws for what is not supported
      return;
    }
    kubernetes::LoadBalancerRequest request;
    request.type = mode == "nodeport" ? "NodePort" : "LoadBalancer";
    out.Step(fmt::format("Opening port{} {} through a {} service", ports.size() == 1 ? "" : "s",
                         fmt::join(ports, ", "), request.type));
    request.cluster_name = handle.value("cluster_name", "");
    request.namespace_name = handle.value("namespace", "default");
    request.ports = ports;
    kubernetes::ApplyLoadBalancer(kubernetes::ApiClient(Credentials(handle.value("context", ""))),
                                  request);
    out.StepDone();
  }

  std::map<int, PortEndpoint> Endpoints(const json& handle,
                                        const std::vector<int>& ports) override {
    return k8s::Endpoints(handle, kubernetes::ApiClient(Credentials(handle.value("context", ""))),
                          ports);
  }

 private:
  using ExecTarget = kubernetes::ExecTarget;

  kubernetes::ContextCredentials Credentials(const std::string& context_name) const {
    return kubernetes::ResolveContext(
        kubernetes::LoadKubeconfig(
            context_.options.kubeconfig_paths,
            kubernetes::InClusterFromEnvironment(kubernetes::ProcessEnvironment)),
        context_name, resolve_);
  }

  // `kubernetes.ports` for `context_name`; NotSupportedError naming what
  // works when `opens_ports` and the mode is one skycore cannot serve.
  kubernetes::PortMode PortMode(const std::string& context_name, bool opens_ports) const {
    const fs::path file = context_.options.state_dir / "config.yaml";
    const auto mode = kubernetes::ReadPortMode(file, context_name);
    if (opens_ports && mode == kubernetes::PortMode::kIngress) {
      throw NotSupportedError(fmt::format(
          "{}: kubernetes.ports 'ingress' is not supported by skycore; use 'loadbalancer' "
          "(the default), 'nodeport' or 'podip'",
          file.string()));
    }
    return mode;
  }

  // The config the cluster was planned with: the file's, under the task's overrides.
  kubernetes::KubernetesConfig Config(const json& handle) const {
    return kubernetes::ReadKubernetesConfig(context_.options.state_dir / "config.yaml",
                                            handle.value("context", ""),
                                            handle.value("kubernetes_config", json()));
  }

  static ExecTarget Head(const json& handle) { return k8s::PodTarget(handle, 0); }

  std::string RunOrThrow(const kubernetes::ContextCredentials& creds, const ExecTarget& target,
                         const std::string& script, std::string_view input,
                         double timeout_s = kCommandTimeoutS) const {
    auto result = kubernetes::Exec(creds, target, {"/bin/sh", "-c", script}, input, timeout_s);
    if (result.exit_code != 0) {
      throw CommandError(fmt::format(
          "a command in pod {}/{} of Kubernetes context '{}' failed (exit {}): {}",
          target.namespace_name, target.pod, creds.context, result.exit_code,
          std::string(strings::Trim(result.out + result.err + result.error)).substr(0, 2000)));
    }
    return result.out;
  }

  // The binary's name in the pod: a different build gets a different name.
  std::string AgentBinaryName() const {
    std::error_code ec;
    const auto size = fs::file_size(context_.skyletd, ec);
    struct stat info {};
    ::stat(context_.skyletd.c_str(), &info);
    return fmt::format("skyletd-{}-{}", size, static_cast<long long>(info.st_mtime));
  }
  // The one the cluster's agent runs (another build may be installed here).
  static std::string AgentBinaryName(const json& handle) {
    return handle.value("agent_binary", "");
  }

  // The local directory `source` as a tar archive.
  static std::string Pack(const fs::path& source) {
    std::error_code ec;
    if (!fs::is_directory(source, ec)) {
      throw IoError(fmt::format("the workdir {} is not a directory", source.string()));
    }
    FILE* tar = ::popen(fmt::format("tar -C {} -cf - .", ShellQuote(source.string())).c_str(), "r");
    if (!tar) throw IoError("cannot run tar to pack " + source.string());
    std::string archive;
    char buffer[64 * 1024];
    for (size_t got; (got = std::fread(buffer, 1, sizeof(buffer), tar)) > 0;) {
      archive.append(buffer, got);
    }
    if (::pclose(tar) != 0) throw IoError("packing " + source.string() + " with tar failed");
    return archive;
  }

  // Unpacks `archive` into `destination` of pod `index` over exec.
  void CopyIn(const json& handle, int index, const std::string& archive,
              const std::string& destination) const {
    RunOrThrow(Credentials(handle.value("context", "")), k8s::PodTarget(handle, index),
               fmt::format("set -e; mkdir -p {d}; head -c {n} | tar -C {d} -xf -",
                           fmt::arg("d", ShellQuote(destination)), fmt::arg("n", archive.size())),
               archive, kCopyTimeoutS);
  }

  BackendContext context_;
  // Exec plugin credentials: reused by every request of this process, and
  // kept on disk for the next one.
  kubernetes::ResolveOptions resolve_{std::make_shared<kubernetes::CredentialCache>(
      kubernetes::CredentialCacheDir(context_.options.state_dir))};
};

}  // namespace

std::unique_ptr<ClusterBackend> MakeKubernetesBackend(const BackendContext& context) {
  return std::make_unique<K8sBackend>(context);
}

}  // namespace skycore::backend
