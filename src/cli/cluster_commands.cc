#include "cli/cluster_commands.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <set>

#include "cli/display.h"
#include "cli/invocation.h"
#include "cli/terminal.h"
#include "common/strings.h"
#include "skycore/skycore.h"

namespace skycore::cli {
namespace {

struct StatusFlags {
  std::vector<std::string> clusters;
  bool refresh = false;
  bool verbose = false;
  bool endpoints = false;
  std::optional<int> endpoint;
  bool ip = false;
  // Accepted for SkyPilot's scripts; skycore has no managed jobs, services or
  // pools to show, and one user per state dir (every cluster is listed).
  bool show_managed_jobs = true;
  bool show_services = true;
  bool show_pools = true;
  bool all_users = false;
  std::string output = "table";  // or "json": the records, without handles, as SkyPilot's
};

// stop, down, autostop and start share their cluster selection.
struct ClusterSetFlags {
  std::vector<std::string> clusters;
  bool all = false;
  bool yes = false;
};

struct DownFlags : ClusterSetFlags {
  bool purge = false;
};

struct StartFlags : ClusterSetFlags {
  std::optional<int> idle_minutes_to_autostop;
  std::string wait_for;
  bool down = false;
  bool retry_until_up = false;
  bool force = false;
};

struct AutostopFlags : ClusterSetFlags {
  std::optional<int> idle_minutes;
  std::string wait_for;
  bool down = false;
  bool cancel = false;
};

struct CostReportFlags {
  int days = 30;
  bool all = false;
};

std::string AutostopCell(const ClusterRecord& record) {
  std::string cell;
  if (record.autostop_idle_minutes >= 0) cell = fmt::format("{}m", record.autostop_idle_minutes);
  if (record.autostop_down) cell += cell.empty() ? "(down)" : " (down)";
  return cell.empty() ? "-" : cell;
}

// ----------------------------------------------------------------- status

// `sky status --endpoints CLUSTER` / `--endpoint PORT CLUSTER`, as SkyPilot
// prints them: "PORT: ADDRESS" lines, or the bare address of one port. What
// is not reachable yet, and who can reach an address, goes to stderr.
int StatusEndpoints(const StatusFlags& flags) {
  if (flags.clusters.size() != 1 || IsGlob(flags.clusters.front())) {
    throw InvalidTaskError(fmt::format(
        "`sky status {}` needs exactly one cluster name",
        flags.endpoint ? fmt::format("--endpoint {}", *flags.endpoint) : "--endpoints"));
  }
  const std::string& name = flags.clusters.front();
  auto sky = OpenSky();
  const auto endpoints = sky->EndpointDetails(name, flags.endpoint);
  const bool fancy = FancyStdout();
  std::set<std::string> notes;
  std::vector<std::string> pending;
  int shown = 0;
  for (const auto& [port, endpoint] : endpoints) {
    if (endpoint.address.empty()) {
      pending.push_back(std::to_string(port));
      notes.insert(endpoint.note);
      continue;
    }
    if (!endpoint.note.empty()) notes.insert(endpoint.note);
    ++shown;
    if (flags.endpoint) {
      std::cout << endpoint.address << "\n";
    } else {
      std::cout << Style(std::to_string(port), kBold, fancy) << ": "
                << Style(endpoint.address, kCyan, fancy) << "\n";
    }
  }
  std::cout.flush();
  if (shown == 0) {
    std::string why = notes.empty() ? std::string() : fmt::format(": {}", *notes.begin());
    if (endpoints.empty()) why = " (it opens no ports; `resources.ports` or `--ports` opens some)";
    throw ClusterNotUpError(flags.endpoint
                                ? fmt::format("No endpoint yet for port {} of cluster '{}'{}",
                                              *flags.endpoint, name, why)
                                : fmt::format("No endpoint found for cluster '{}'{}", name, why));
  }
  if (!pending.empty()) {
    std::cerr << fmt::format("Port{} {} not reachable yet.\n", pending.size() == 1 ? "" : "s",
                             fmt::join(pending, ", "));
  }
  for (const auto& note : notes) std::cerr << "Note: " << note << "\n";
  return 0;
}

// `sky status --ip CLUSTER`: the head node's address, as SkyPilot prints it.
int StatusIp(const StatusFlags& flags) {
  if (flags.refresh) {
    throw InvalidTaskError(
        "--ip cannot be given with --refresh: refresh first (`sky status --refresh`), then "
        "query the IP.");
  }
  if (flags.endpoints || flags.endpoint) {
    throw InvalidTaskError("--ip cannot be given with --endpoint(s): pick one.");
  }
  if (flags.clusters.size() != 1 || IsGlob(flags.clusters.front())) {
    throw InvalidTaskError(
        fmt::format("{} clusters specified. Please specify a single cluster to show its IP "
                    "address.\nUsage: `sky status --ip <cluster>`",
                    flags.clusters.empty() ? "No" : std::to_string(flags.clusters.size())));
  }
  const std::string& name = flags.clusters.front();
  auto sky = OpenSky();
  const auto record = sky->state().GetCluster(name);
  if (!record) {
    throw ClusterDoesNotExist(
        fmt::format("Cluster '{}' does not exist; `sky status` lists the clusters.", name));
  }
  if (record->status != ClusterStatus::kUp) {
    throw ClusterNotUpError(fmt::format("Cluster '{}' is not in UP status.", name));
  }
  const std::string head_ip =
      record->handle.is_object() ? record->handle.value("head_ip", "") : std::string();
  if (head_ip.empty()) {
    throw ClusterNotUpError(fmt::format(
        "Cluster '{}' has no head IP address on its infra ({}); `sky status --endpoints {}` "
        "shows how to reach its ports.",
        name, InfraCell(record->launched_resources), name));
  }
  std::cout << head_ip << std::endl;
  return 0;
}

int Status(const StatusFlags& flags) {
  if (flags.ip) return StatusIp(flags);
  if (flags.endpoints || flags.endpoint) return StatusEndpoints(flags);
  auto sky = OpenSky();
  const bool fancy = FancyStdout();
  const auto records = sky->Status(flags.clusters, flags.refresh);
  if (strings::Lower(flags.output) == "json") {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& record : records) {
      nlohmann::json entry = ClusterRecordToJson(record);
      entry.erase("handle");  // SkyPilot leaves handles (and credentials) out
      out.push_back(std::move(entry));
    }
    std::cout << out.dump(2) << std::endl;
    return 0;
  }
  std::cout << Style("Enabled Infra:", kCyan, fancy) << " "
            << fmt::format("{}", fmt::join(sky->enabled_infras(), ", ")) << "\n\n";
  std::cout << Style("Clusters", kCyan, fancy) << "\n";

