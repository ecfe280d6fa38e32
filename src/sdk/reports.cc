// What skycore::Sky reports about clusters: the cost report, the endpoints
// of their open ports, and the JSON forms of cluster and job records.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>

#include "backend/cluster_backend.h"
#include "sdk/cluster_ops.h"
#include "sdk/sky_impl.h"
#include "skycore/yaml.h"

namespace skycore {
using nlohmann::json;
using sdk_internal::RequireCluster;
using sdk_internal::RequireUp;

// ------------------------------------------------------------ reports

std::vector<CostReportRow> Sky::CostReport(std::optional<int> days) {
  HistoryFilter filter;
  const int64_t now = static_cast<int64_t>(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
  if (days) filter.used_since_s = now - int64_t{*days} * 86400;
  auto catalog_ptr = catalog();
  std::vector<CostReportRow> rows;
  for (auto& history : state().ListClusterHistory(filter)) {
    CostReportRow row;
    try {
      Resources r = LoadResourcesConfig(history.launched_resources);
      if (!r.cloud().empty() && r.cloud() != "local" && !r.instance_type().empty()) {
        row.hourly_price =
            catalog_ptr
                ->HourlyPrice(r.cloud(), r.instance_type(), r.region(), r.zone(), r.use_spot())
                .value_or(0);
      }
    } catch (const Error&) {
      // Resources written by another version: priced at zero rather than hidden.
    }
    row.total_cost = history.duration_s(now) / 3600.0 * row.hourly_price * history.num_nodes;
    row.history = std::move(history);
    rows.push_back(std::move(row));
  }
  return rows;
}

std::map<int, PortEndpoint> Sky::EndpointDetails(const std::string& name, std::optional<int> port) {
  ClusterRecord record = RequireCluster(state(), name);
  RequireUp(record, "show endpoints");
  std::vector<int> ports = backend::OpenPortsOf(record.launched_resources);
  if (port) {
    if (std::find(ports.begin(), ports.end(), *port) == ports.end()) {
      throw InvalidTaskError(fmt::format("port {} is not open on cluster '{}'{}", *port, name,
                                         ports.empty()
                                             ? std::string(" (it opens no ports)")
                                             : fmt::format(" (open: {})", fmt::join(ports, ", "))));
    }
    ports = {*port};
  }
  if (ports.empty()) return {};
  ClusterOps ops(*this, *impl_);
  return ops.Backend(record)->Endpoints(record.handle, ports);
}

std::map<int, std::string> Sky::Endpoints(const std::string& name, std::optional<int> port) {
  std::map<int, std::string> out;
  for (const auto& [p, endpoint] : EndpointDetails(name, port)) {
    if (!endpoint.address.empty()) {
      out[p] = endpoint.address;
    } else if (port) {
      throw ClusterNotUpError(
          fmt::format("port {} of cluster '{}' has no endpoint yet: {}", p, name, endpoint.note));
    }
  }
  return out;
}

// ------------------------------------------------------------ JSON forms

std::string ResourcesDisplay(int num_nodes, const json& launched) {
  std::vector<std::string> parts;
  for (const char* key : {"cpus", "memory", "accelerators"}) {
    if (launched.is_object() && launched.contains(key) && launched[key].is_string()) {
      parts.push_back(fmt::format("{}={}", key == std::string("memory") ? "mem" : key,
                                  launched[key].get<std::string>()));
    }
  }
  std::string joined;
  for (const auto& part : parts) joined += (joined.empty() ? "" : ", ") + part;
  return fmt::format("{}x({})", num_nodes, joined);
}

json ClusterRecordToJson(const ClusterRecord& r) {
  return json{{"name", r.name},
              {"status", ClusterStatusName(r.status)},
              {"cluster_hash", r.cluster_hash},
              {"handle", r.handle},
              {"launched_resources", r.launched_resources},
              {"num_nodes", r.num_nodes},
              {"autostop", r.autostop_idle_minutes},
              {"to_down", r.autostop_down},
              {"launched_at", r.launched_at_s},
              {"status_updated_at", r.status_updated_at_s},
              {"last_use", r.last_use},
              {"owner", r.owner},
              {"user_name", r.owner},
              {"cluster_ever_up", r.ever_up},
              {"resources_str", ResourcesDisplay(r.num_nodes, r.launched_resources)}};
}

json JobRecordToJson(const JobRecord& r) {
  return json{{"job_id", r.job_id},
              {"job_name", r.name},
              {"username", r.username},
              {"status", JobStatusName(r.status)},
              {"priority", r.priority},
              {"num_nodes", r.num_nodes},
              {"resources", r.resources},
              {"submitted_at", r.submitted_at},
              {"start_at", r.start_at > 0 ? json(r.start_at) : json()},
              {"end_at", r.end_at > 0 ? json(r.end_at) : json()},
              {"exit_code", r.exit_code},
              {"log_path", r.log_dir}};
}

}  // namespace skycore
