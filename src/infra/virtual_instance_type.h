// SkyPilot's virtual instance types, for infras where a node is what it
// requests from machines already there (Kubernetes pods, Slurm allocations):
// "<cpus>CPU--<memory>GB[--<accelerator>:<count>]" ("2CPU--2GB",
// "0.5CPU--1.5GB", "4CPU--16GB--H100:1"). A node requests what its type
// names; the type is sized from the task's resources with SkyPilot's
// defaults (2 CPUs and 1 GB per CPU; with accelerators 4 CPUs per device and
// 4 GB per CPU), an `N+` ask taken as exactly N (the scheduler gives a node
// what it requests, no more).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "infra/descriptor.h"

namespace skycore::infra {

inline constexpr double kDefaultCpus = 2;
inline constexpr double kDefaultCpusPerAccelerator = 4;
inline constexpr double kDefaultMemoryPerCpu = 1;                 // GB
inline constexpr double kDefaultMemoryPerCpuWithAccelerator = 4;  // GB

// A CPU or memory figure as the type's name writes it: whole numbers bare,
// others to one decimal ("2", "0.5", "1.5"; 0.25 writes "0.2").
std::string FormatTypeNumber(double value);

// The type's name; an accelerator name's spaces become '_'.
std::string VirtualTypeName(const VirtualInstanceType& type);

// Reads a name in the format above; nullopt for anything else.
std::optional<VirtualInstanceType> ParseVirtualType(std::string_view name);

// The type a node of `resources` requests: its `instance_type` when set
// (nullopt when that is not a virtual type), else sized from cpus, memory and
// accelerators (nullopt for a fraction of a device). The figures are those
// the name writes, so the node requests exactly what the type says.
std::optional<VirtualInstanceType> VirtualTypeFor(const Resources& resources);

}  // namespace skycore::infra