  std::vector<std::string> header = {"NAME",   "INFRA",    "RESOURCES",
                                     "STATUS", "AUTOSTOP", "LAUNCHED"};
  if (flags.verbose) header.push_back("COMMAND");
  std::vector<std::vector<std::string>> rows = {header};
  const double now_s = NowSeconds();
  int pending_autostop = 0;
  for (const auto& record : records) {
    std::vector<std::string> row = {record.name,
                                    InfraCell(record.launched_resources),
                                    ResourcesCell(record.launched_resources, record.num_nodes),
                                    ColoredStatus(ClusterStatusName(record.status), fancy),
                                    AutostopCell(record),
                                    TimeAgo(static_cast<double>(record.launched_at_s), now_s)};
    if (flags.verbose) row.push_back(record.last_use.empty() ? "-" : record.last_use);
    rows.push_back(std::move(row));
    if (record.autostop_idle_minutes >= 0 && record.status != ClusterStatus::kStopped) {
      ++pending_autostop;
    }
  }
  if (!records.empty()) std::cout << FormatTable(rows);
  for (const auto& record : records) {
    // What the infra said happened to nodes a cluster lost (a preempted spot
    // worker), as the last refresh found it.
    const std::string reason =
        record.handle.is_object() ? record.handle.value("status_reason", "") : "";
    if (!reason.empty()) {
      std::cout << fmt::format("Cluster '{}' lost nodes: {}\n", record.name, reason);
    }
  }

