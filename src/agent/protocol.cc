#include "agent/protocol.h"

#include <fmt/format.h>

namespace skycore::agent {
namespace {

template <typename T>
T Field(const json& object, const char* key, T fallback) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const json::exception&) {
    throw InvalidTaskError(
        fmt::format("job field '{}' has the wrong type ({})", key, it->type_name()),
        ErrorLocation{"", 0, 0, key});
  }
}

}  // namespace

json SpecToJson(const JobSpec& spec) {
  return json{{"name", spec.name},
              {"username", spec.username},
              {"num_nodes", spec.num_nodes},
              {"cpus_per_node", spec.cpus_per_node},
              {"gpus_per_node", spec.gpus_per_node},
              {"memory_gib_per_node", spec.memory_gib_per_node},
              {"priority", spec.priority},
              {"setup", spec.setup},
              {"run", spec.run},
              {"envs", spec.envs},
              {"secrets", spec.secrets},
              {"resources", spec.resources},
              {"run_timestamp", spec.run_timestamp}};
}

JobSpec SpecFromJson(const json& value) {
  if (!value.is_object()) throw InvalidTaskError("a job spec must be a JSON object");
  JobSpec spec;
  spec.name = Field<std::string>(value, "name", "");
  spec.username = Field<std::string>(value, "username", "");
  spec.num_nodes = Field<int>(value, "num_nodes", 1);
  spec.cpus_per_node = Field<double>(value, "cpus_per_node", 0.5);
  spec.gpus_per_node = Field<double>(value, "gpus_per_node", 0);
  spec.memory_gib_per_node = Field<double>(value, "memory_gib_per_node", 0);
  spec.priority = Field<int>(value, "priority", 0);
  spec.setup = Field<std::string>(value, "setup", "");
  spec.run = Field<std::string>(value, "run", "");
  spec.envs = Field<std::map<std::string, std::string>>(value, "envs", {});
  spec.secrets = Field<std::map<std::string, std::string>>(value, "secrets", {});
  spec.resources = Field<std::string>(value, "resources", "");
  spec.run_timestamp = Field<std::string>(value, "run_timestamp", "");
  return spec;
}

json RanksToJson(const std::vector<RankProcess>& ranks) {
  json out = json::array();
  for (const auto& rank : ranks) {
    out.push_back({{"rank", rank.rank},
                   {"node", rank.node},
                   {"pid", rank.pid},
                   {"start_ticks", rank.start_ticks}});
  }
  return out;
}

std::vector<RankProcess> RanksFromJson(const json& value) {
  std::vector<RankProcess> ranks;
  if (!value.is_array()) return ranks;
  for (const auto& item : value) {
    RankProcess rank;
    rank.rank = item.value("rank", 0);
    rank.node = item.value("node", 0);
    rank.pid = item.value("pid", 0);
    rank.start_ticks = item.value("start_ticks", uint64_t{0});
    ranks.push_back(rank);
  }
  return ranks;
}

json RecordToJson(const JobRecord& record) {
  return json{{"job_id", record.job_id},           {"name", record.name},
              {"username", record.username},       {"status", JobStatusName(record.status)},
              {"priority", record.priority},       {"num_nodes", record.num_nodes},
              {"resources", record.resources},     {"submitted_at", record.submitted_at},
              {"start_at", record.start_at},       {"end_at", record.end_at},
              {"exit_code", record.exit_code},     {"log_dir", record.log_dir},
              {"ranks", RanksToJson(record.ranks)}};
}

JobRecord RecordFromJson(const json& value) {
  JobRecord record;
  record.job_id = value.value("job_id", int64_t{0});
  record.name = value.value("name", "");
  record.username = value.value("username", "");
  std::string status = value.value("status", "INIT");
  auto parsed = ParseJobStatus(status);
  if (!parsed)
    throw InternalError(fmt::format("the agent reported an unknown job state '{}'", status));
  record.status = *parsed;
  record.priority = value.value("priority", 0);
  record.num_nodes = value.value("num_nodes", 1);
  record.resources = value.value("resources", "");
  record.submitted_at = value.value("submitted_at", 0.0);
  record.start_at = value.value("start_at", 0.0);
  record.end_at = value.value("end_at", 0.0);
  record.exit_code = value.value("exit_code", -1);
  record.log_dir = value.value("log_dir", "");
  if (value.contains("ranks")) record.ranks = RanksFromJson(value["ranks"]);
  return record;
}

namespace {

void AppendJsonString(std::string& out, const std::string& text) {
  out.push_back('"');
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      out += fmt::format("\\u{:04x}", byte);
    } else {
      out.push_back(c);  // strings reached the agent as valid UTF-8 JSON
    }
  }
  out.push_back('"');
}

constexpr const char* kQueueColumns =
    R"(["job_id","name","username","status","priority","num_nodes","resources",)"
    R"("submitted_at","start_at","end_at","exit_code","log_dir","ranks"])";

}  // namespace

