// The ports a cluster opens, as its launched-resources config records them.
#include <set>
#include <string>

#include "backend/cluster_backend.h"
#include "common/strings.h"

namespace skycore::backend {
using nlohmann::json;

namespace {

// A range is capped: a typo like 1-65535 must not make a million endpoints.
constexpr long long kMaxRangePorts = 1000;

void AddText(const std::string& text, std::vector<int>& out, std::set<int>& seen) {
  auto add = [&](long long port) {
    if (port >= 1 && port <= 65535 && seen.insert(static_cast<int>(port)).second) {
      out.push_back(static_cast<int>(port));
    }
  };
  const auto dash = text.find('-');
  long long lo = 0, hi = 0;
  if (dash == std::string::npos) {
    if (strings::ParseInt(text, lo)) add(lo);
  } else if (strings::ParseInt(text.substr(0, dash), lo) &&
             strings::ParseInt(text.substr(dash + 1), hi)) {
    for (long long port = lo; port <= hi && port - lo < kMaxRangePorts; ++port) add(port);
  }
}

void AddItem(const json& item, std::vector<int>& out, std::set<int>& seen) {
  if (item.is_string()) {
    AddText(item.get<std::string>(), out, seen);
  } else if (item.is_number_integer()) {
    AddText(std::to_string(item.get<long long>()), out, seen);
  }
}

}  // namespace

std::vector<int> OpenPortsOf(const json& launched_resources) {
  std::vector<int> out;
  std::set<int> seen;
  if (!launched_resources.is_object() || !launched_resources.contains("ports")) return out;
  const json& ports = launched_resources["ports"];
  if (ports.is_array()) {
    for (const auto& item : ports) AddItem(item, out, seen);
  } else {
    AddItem(ports, out, seen);
  }
  return out;
}

void MergePorts(json& launched_resources, const Task& task) {
  if (!launched_resources.is_object()) return;
  json merged = json::array();
  std::set<std::string> have;
  auto add = [&](const std::string& text) {
    if (have.insert(text).second) merged.push_back(text);
  };
  if (launched_resources.contains("ports")) {
    const json& ports = launched_resources["ports"];
    for (const auto& item : ports.is_array() ? ports : json::array({ports})) {
      add(item.is_string() ? item.get<std::string>() : item.dump());
    }
  }
  // An existing cluster runs whichever alternative fits; all of them may be
  // served there, so each one's ports are opened.
  for (const auto& alternative : task.resources().alternatives()) {
    for (const auto& range : alternative.spec().ports) add(range.ToString());
  }
  if (!merged.empty()) launched_resources["ports"] = merged;
}

std::map<int, PortEndpoint> HostEndpoints(const std::string& host, const std::vector<int>& ports,
                                          const std::string& missing) {
  std::map<int, PortEndpoint> out;
  const bool ipv6 = host.find(':') != std::string::npos;
  for (int port : ports) {
    PortEndpoint& endpoint = out[port];
    if (host.empty()) {
      endpoint.note = missing;
    } else {
      // Appended piecewise: GCC 12 at -O3 warns (-Wrestrict) on "literal" + string.
      endpoint.address = ipv6 ? std::string("[") : std::string();
      endpoint.address += host;
      endpoint.address += ipv6 ? "]:" : ":";
      endpoint.address += std::to_string(port);
    }
  }
  return out;
}

}  // namespace skycore::backend
