#include "infra/virtual_instance_type.h"

#include <fmt/format.h>

#include <cctype>
#include <cmath>
#include <cstdlib>

#include "skycore/resources.h"

namespace skycore::infra {
namespace {

// "12" or "12.5" at the start of `text`: its value, `text` advanced past it.
std::optional<double> TakeNumber(std::string_view& text) {
  size_t at = 0;
  while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
  if (at == 0) return std::nullopt;
  if (at < text.size() && text[at] == '.') {
    const size_t fraction = ++at;
    while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
    if (at == fraction) return std::nullopt;
  }
  const double value = std::strtod(std::string(text.substr(0, at)).c_str(), nullptr);
  text.remove_prefix(at);
  return value;
}

bool TakePrefix(std::string_view& text, std::string_view prefix) {
  if (text.substr(0, prefix.size()) != prefix) return false;
  text.remove_prefix(prefix.size());
  return true;
}

}  // namespace

std::string FormatTypeNumber(double value) {
  if (value == std::floor(value)) return fmt::format("{:.0f}", value);
  return fmt::format("{:.1f}", value);
}

std::string VirtualTypeName(const VirtualInstanceType& type) {
  std::string name =
      fmt::format("{}CPU--{}GB", FormatTypeNumber(type.cpus), FormatTypeNumber(type.memory_gib));
  if (type.accelerator_count > 0) {
    std::string accelerator = type.accelerator;
    for (char& c : accelerator) {
      if (c == ' ') c = '_';
    }
    name += fmt::format("--{}:{}", accelerator, type.accelerator_count);
  }
  return name;
}

std::optional<VirtualInstanceType> ParseVirtualType(std::string_view name) {
  VirtualInstanceType type;
  type.name = std::string(name);
  std::string_view rest = name;
  const auto cpus = TakeNumber(rest);
  if (!cpus || !TakePrefix(rest, "CPU--")) return std::nullopt;
  const auto memory = TakeNumber(rest);
  if (!memory || !TakePrefix(rest, "GB")) return std::nullopt;
  type.cpus = *cpus;
  type.memory_gib = *memory;
  if (rest.empty()) return type;
  if (!TakePrefix(rest, "--")) return std::nullopt;
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == rest.size()) {
    return std::nullopt;
  }
  for (char c : rest.substr(0, colon)) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') return std::nullopt;
  }
  for (char c : rest.substr(colon + 1)) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  type.accelerator = std::string(rest.substr(0, colon));
  type.accelerator_count = std::atoi(std::string(rest.substr(colon + 1)).c_str());
  return type;
}

std::optional<VirtualInstanceType> VirtualTypeFor(const Resources& resources) {
  if (!resources.instance_type().empty()) return ParseVirtualType(resources.instance_type());
  VirtualInstanceType type;
  // An `N+` ask is sized N: a pod gets what it requests.
  type.cpus = resources.cpus() ? resources.cpus()->value : kDefaultCpus;
  const auto& memory = resources.memory();
  const auto& accelerators = resources.accelerators();
  if (accelerators) {
    // Label values have no spaces: no node can match such a name. A device
    // plugin hands out whole devices: a fraction is refused (the optimizer
    // says so), not rounded up.
    if (accelerators->name.find(' ') != std::string::npos ||
        accelerators->count != std::floor(accelerators->count)) {
      return std::nullopt;
    }
    // SkyPilot sizes a GPU pod from the CPU figure as a CPU-only type's name
    // writes it (one decimal), or 4 CPUs per device.
    type.cpus = !resources.cpus() ? kDefaultCpusPerAccelerator * accelerators->count
                                  : std::strtod(FormatTypeNumber(type.cpus).c_str(), nullptr);
    type.accelerator = accelerators->name;
    type.accelerator_count = static_cast<int>(accelerators->count);
  }
  const double per_cpu = accelerators ? kDefaultMemoryPerCpuWithAccelerator : kDefaultMemoryPerCpu;
  if (!memory) {
    type.memory_gib = type.cpus * per_cpu;
  } else {
    type.memory_gib = memory->per_cpu ? memory->value * type.cpus : memory->value;
  }
  // The pod requests what the name says (a figure rounded to its one decimal).
  return ParseVirtualType(VirtualTypeName(type));
}

}  // namespace skycore::infra
