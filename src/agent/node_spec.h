// The nodes an agent runs jobs on and their per-node reservation book.
//
// The node spec is JSON, given inline or as a file:
//   {"cluster_name": "dev",
//    "cluster_info": {...},               // optional, passed on as SKYPILOT_CLUSTER_INFO
//    "nodes": [{"ip": "127.0.0.1", "workdir": "/path/node0",
//               "cpus": 4, "gpus": 0, "memory_gib": 16, "gpu_ids": [0, 1],
//               "runner": {...}}]}              // optional: how ranks start there
// The first node is the head (rank 0 of a job that uses it).
//
// A node's "runner" says how the agent starts a rank on it:
//   absent, or {"kind": "local"}       a process on the agent's own machine
//   {"kind": "ssh", "address": "10.0.0.3", "port": 22, "user": "root",
//    "identity_file": "/abs/key", "known_hosts": "/abs/known_hosts"}
//                                      over OpenSSH; port, user, identity_file
//                                      and known_hosts are optional
//   {"kind": "srun", "job_id": "1234", "node_name": "n1", "srun": "/path/srun"}
//                                      a step of an existing Slurm allocation;
//                                      "srun" is optional (default: srun on PATH)
//   {"kind": "kubernetes", "namespace": "default", "pod": "c-worker1",
//    "container": "ray-node", "kubeconfig": "/abs/kube/config", "context": "ctx"}
//                                      through the API server's exec of the pod,
//                                      with the credentials of the kubeconfig
//                                      (`skyletd kexec`); container and context
//                                      are optional (the pod's only container,
//                                      the kubeconfig's current context)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "skycore/agent.h"

namespace skycore::agent {

// How ranks start on a node (see the file comment); fields of other kinds are empty.
struct RankRunner {
  enum class Kind { kLocal, kSsh, kSrun, kKubernetes };
  Kind kind = Kind::kLocal;
  // kSsh
  std::string address;
  int port = 22;
  std::string user;           // empty: ssh's default (the agent's user)
  std::string identity_file;  // empty: ssh's default keys
  std::string known_hosts;    // empty: ssh's default file
  // kSrun
  std::string job_id;
  std::string node_name;
  std::string srun_program = "srun";
  // kKubernetes
  std::string namespace_name;
  std::string pod;
  std::string container;   // empty: the pod's only container
  std::string kubeconfig;  // an absolute path on the agent's machine
  std::string context;     // empty: the kubeconfig's current context
};

struct NodeCapacity {
  std::string ip;
  std::string workdir;
  double cpus = 0;
  double memory_gib = 0;
  std::vector<int> gpu_ids;  // device indices as CUDA_VISIBLE_DEVICES names them
  RankRunner runner;
};

struct NodeSpec {
  std::string cluster_name;
  std::string cluster_info_json;  // SKYPILOT_CLUSTER_INFO
  std::vector<NodeCapacity> nodes;
};

// Parses `text`: a JSON document, or else the path of a file holding one.
// InvalidSkyPilotConfigError names the field that is wrong.
NodeSpec ParseNodeSpec(const std::string& text);

// What one rank of a running job holds on its node.
struct RankAllocation {
  int node = 0;
  double cpus = 0;
  double memory_gib = 0;
  std::vector<std::pair<int, double>> gpus;  // (index into gpu_ids, share of that GPU)
};

// The free capacity of every node; all reservations go through here.
class ReservationBook {
 public:
  explicit ReservationBook(const NodeSpec& spec);

  // Called on a book with nothing reserved: whether the spec could ever fit;
  // if not, says why.
  std::optional<std::string> NeverFits(const JobSpec& spec) const;

  // Reserves spec's demand on `num_nodes` distinct nodes (head first, then in
  // order) when it fits now; nullopt otherwise, reserving nothing.
  std::optional<std::vector<RankAllocation>> TryReserve(const JobSpec& spec);

  void Release(const std::vector<RankAllocation>& allocations);

 private:
  struct NodeFree {
    double cpus = 0;
    double memory_gib = 0;
    std::vector<double> gpu_free;  // per GPU, 1.0 = wholly free
  };
  std::optional<RankAllocation> FitOn(int node, const JobSpec& spec) const;

  std::vector<NodeFree> free_;
};

}  // namespace skycore::agent
