// SDK requests in the SQLite state store.
#include <fmt/format.h>

#include "state/sqlite_store.h"

namespace skycore::state_internal {

namespace {

constexpr const char* kSelectRequest =
    "SELECT request_id, name, cluster_name, user_name, body, status, status_msg, created_at, "
    "finished_at, pid, return_value, error FROM requests";

std::string JsonText(const nlohmann::json& value) {
  return value.is_null() ? std::string() : value.dump();
}

}  // namespace

std::optional<RequestRecord> SqliteStateStore::GetRequestLocked(const std::string& request_id) {
  auto query = db_.Prepare(std::string(kSelectRequest) + " WHERE request_id = ?");
  query.Bind(1, request_id);
  if (!query.Step()) return std::nullopt;
  return ReadRequest(query);
}

RequestRecord SqliteStateStore::ReadRequest(const Query& query) const {
  RequestRecord record;
  record.request_id = query.Text(0);
  record.name = query.Text(1);
  record.cluster_name = query.Text(2);
  record.user = query.Text(3);
  record.body = ParseJson(query.Text(4), "requests.body");
  auto status = ParseRequestStatus(query.Text(5));
  if (!status) {
    throw StateError(CorruptDatabaseMessage(
        db_.path(), fmt::format("request '{}' has status '{}'", record.request_id, query.Text(5))));
  }
  record.status = *status;
  record.status_msg = query.Text(6);
  record.created_at_s = query.Double(7);
  record.finished_at_s = query.OptionalDouble(8);
  if (auto pid = query.OptionalInt(9)) record.pid = static_cast<int>(*pid);
  record.return_value = ParseJson(query.Text(10), "requests.return_value");
  record.error = ParseJson(query.Text(11), "requests.error");
  return record;
}

RequestRecord SqliteStateStore::CreateRequest(const RequestRecord& request) {
  if (request.request_id.empty()) throw StateError("CreateRequest: the request id is empty.");
  std::lock_guard lock(mutex_);
  return db_.Write([&] {
    if (GetRequestLocked(request.request_id)) {
      throw StateError(fmt::format("A request with id '{}' already exists.", request.request_id));
    }
    RequestRecord stored = request;
    stored.status = RequestStatus::kPending;
    stored.created_at_s = Now();
    stored.finished_at_s.reset();
    auto insert = db_.Prepare(
        "INSERT INTO requests (request_id, name, cluster_name, user_name, body, status, "
        "status_msg, created_at, pid, return_value, error) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    insert.Bind(1, stored.request_id)
        .Bind(2, stored.name)
        .Bind(3, stored.cluster_name)
        .Bind(4, stored.user)
        .Bind(5, JsonText(stored.body))
        .Bind(6, RequestStatusName(stored.status))
        .Bind(7, stored.status_msg)
        .Bind(8, stored.created_at_s)
        .Bind(9, stored.pid)
        .Bind(10, JsonText(stored.return_value))
        .Bind(11, JsonText(stored.error))
        .Run();
    return stored;
  });
}

std::optional<RequestRecord> SqliteStateStore::UpdateRequest(const std::string& request_id,
                                                             const RequestUpdate& update) {
  std::lock_guard lock(mutex_);
  return db_.Write([&]() -> std::optional<RequestRecord> {
    auto record = GetRequestLocked(request_id);
    if (!record || IsFinished(record->status)) return record;
    if (update.status) {
      record->status = *update.status;
      if (IsFinished(record->status)) record->finished_at_s = Now();
    }
    if (update.status_msg) record->status_msg = *update.status_msg;
    if (update.pid) record->pid = *update.pid;
    if (update.return_value) record->return_value = *update.return_value;
    if (update.error) record->error = *update.error;
    auto set = db_.Prepare(
        "UPDATE requests SET status = ?, status_msg = ?, finished_at = ?, pid = ?, "
        "return_value = ?, error = ? WHERE request_id = ?");
    set.Bind(1, RequestStatusName(record->status))
        .Bind(2, record->status_msg)
        .Bind(3, record->finished_at_s)
        .Bind(4, record->pid)
        .Bind(5, JsonText(record->return_value))
        .Bind(6, JsonText(record->error))
        .Bind(7, request_id)
        .Run();
    return record;
  });
}

std::optional<RequestRecord> SqliteStateStore::GetRequest(const std::string& request_id) {
  std::lock_guard lock(mutex_);
  return GetRequestLocked(request_id);
}

std::vector<RequestRecord> SqliteStateStore::ListRequests(const RequestFilter& filter) {
  std::string sql = kSelectRequest;
  std::vector<std::string> conditions;
  if (!filter.statuses.empty()) {
    std::string marks;
    for (size_t i = 0; i < filter.statuses.size(); ++i) marks += i == 0 ? "?" : ", ?";
    conditions.push_back("status IN (" + marks + ")");
  }
  if (!filter.cluster_name.empty()) conditions.push_back("cluster_name = ?");
  for (size_t i = 0; i < conditions.size(); ++i) {
    sql += (i == 0 ? " WHERE " : " AND ") + conditions[i];
  }
  sql += " ORDER BY created_at DESC, rowid DESC";
  if (filter.limit > 0) sql += " LIMIT ?";

  std::lock_guard lock(mutex_);
  auto query = db_.Prepare(sql);
  int index = 1;
  for (auto status : filter.statuses) query.Bind(index++, RequestStatusName(status));
  if (!filter.cluster_name.empty()) query.Bind(index++, filter.cluster_name);
  if (filter.limit > 0) query.Bind(index++, static_cast<int64_t>(filter.limit));
  std::vector<RequestRecord> records;
  while (query.Step()) records.push_back(ReadRequest(query));
  return records;
}

size_t SqliteStateStore::DeleteFinishedRequests(double finished_before_s) {
  std::lock_guard lock(mutex_);
  return db_.Write([&] {
    auto remove = db_.Prepare(
        "DELETE FROM requests WHERE finished_at IS NOT NULL AND finished_at < ? AND status IN "
        "('SUCCEEDED', 'FAILED', 'CANCELLED')");
    remove.Bind(1, finished_before_s).Run();
    return static_cast<size_t>(db_.Changes());
  });
}

}  // namespace skycore::state_internal