  std::vector<std::string> not_found;
  for (const auto& name : flags.clusters) {
    if (IsGlob(name)) continue;
    const bool found = std::any_of(records.begin(), records.end(),
                                   [&](const ClusterRecord& r) { return r.name == name; });
    if (!found) not_found.push_back("'" + name + "'");
  }
  if (!not_found.empty()) {
    std::cout << fmt::format("Cluster{} {} not found.\n", not_found.size() > 1 ? "s" : "",
                             fmt::join(not_found, ", "));
  } else if (records.empty()) {
    std::cout << "No existing clusters.\n";
  }
  if (pending_autostop > 0 && !flags.refresh) {
    std::cout << fmt::format(
        "\n* {} cluster{} auto{{stop,down}} scheduled. Refresh statuses with: {}\n",
        pending_autostop, pending_autostop > 1 ? "s have" : " has",
        Style("sky status --refresh", kBold, fancy));
  }
  return 0;
}

// ------------------------------------------------- selecting clusters to act on

// The clusters named (names or globs) or, with --all, every cluster that
// `keep` accepts. A plain name with no cluster is ClusterDoesNotExist, before
// anything is done.
std::vector<ClusterRecord> SelectClusters(Sky& sky, const ClusterSetFlags& flags,
                                          const std::string& command,
                                          const std::function<bool(const ClusterRecord&)>& keep) {
  if (flags.clusters.empty() && !flags.all) {
    throw InvalidTaskError(fmt::format(
        "`sky {}` requires either a cluster name or glob (see `sky status`), or the -a/--all "
        "flag for all your clusters.",
        command));
  }
  if (flags.all) {
    if (!flags.clusters.empty()) {
      std::cout << fmt::format(
          "Both --all and cluster(s) specified for `sky {}`. Letting --all take effect.\n",
          command);
    }
    auto records = sky.Status();
    std::erase_if(records, [&](const ClusterRecord& r) { return !keep(r); });
    return records;
  }
  for (const auto& name : flags.clusters) {
    if (!IsGlob(name) && !sky.state().GetCluster(name)) {
      throw ClusterDoesNotExist(
          fmt::format("Cluster '{}' does not exist; `sky status` lists the clusters.", name));
    }
  }
  return sky.Status(flags.clusters);
}

std::string NamesOf(const std::vector<ClusterRecord>& records) {
  std::vector<std::string> names;
  for (const auto& r : records) names.push_back(r.name);
  return fmt::format("{}", fmt::join(names, ", "));
}

bool ConfirmClusters(const std::string& operation, const std::vector<ClusterRecord>& records,
                     bool yes) {
  if (yes) return true;
  if (Confirm(fmt::format("{} {} cluster{}: {}. Proceed?", operation, records.size(),
                          records.size() > 1 ? "s" : "", NamesOf(records)))) {
    return true;
  }
  std::cerr << "Aborted!\n";
  return false;
}

// Runs `action` on each cluster, printing "<operation> cluster x...done." or
// the failure. Returns 0 when all succeeded.
int ForEachCluster(const std::vector<ClusterRecord>& records, const std::string& operation,
                   const std::function<std::string(const ClusterRecord&, TerminalSink&)>& action) {
  const bool fancy = FancyStdout();
  int exit_code = 0;
  for (const auto& record : records) {
    TerminalSink sink;
    try {
      const std::string extra = action(record, sink);
      sink.StepDone();
      std::cout << Style(fmt::format("{} cluster {}...done.", operation, record.name), kGreen,
                         fancy)
                << extra << std::endl;
    } catch (const Error& e) {
      sink.Abandon();
      std::cout << Style(fmt::format("{} cluster {}...failed.", operation, record.name), kRed,
                         fancy)
                << "\nReason: " << e.what() << std::endl;
      exit_code = 1;
    }
  }
  return exit_code;
}

int Stop(const ClusterSetFlags& flags) {
  auto sky = OpenSky();
  auto records = SelectClusters(*sky, flags, "stop", [](const ClusterRecord& r) {
    return r.status != ClusterStatus::kStopped;
  });
  if (records.empty()) {
    std::cout << "Cluster(s) not found (tip: see `sky status`).\n";
    return 0;
  }
  if (!ConfirmClusters("Stopping", records, flags.yes)) return 1;
  return ForEachCluster(records, "Stopping", [&](const ClusterRecord& r, TerminalSink& sink) {
    sky->Stop(r.name, sink);
    return fmt::format("\n  To restart the cluster, run: {}",
                       Style("sky start " + r.name, kBold, FancyStdout()));
  });
}

int Down(const DownFlags& flags) {
  auto sky = OpenSky();
  auto records = SelectClusters(*sky, flags, "down", [](const ClusterRecord&) { return true; });
  if (records.empty()) {
    std::cout << "Cluster(s) not found (tip: see `sky status`).\n";
    return 0;
  }
  if (!ConfirmClusters("Terminating", records, flags.yes)) return 1;
  return ForEachCluster(records, "Terminating", [&](const ClusterRecord& r, TerminalSink& sink) {
    sky->Down(r.name, sink, flags.purge);
    return std::string();
  });
}

int Start(const StartFlags& flags) {
  if (flags.down && !flags.idle_minutes_to_autostop) {
    throw InvalidTaskError("--idle-minutes-to-autostop must be set if --down is set.");
  }
  const std::string wait_for = CheckWaitFor(flags.wait_for);
  auto sky = OpenSky();
  auto records = SelectClusters(*sky, flags, "start", [](const ClusterRecord&) { return true; });
  if (records.empty()) {
    std::cout << "Cluster(s) not found (tip: see `sky status`). Do you mean to use `sky launch` "
                 "to provision a new cluster?\n";
    return 0;
  }
  std::erase_if(records, [&](const ClusterRecord& r) {
    if (flags.force || r.status != ClusterStatus::kUp) return false;
    std::cout << fmt::format("Cluster {} already has status UP.\n", r.name);
    return true;
  });
  if (records.empty()) return 0;
  if (!ConfirmClusters("Restarting", records, flags.yes)) return 1;
  const bool fancy = FancyStdout();
  int exit_code = 0;
  for (const auto& record : records) {
    TerminalSink sink;
    try {
      sky->Start(record.name, sink, flags.idle_minutes_to_autostop, flags.down);
      if (flags.idle_minutes_to_autostop && !wait_for.empty()) {
        sky->Autostop(record.name, *flags.idle_minutes_to_autostop, flags.down, wait_for);
      }
      sink.StepDone();
      std::cout << Style(fmt::format("Cluster {} started.", record.name), kGreen, fancy)
                << std::endl;
    } catch (const Error& e) {
      sink.Abandon();
      std::cout << Style(fmt::format("Starting cluster {}...failed.", record.name), kRed, fancy)
                << "\nReason: " << e.what() << std::endl;
      exit_code = 1;
    }
  }
  return exit_code;
}

int Autostop(const AutostopFlags& flags) {
  if (flags.cancel && flags.idle_minutes) {
    throw InvalidTaskError(
        fmt::format("Only one of --idle-minutes and --cancel should be specified. cancel: "
                    "True, idle_minutes: {}",
                    *flags.idle_minutes));
  }
  const int idle_minutes = flags.cancel ? -1 : flags.idle_minutes.value_or(5);
  const std::string wait_for = CheckWaitFor(flags.wait_for);
  auto sky = OpenSky();
  auto records = SelectClusters(*sky, flags, "autostop", [](const ClusterRecord&) { return true; });
  if (records.empty()) {
    std::cout << "Cluster(s) not found (tip: see `sky status`).\n";
    return 0;
  }
  const bool is_cancel = idle_minutes < 0;
  const std::string option = is_cancel ? "{stop,down}" : (flags.down ? "down" : "stop");
  const std::string operation =
      fmt::format("{} auto{} on", is_cancel ? "Cancelling" : "Scheduling", option);
  if (!ConfirmClusters(operation, records, flags.yes)) return 1;
  return ForEachCluster(records, operation, [&](const ClusterRecord& r, TerminalSink&) {
    sky->Autostop(r.name, idle_minutes, flags.down, wait_for.empty() ? "jobs" : wait_for);
    if (is_cancel) return std::string();
    return fmt::format(
        "\n  The cluster will be auto{} after {} minute{} of idleness.\n  To cancel the "
        "auto{}, run: {}",
        flags.down ? "downed" : "stopped", idle_minutes, idle_minutes == 1 ? "" : "s", option,
        Style(fmt::format("sky autostop {} --cancel", r.name), kBold, FancyStdout()));
  });
}

// ------------------------------------------------------------ cost-report

int CostReport(const CostReportFlags& flags) {
  constexpr size_t kLinesShown = 5;  // SkyPilot's NUM_COST_REPORT_LINES
  auto sky = OpenSky();
  const bool fancy = FancyStdout();
  std::optional<int> days;
  if (flags.days > 0) days = flags.days;
  auto rows_in = sky->CostReport(days);
  // Clusters that still exist first, as SkyPilot orders them.
  std::stable_sort(rows_in.begin(), rows_in.end(), [](const auto& a, const auto& b) {
    return a.history.status.has_value() && !b.history.status.has_value();
  });
  const size_t shown = flags.all ? rows_in.size() : std::min(rows_in.size(), kLinesShown);
  const double now_s = NowSeconds();
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "LAUNCHED", "DURATION", "RESOURCES", "STATUS", "COST/hr", "COST (est.)"}};
  double total_cost = 0;
  for (size_t i = 0; i < shown; ++i) {
    const auto& row = rows_in[i];
    const auto& h = row.history;
    const double launched_s = static_cast<double>(h.launched_at_s());
    const double duration_s = static_cast<double>(h.duration_s(static_cast<int64_t>(now_s)));
    std::string resources = ResourcesCell(h.launched_resources, h.num_nodes);
    rows.push_back({h.name, TimeAgo(launched_s, now_s),
                    duration_s < 1 ? "< 1s" : Duration(1, 1 + duration_s), resources,
                    h.status ? ColoredStatus(ClusterStatusName(*h.status), fancy)
                             : Style("TERMINATED", kDim, fancy),
                    fmt::format("$ {:.2f}", row.hourly_price * h.num_nodes),
                    row.total_cost > 0 ? fmt::format("$ {:.2f}", row.total_cost) : "-"});
    total_cost += row.total_cost;
  }
  if (!rows_in.empty()) {
    std::cout << Style(days ? fmt::format("Clusters (last {} days)", *days) : "Clusters", kCyan,
                       fancy)
              << "\n"
              << FormatTable(rows);
  }
  std::cout << "\n" << Style(fmt::format("Total Cost: ${:.2f}", total_cost), kBold, fancy) << "\n";
  if (!flags.all) {
    std::cout << Style(fmt::format("Showing up to {} most recent clusters. To see all clusters "
                                   "in history, pass the --all flag.",
                                   kLinesShown),
                       kYellow, fancy)
              << "\n";
  }
  std::cout << Style(
                   "This feature is experimental. Costs for clusters with auto{stop,down} "
                   "scheduled may not be accurate.",
                   kYellow, fancy)
            << "\n";
  return 0;
}

