// Readers of single resource values: vCPU and memory quantities, disk sizes,
// accelerator names and counts, ports and idle durations (internal to the loader).
#pragma once

#include <yaml-cpp/yaml.h>

#include <string_view>

#include "skycore/resources.h"
#include "yaml/reader.h"

namespace skycore::yamlio {

constexpr std::string_view kCpusHelp = "a number of vCPUs such as 4, or '4+' for at least 4";
constexpr std::string_view kMemoryHelp =
    "GiB such as 32, '32+' for at least 32, '32GB', or '4x' for 4 GiB per vCPU";

// `4`, `'4+'`, `0.5`; memory also `'32GB'` and `'4x'` (per vCPU).
Quantity ReadQuantity(Reader& reader, const YAML::Node& node, bool is_memory);
// `256`, `'256GB'`, `'1TB'`, `'100Gi'`, rounded up to whole GB.
int ReadSizeGb(Reader& reader, const YAML::Node& node);
// `'A100'`, `'A100:8'`, `'T4:0.5'`.
AcceleratorRequest ReadAcceleratorText(Reader& reader, const YAML::Node& node);
// One mapping entry `{A100: 8}` / `{A100:8: null}` / `{A100: null}`.
AcceleratorRequest ReadAcceleratorEntry(Reader& reader, const YAML::Node& key,
                                        const YAML::Node& value);
// `8080`, `'10000-10010'`.
PortRange ReadPortText(Reader& reader, const YAML::Node& node);
// One port or range written inside `node` (a part of '8080,9000-9010'); an
// error points at `node`.
PortRange ReadPortText(Reader& reader, const YAML::Node& node, std::string_view text);
// `10`, `'30m'`, `'1h'`, `'2d'`, `'1w'`, in minutes.
int ReadIdleMinutes(Reader& reader, const YAML::Node& node);

}  // namespace skycore::yamlio
