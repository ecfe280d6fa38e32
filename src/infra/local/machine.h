// This machine as the "local" infra: what it has (CPUs, memory, GPUs) and
// how it enters the catalog.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace skycore::backend {

struct LocalMachine {
  std::string hostname;
  double cpus = 0;        // usable CPUs (cgroup quota or online CPUs)
  double memory_gib = 0;  // MemTotal
  std::string gpu_name;   // canonical accelerator name ("H100"); empty without GPUs
  std::vector<int> gpu_ids;
  std::string gpu_source;  // "nvidia-smi", "lspci", "SKYCORE_LOCAL_GPUS" or empty

  // "2 CPUs, 23.4 GiB memory, no GPUs" / "..., 8x H100 (nvidia-smi)".
  std::string Describe() const;
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;

// Discovers this machine. GPUs come from `nvidia-smi` when it runs, else from
// NVIDIA devices listed by `lspci`. $SKYCORE_LOCAL_GPUS ("H100:2", or "" for
// none) overrides discovery, so GPU placement can be tried on a machine
// without GPUs (jobs see CUDA_VISIBLE_DEVICES for the devices they reserve).
LocalMachine DiscoverLocalMachine(const EnvLookup& lookup);

// SkyPilot's accelerator name for an `nvidia-smi` product name
// ("NVIDIA H100 80GB HBM3" → "H100", "NVIDIA A100-SXM4-80GB" → "A100-80GB").
std::string CanonicalGpuName(const std::string& product_name);

// The machine as a one-row catalog CSV for the infra "local" (price 0,
// region = hostname).
std::string LocalCatalogCsv(const LocalMachine& machine);

}  // namespace skycore::backend
