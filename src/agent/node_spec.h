// The nodes an agent runs jobs on and their per-node reservation book.
//
// The node spec is JSON, given inline or as a file:
//   {"cluster_name": "dev",
//    "cluster_info": {...},               // optional, passed on as SKYPILOT_CLUSTER_INFO
//    "nodes": [{"ip": "127.0.0.1", "workdir": "/path/node0",
//               "cpus": 4, "gpus": 0, "memory_gib": 16, "gpu_ids": [0, 1]}]}
// The first node is the head (rank 0 of a job that uses it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "skycore/agent.h"

namespace skycore::agent {

struct NodeCapacity {
  std::string ip;
  std::string workdir;
  double cpus = 0;
  double memory_gib = 0;
  std::vector<int> gpu_ids;  // device indices as CUDA_VISIBLE_DEVICES names them
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