// ------------------------------------------------------------------ check

// Every line of `text` after `indent`.
std::string Indented(const std::string& text, const std::string& indent) {
  std::string out = indent;
  for (char c : text) {
    out += c;
    if (c == '\n') out += indent;
  }
  return out;
}

int Check(const std::vector<std::string>& infras) {
  auto sky = OpenSky();
  const bool fancy = FancyStdout();
  std::cout << Style("Checking credentials to enable infra for SkyPilot.", kCyan, fancy) << "\n";
  const auto checks = sky->Check(infras);
  std::vector<std::string> enabled;
  for (const auto& check : checks) {
    const std::string name = PrettyInfraName(check.infra);
    if (check.enabled) {
      enabled.push_back(name);
      // A multi-line reason (one line per SSH pool and host) goes below.
      const bool one_line = check.reason.find('\n') == std::string::npos;
      std::cout << fmt::format("  {}: {}{}\n", name, Style("enabled ✔", kGreen, fancy),
                               check.reason.empty() || !one_line
                                   ? std::string()
                                   : Style(fmt::format(" ({})", check.reason), kDim, fancy));
      if (!one_line) std::cout << Style(Indented(check.reason, "    "), kDim, fancy) << "\n";
    } else {
      std::cout << fmt::format("  {}: {}\n", name, Style("disabled", kDim, fancy));
      if (!check.reason.empty()) {
        std::cout << Style(Indented("Reason: " + check.reason, "    "), kDim, fancy) << "\n";
      }
    }
  }
  std::cout << "\n";
  if (enabled.empty()) {
    std::cout << Style("No infra is enabled.", kRed, fancy) << "\n";
    return 1;
  }
  std::cout << "🎉 " << Style("Enabled infra", kGreen, fancy) << " 🎉\n";
  for (const auto& name : enabled) std::cout << "  " << name << "\n";
  return 0;
}

