#include "backend/k8s_pod_commands.h"

#include <fmt/format.h>

#include <algorithm>

#include "common/strings.h"
#include "kubernetes/pods.h"

namespace skycore::backend::k8s {
using nlohmann::json;
using strings::ShellQuote;

kubernetes::ExecTarget PodTarget(const json& handle, int index) {
  const json pods = handle.value("pods", json::array());
  return {handle.value("namespace", "default"),
          static_cast<size_t>(index) < pods.size()
              ? pods[static_cast<size_t>(index)].get<std::string>()
              : kubernetes::PodName(handle.value("cluster_name", ""), index),
          "ray-node"};
}

std::string NodeWorkdir(const json& handle, int index) {
  const json roots = handle.value("pod_roots", json::array());
  const std::string root = static_cast<size_t>(index) < roots.size()
                               ? roots[static_cast<size_t>(index)].get<std::string>()
                               : handle.value("root", "");
  return fmt::format("{}/clusters/{}/node{}/sky_workdir", root, handle.value("cluster_name", ""),
                     index);
}

std::string PrepareHeadCommand(const std::string& name, const std::string& agent_name) {
  return fmt::format(
      "set -e; R=\"${{SKYCORE_HOME:-$HOME/.skycore}}\"; "
      "mkdir -p \"$R/bin\" \"$R/clusters/\"{}\"/node0/sky_workdir\"; "
      "cd \"$R\"; echo \"root=$(pwd -P)\"; "
      "if [ -x \"$R/bin/\"{} ]; then echo agent=yes; else echo agent=no; fi",
      ShellQuote(name), ShellQuote(agent_name));
}

std::string PrepareWorkerCommand(const std::string& name, int index) {
  return fmt::format(
      "set -e; R=\"${{SKYCORE_HOME:-$HOME/.skycore}}\"; "
      "mkdir -p \"$R/clusters/\"{}\"/node{}/sky_workdir\"; cd \"$R\"; echo \"root=$(pwd -P)\"",
      ShellQuote(name), index);
}

json AgentNodeSpec(const json& handle) {
  const std::string name = handle.value("cluster_name", "");
  const std::string dir = handle.value("root", "") + "/clusters/" + name;
  const json ips = handle.value("node_ips", json::array());
  json gpu_ids = json::array();
  for (int i = 0; i < handle.value("gpus_per_node", 0); ++i) gpu_ids.push_back(i);
  json nodes = json::array();
  const size_t count = std::max<size_t>(1, handle.value("pods", json::array()).size());
  for (size_t i = 0; i < count; ++i) {
    json node = {{"ip", i < ips.size() ? ips[i] : json("127.0.0.1")},
                 {"workdir", NodeWorkdir(handle, static_cast<int>(i))},
                 {"cpus", handle.value("cpus_per_node", 0.0)},
                 {"memory_gib", handle.value("memory_gib_per_node", 0.0)},
                 {"gpus", gpu_ids.size()},
                 {"gpu_ids", gpu_ids}};
    if (i > 0) {
      const kubernetes::ExecTarget pod = PodTarget(handle, static_cast<int>(i));
      node["runner"] = {{"kind", "kubernetes"},
                        {"namespace", pod.namespace_name},
                        {"pod", pod.pod},
                        {"container", pod.container},
                        {"kubeconfig", dir + "/kube/config"},
                        {"context", handle.value("context", "")}};
    }
    nodes.push_back(node);
  }
  return {{"cluster_name", name},
          {"cluster_info",
           {{"cluster_name", name},
            {"cloud", "kubernetes"},
            {"region", handle.value("context", "")},
            {"num_nodes", handle.value("num_nodes", 1)},
            {"ips", ips}}},
          {"nodes", nodes}};
}

std::string StartAgentCommand(const json& handle, const std::string& agent_name) {
  const std::string name = handle.value("cluster_name", "");
  const std::string dir = handle.value("root", "") + "/clusters/" + name;
  const json spec = AgentNodeSpec(handle);
  const std::string spec_text = spec.dump();
  return fmt::format(
      "set -e; D={dir}; S={socket}; mkdir -p \"$D/agent\"; "
      "printf '%s\\n' {spec} >\"$D/nodes.json\"; "
      "if [ -f \"$D/skyletd.pid\" ]; then p=$(cat \"$D/skyletd.pid\"); "
      "if [ -n \"$p\" ] && grep -qa skyletd /proc/$p/cmdline 2>/dev/null && [ -S \"$S\" ]; then "
      "echo running; exit 0; fi; fi; "
      "rm -f \"$S\"; "
      "nohup setsid {bin} --socket \"$S\" --state-dir \"$D/agent\" --node-spec "
      "\"$D/nodes.json\" --log-root \"$D\" >>\"$D/skyletd.log\" 2>&1 </dev/null & "
      "echo $! >\"$D/skyletd.pid\"; "
      "for i in $(seq 200); do [ -S \"$S\" ] && exit 0; kill -0 $! 2>/dev/null || break; "
      "sleep 0.05; done; "
      "echo 'the agent (skyletd) did not start; its log ends with:'; tail -c 2000 "
      "\"$D/skyletd.log\"; exit 1",
      fmt::arg("dir", ShellQuote(dir)),
      fmt::arg("socket", ShellQuote(handle.value("agent_socket", ""))),
      fmt::arg("spec", ShellQuote(spec_text)),
      fmt::arg("bin", ShellQuote(handle.value("root", "") + "/bin/" + agent_name)));
}

}  // namespace skycore::backend::k8s