std::string QueueRowsJson(const std::map<int64_t, JobRecord>& records, bool include_finished) {
  std::string out = fmt::format(R"({{"v":{},"ok":true,"columns":{},"rows":[)",
                                kAgentProtocolVersion, kQueueColumns);
  out.reserve(out.size() + records.size() * 160);
  bool first = true;
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    const JobRecord& record = it->second;
    if (!include_finished && IsTerminal(record.status)) continue;
    out += first ? "[" : ",[";
    first = false;
    out += fmt::format("{},", record.job_id);
    AppendJsonString(out, record.name);
    out.push_back(',');
    AppendJsonString(out, record.username);
    out += fmt::format(R"(,"{}",{},{},)", JobStatusName(record.status), record.priority,
                       record.num_nodes);
    AppendJsonString(out, record.resources);
    out += fmt::format(",{},{},{},{},", record.submitted_at, record.start_at, record.end_at,
                       record.exit_code);
    AppendJsonString(out, record.log_dir);
    out += ",[";
    for (size_t rank = 0; rank < record.ranks.size(); ++rank) {
      const RankProcess& process = record.ranks[rank];
      out += fmt::format("{}[{},{},{},{}]", rank ? "," : "", process.rank, process.node,
                         process.pid, process.start_ticks);
    }
    out += "]]";
  }
  out += "]}\n";
  return out;
}

std::vector<JobRecord> RecordsFromQueueRows(const json& reply) {
  std::vector<JobRecord> records;
  const json& rows = reply.at("rows");
  records.reserve(rows.size());
  for (const json& row : rows) {
    JobRecord record;
    record.job_id = row.at(0).get<int64_t>();
    record.name = row.at(1).get<std::string>();
    record.username = row.at(2).get<std::string>();
    record.status = ParseJobStatus(row.at(3).get<std::string>()).value_or(JobStatus::kFailedDriver);
    record.priority = row.at(4).get<int>();
    record.num_nodes = row.at(5).get<int>();
    record.resources = row.at(6).get<std::string>();
    record.submitted_at = row.at(7).get<double>();
    record.start_at = row.at(8).get<double>();
    record.end_at = row.at(9).get<double>();
    record.exit_code = row.at(10).get<int>();
    record.log_dir = row.at(11).get<std::string>();
    for (const json& process : row.at(12)) {
      record.ranks.push_back(RankProcess{process.at(0).get<int>(), process.at(1).get<int>(),
                                         process.at(2).get<int>(), process.at(3).get<uint64_t>()});
    }
    records.push_back(std::move(record));
  }
  return records;
}

json AutostopToJson(const AutostopStatus& status) {
  return json{{"idle_minutes", status.idle_minutes}, {"down", status.down},
              {"wait_for", status.wait_for},         {"is_idle", status.is_idle},
              {"idle_since", status.idle_since},     {"idle_for_s", status.idle_for_s},
              {"triggered", status.triggered}};
}

AutostopStatus AutostopFromJson(const json& value) {
  AutostopStatus status;
  status.idle_minutes = value.value("idle_minutes", -1);
  status.down = value.value("down", false);
  status.wait_for = value.value("wait_for", "jobs");
  status.is_idle = value.value("is_idle", false);
  status.idle_since = value.value("idle_since", 0.0);
  status.idle_for_s = value.value("idle_for_s", 0.0);
  status.triggered = value.value("triggered", false);
  return status;
}

std::string DumpLine(const json& value) {
  std::string line = value.dump(-1, ' ', false, json::error_handler_t::replace);
  line.push_back('\n');
  return line;
}

size_t Utf8CompletePrefix(std::string_view bytes) noexcept {
  size_t size = bytes.size();
  // Look back at most 3 bytes for the lead byte of the last character.
  for (size_t back = 1; back <= 3 && back <= size; ++back) {
    auto byte = static_cast<unsigned char>(bytes[size - back]);
    if ((byte & 0xC0) == 0x80) continue;  // a continuation byte: keep looking
    size_t length = (byte & 0x80) == 0      ? 1
                    : (byte & 0xE0) == 0xC0 ? 2
                    : (byte & 0xF0) == 0xE0 ? 3
                    : (byte & 0xF8) == 0xF0 ? 4
                                            : 1;  // invalid: let the replacer handle it
    return length > back ? size - back : size;
  }
  return size;
}

json ErrorToJson(const Error& error) {
  return json{{"code", ErrorCodeName(error.code())}, {"message", error.message()}};
}

void ThrowReportedError(const json& error) {
  std::string code = error.value("code", "Internal");
  std::string message = error.value("message", "the agent reported an error without a message");
  if (code == "InvalidTask") throw InvalidTaskError(message);
  if (code == "ResourcesUnavailable") throw ResourcesUnavailableError(message);
  if (code == "NotSupported") throw NotSupportedError(message);
  if (code == "JobNotFound") throw JobNotFoundError(message);
  if (code == "Command") throw CommandError(message);
  if (code == "Io") throw IoError(message);
  if (code == "State") throw StateError(message);
  if (code == "Network") throw NetworkError(message);
  if (code == "Cancelled") throw CancelledError(message);
  throw InternalError(message);
}

json OkReply() { return json{{"v", kAgentProtocolVersion}, {"ok", true}}; }

json ErrorReply(const Error& error) {
  return json{{"v", kAgentProtocolVersion}, {"ok", false}, {"error", ErrorToJson(error)}};
}

}  // namespace skycore::agent
