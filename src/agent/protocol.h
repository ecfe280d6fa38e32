// The agent's JSON-lines protocol: one JSON object per line in each direction.
//
// Request:  {"v": 1, "op": "submit", ...op fields...}
// Reply:    {"v": 1, "ok": true, ...}  or  {"v": 1, "ok": false, "error":
//           {"code": "JobNotFound", "message": "..."}}
// A `tail` request is answered by {"v":1,"ok":true,"type":"log","data":"..."}
// lines and a final {"v":1,"ok":true,"type":"end","status":"SUCCEEDED"}.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "skycore/agent.h"
#include "skycore/error.h"

namespace skycore::agent {

using nlohmann::json;

json SpecToJson(const JobSpec& spec);
// Throws InvalidTaskError naming the field that is missing or of the wrong type.
JobSpec SpecFromJson(const json& value);

json RecordToJson(const JobRecord& record);
JobRecord RecordFromJson(const json& value);

// The `queue` reply's body, written directly (it is the one large message):
// {"columns": [...], "rows": [[job_id, name, ...], ...]}, newest job first.
std::string QueueRowsJson(const std::map<int64_t, JobRecord>& records, bool include_finished);
// The records of a `queue` reply body.
std::vector<JobRecord> RecordsFromQueueRows(const json& reply);

json RanksToJson(const std::vector<RankProcess>& ranks);
std::vector<RankProcess> RanksFromJson(const json& value);

json AutostopToJson(const AutostopStatus& status);
AutostopStatus AutostopFromJson(const json& value);

// One protocol line: compact JSON (invalid UTF-8 replaced) and '\n'.
std::string DumpLine(const json& value);

// The length of the longest prefix of `bytes` that does not end inside a
// multi-byte UTF-8 character, so that log chunks split on character borders.
size_t Utf8CompletePrefix(std::string_view bytes) noexcept;

json ErrorToJson(const Error& error);
// Rethrows the typed error an agent reported ({"code":..., "message":...}).
[[noreturn]] void ThrowReportedError(const json& error);

// A reply's common head.
json OkReply();
json ErrorReply(const Error& error);

}  // namespace skycore::agent
