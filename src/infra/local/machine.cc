#include "infra/local/machine.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "common/strings.h"
#include "common/subprocess.h"

namespace skycore::backend {
namespace {

double MemTotalGib() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  double kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib / (1024.0 * 1024.0);
  }
  return 0;
}

// The cgroup v2 CPU quota when one is set ("max" or absent: none).
std::optional<double> CgroupCpus() {
  std::ifstream in("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (!(in >> quota >> period) || quota == "max" || period <= 0) return std::nullopt;
  double value = 0;
  if (!strings::ParseDouble(quota, value) || value <= 0) return std::nullopt;
  return value / period;
}

double UsableCpus() {
  double online = static_cast<double>(std::max(1u, std::thread::hardware_concurrency()));
  if (auto quota = CgroupCpus()) return std::min(online, std::max(1.0, std::floor(*quota)));
  return online;
}

std::string Hostname() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "localhost";
  return name;
}

bool NvidiaSmi(LocalMachine& machine) {
  auto result = subprocess::Run(
      {"nvidia-smi", "--query-gpu=index,name", "--format=csv,noheader,nounits"}, 10);
  if (!result.started || result.exit_code != 0) return false;
  std::istringstream lines(result.output);
  std::string line;
  while (std::getline(lines, line)) {
    auto fields = strings::Split(line, ',');
    if (fields.size() < 2) continue;
    long long index = 0;
    if (!strings::ParseInt(strings::Trim(fields[0]), index)) continue;
    machine.gpu_ids.push_back(static_cast<int>(index));
    if (machine.gpu_name.empty()) {
      machine.gpu_name = CanonicalGpuName(std::string(strings::Trim(fields[1])));
    }
  }
  if (machine.gpu_ids.empty()) return false;
  machine.gpu_source = "nvidia-smi";
  return true;
}

// Without a driver, lspci still shows the devices (names only roughly).
bool Lspci(LocalMachine& machine) {
  auto result = subprocess::Run({"lspci", "-mm"}, 10);
  if (!result.started || result.exit_code != 0) return false;
  std::istringstream lines(result.output);
  std::string line;
  int count = 0;
  std::string name;
  static const std::regex kGpu(R"re("(3D|VGA)[^"]*" "NVIDIA Corporation" "([^"]*)")re");
  while (std::getline(lines, line)) {
    std::smatch match;
    if (!std::regex_search(line, match, kGpu)) continue;
    if (name.empty()) name = CanonicalGpuName(match[2].str());
    machine.gpu_ids.push_back(count++);
  }
  if (count == 0) return false;
  machine.gpu_name = name;
  machine.gpu_source = "lspci";
  return true;
}

}  // namespace

std::string CanonicalGpuName(const std::string& product_name) {
  const std::string upper = strings::Upper(product_name);
  auto has = [&](const char* text) { return upper.find(text) != std::string::npos; };
  // Most specific first: "A100 80GB" before "A100", "L40S" before "L4", ...
  if (has("H200")) return "H200";
  if (has("H100")) return "H100";
  if (has("A100")) return has("80G") ? "A100-80GB" : "A100";
  if (has("L40S")) return "L40S";
  if (has("L40")) return "L40";
  if (has("L4")) return "L4";
  if (has("A10G")) return "A10G";
  if (has("A10")) return "A10";
  if (has("T4")) return "T4";
  if (has("V100")) return "V100";
  if (has("P100")) return "P100";
  if (has("A6000")) return "RTXA6000";
  if (has("B200")) return "B200";
  // Anything else: the product name without the vendor, as one word.
  std::string name = product_name;
  for (const char* vendor : {"NVIDIA ", "Tesla ", "GeForce "}) {
    if (name.rfind(vendor, 0) == 0) name = name.substr(std::strlen(vendor));
  }
  std::string out;
  for (char c : name) {
    if (std::isalnum(static_cast<unsigned char>(c)) || c == '-') out.push_back(c);
  }
  return out.empty() ? "GPU" : out;
}

LocalMachine DiscoverLocalMachine(const EnvLookup& lookup) {
  LocalMachine machine;
  machine.hostname = Hostname();
  machine.cpus = UsableCpus();
  machine.memory_gib = MemTotalGib();
  if (auto fake = lookup("SKYCORE_LOCAL_GPUS")) {
    machine.gpu_source = "SKYCORE_LOCAL_GPUS";
    auto text = std::string(strings::Trim(*fake));
    if (!text.empty()) {
      auto colon = text.rfind(':');
      long long count = 1;
      if (colon != std::string::npos) {
        if (!strings::ParseInt(text.substr(colon + 1), count) || count < 0) count = 0;
        text = text.substr(0, colon);
      }
      machine.gpu_name = text;
      for (int i = 0; i < count; ++i) machine.gpu_ids.push_back(i);
    }
    return machine;
  }
  if (!NvidiaSmi(machine)) Lspci(machine);
  return machine;
}

std::string LocalMachine::Describe() const {
  std::string text = fmt::format("{} CPU{}, {:.1f} GiB memory, ", strings::FormatNumber(cpus),
                                 cpus == 1 ? "" : "s", memory_gib);
  if (gpu_ids.empty()) return text + "no GPUs";
  return text + fmt::format("{}x {} ({})", gpu_ids.size(), gpu_name, gpu_source);
}

std::string LocalCatalogCsv(const LocalMachine& machine) {
  std::string csv =
      "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,GpuInfo,Price,SpotPrice,"
      "Region,AvailabilityZone\n";
  const std::string cpus = strings::FormatNumber(machine.cpus);
  const std::string memory = strings::FormatNumber(std::floor(machine.memory_gib * 10) / 10);
  // A CPU-only row, and one row per GPU count: a machine that is already
  // there offers any number of its GPUs, not only all of them.
  csv += fmt::format("local,,,{},{},,0.0,,{},\n", cpus, memory, machine.hostname);
  for (size_t count = 1; count <= machine.gpu_ids.size(); ++count) {
    csv += fmt::format("local,{},{},{},{},,0.0,,{},\n", machine.gpu_name, count, cpus, memory,
                       machine.hostname);
  }
  return csv;
}

}  // namespace skycore::backend