void AddClusterSetOptions(CLI::App& command, ClusterSetFlags& flags, const std::string& all_help) {
  command.add_option("clusters", flags.clusters, "Cluster names or glob patterns ('dev-*')");
  command.add_flag("-a,--all", flags.all, all_help);
  command.add_flag("-y,--yes", flags.yes, "Skip the confirmation prompt");
}

}  // namespace

std::string CheckWaitFor(const std::string& wait_for) {
  const std::string value = strings::Lower(wait_for);
  if (value.empty() || value == "jobs" || value == "none") return value;
  if (value == "jobs_and_ssh") {
    throw InvalidTaskError(
        "--wait-for jobs_and_ssh is not supported by skycore yet: the agent does not count SSH "
        "sessions. Use --wait-for jobs (idle when no job is pending or running) or none.");
  }
  throw InvalidTaskError(
      fmt::format("--wait-for '{}' is not one of jobs_and_ssh, jobs, none.", wait_for));
}

std::function<std::optional<int>()> AddClusterCommands(CLI::App& app) {
  auto status_flags = std::make_shared<StatusFlags>();
  CLI::App* status = app.add_subcommand(
      "status",
      "Show clusters (all, or those named; globs allowed).\n\n"
      "STATUS is INIT (provisioning, or unhealthy: `sky launch` again to repair), UP or "
      "STOPPED (`sky start` restarts it). AUTOSTOP is the idle minutes before the cluster "
      "stops ('(down)': is torn down); '-' means off.");
  status->add_option("clusters", status_flags->clusters, "Cluster names or glob patterns");
  status->add_flag("-r,--refresh", status_flags->refresh,
                   "Check each cluster's real state first and repair its record");
  status->add_flag("-v,--verbose,--all", status_flags->verbose, "Show all columns, untruncated");
  status->add_flag("--endpoints", status_flags->endpoints,
                   "Show the endpoint of every port the cluster opens (one cluster)");
  status
      ->add_option("--endpoint", status_flags->endpoint,
                   "Show the endpoint of this port of the cluster (one cluster)")
      ->check(CLI::Range(1, 65535));
  status
      ->add_option("-o,--output", status_flags->output,
                   "table, or json: the cluster records [default: table]")
      ->check(CLI::IsMember({"table", "json"}, CLI::ignore_case));
  status->add_flag("--ip", status_flags->ip, "Show the head node's IP address (one cluster)");
  status->add_flag("-u,--all-users", status_flags->all_users,
                   "Show the clusters of all users (skycore's state dir holds one user's: all "
                   "are shown anyway)");
  status->add_flag("--show-managed-jobs,!--no-show-managed-jobs", status_flags->show_managed_jobs,
                   "Accepted for SkyPilot's scripts: skycore has no managed jobs to show");
  status->add_flag("--show-services,!--no-show-services", status_flags->show_services,
                   "Accepted for SkyPilot's scripts: skycore has no services to show");
  status->add_flag("--show-pools,!--no-show-pools", status_flags->show_pools,
                   "Accepted for SkyPilot's scripts: skycore has no pools to show");

  auto stop_flags = std::make_shared<ClusterSetFlags>();
  CLI::App* stop = app.add_subcommand(
      "stop", "Stop clusters: jobs are killed, disks and the job queue are kept (`sky start`).");
  AddClusterSetOptions(*stop, *stop_flags, "Stop all existing clusters");

  auto start_flags = std::make_shared<StartFlags>();
  CLI::App* start =
      app.add_subcommand("start", "Restart stopped clusters (or retry provisioning INIT ones).");
  AddClusterSetOptions(*start, *start_flags, "Start all existing clusters");
  start
      ->add_option("-i,--idle-minutes-to-autostop", start_flags->idle_minutes_to_autostop,
                   "Stop the cluster after this many idle minutes")
      ->check(CLI::NonNegativeNumber);
  start->add_flag("--down", start_flags->down,
                  "Tear the cluster down instead of stopping it when idle (needs -i)");
  start->add_flag("-r,--retry-until-up", start_flags->retry_until_up,
                  "Retry until the cluster is up");
  start->add_flag("-f,--force", start_flags->force, "Start the cluster even if it is UP");
  start->add_option("--wait-for", start_flags->wait_for,
                    "With -i, what keeps the cluster from being idle: jobs (the default) or none "
                    "(stop after -i minutes whatever runs)");

  auto down_flags = std::make_shared<DownFlags>();
  CLI::App* down = app.add_subcommand(
      "down", "Tear down clusters: everything on them is deleted and billing stops.");
  AddClusterSetOptions(*down, *down_flags, "Tear down all existing clusters");
  down->add_flag("-p,--purge", down_flags->purge,
                 "(Advanced) Remove the clusters from skycore's table even if their cleanup "
                 "fails; you then make sure nothing is left behind");

  auto autostop_flags = std::make_shared<AutostopFlags>();
  CLI::App* autostop = app.add_subcommand(
      "autostop",
      "Schedule an autostop (or autodown) of clusters after they have been idle (no pending or "
      "running jobs) for -i minutes (default 5).");
  AddClusterSetOptions(*autostop, *autostop_flags, "Autostop all existing clusters");
  autostop
      ->add_option("-i,--idle-minutes", autostop_flags->idle_minutes,
                   "Idle minutes before the cluster stops (default 5)")
      ->check(CLI::NonNegativeNumber);
  autostop->add_flag("--down", autostop_flags->down,
                     "Tear the cluster down (not restartable) instead of stopping it");
  autostop->add_flag("--cancel", autostop_flags->cancel, "Cancel any scheduled auto{stop,down}");
  autostop->add_option("--wait-for", autostop_flags->wait_for,
                       "What keeps the cluster from being idle: jobs (the default) or none (stop "
                       "after -i minutes whatever runs)");

  auto cost_flags = std::make_shared<CostReportFlags>();
  CLI::App* cost = app.add_subcommand(
      "cost-report",
      "Show estimated costs of clusters (duration up × hourly price × nodes), including "
      "clusters already torn down.");
  cost->add_option("--days", cost_flags->days,
                   "Show clusters used in the last N days (0: all) [default: 30]")
      ->check(CLI::NonNegativeNumber);
  cost->add_flag("-a,--all", cost_flags->all, "Show all clusters, not only the 5 most recent");

  auto infras = std::make_shared<std::vector<std::string>>();
  CLI::App* check = app.add_subcommand(
      "check", "Check which infras (clouds, Kubernetes, local, ...) are enabled, and why not.");
  check->add_option("infras", *infras, "Only these infras, e.g. aws k8s");

  SplitHelp(*status);

  return [=]() -> std::optional<int> {
    if (status->parsed()) return Status(*status_flags);
    if (stop->parsed()) return Stop(*stop_flags);
    if (start->parsed()) return Start(*start_flags);
    if (down->parsed()) return Down(*down_flags);
    if (autostop->parsed()) return Autostop(*autostop_flags);
    if (cost->parsed()) return CostReport(*cost_flags);
    if (check->parsed()) return Check(*infras);
    return std::nullopt;
  };
}

}  // namespace skycore::cli
