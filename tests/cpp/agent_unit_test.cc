// Agent internals without a daemon: the reservation book, log chunking, the
// job table's persistence and schema guard.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "agent/job_table.h"
#include "agent/node_spec.h"
#include "agent/protocol.h"
#include "skycore/error.h"
#include "temp_dir.h"

namespace skycore::agent {
namespace {

namespace fs = std::filesystem;

NodeSpec TwoNodes() {
  return ParseNodeSpec(
      R"({"cluster_name": "c", "nodes": [
          {"ip": "127.0.0.1", "workdir": "/tmp", "cpus": 4, "gpus": 2, "memory_gib": 8},
          {"ip": "127.0.0.2", "workdir": "/tmp", "cpus": 4, "gpu_ids": [5], "memory_gib": 8}]})");
}

TEST(AgentReservationTest, WholeAndFractionalGpus) {
  ReservationBook book(TwoNodes());
  JobSpec half;
  half.gpus_per_node = 0.5;
  auto first = book.TryReserve(half);
  auto second = book.TryReserve(half);
  ASSERT_TRUE(first && second);
  // Fractions pack onto the same GPU.
  EXPECT_EQ((*first)[0].gpus, (*second)[0].gpus);
  JobSpec two;
  two.gpus_per_node = 2;
  EXPECT_FALSE(book.TryReserve(two));  // GPU 0 is shared, so only GPU 1 is whole
  book.Release(*first);
  book.Release(*second);
  auto whole = book.TryReserve(two);
  ASSERT_TRUE(whole);
  EXPECT_EQ((*whole)[0].node, 0);
  EXPECT_EQ((*whole)[0].gpus.size(), 2u);
}

TEST(AgentReservationTest, MultiNodeNeedsDistinctNodes) {
  ReservationBook book(TwoNodes());
  JobSpec spec;
  spec.num_nodes = 2;
  spec.cpus_per_node = 3;
  spec.memory_gib_per_node = 8;
  auto both = book.TryReserve(spec);
  ASSERT_TRUE(both);
  EXPECT_EQ((*both)[0].node, 0);
  EXPECT_EQ((*both)[1].node, 1);
  EXPECT_FALSE(book.TryReserve(spec));
  ReservationBook empty(TwoNodes());
  spec.num_nodes = 3;
  EXPECT_TRUE(empty.NeverFits(spec));
  spec.num_nodes = 1;
  spec.memory_gib_per_node = 9;
  EXPECT_TRUE(empty.NeverFits(spec));
}

TEST(AgentNodeSpecTest, RejectsAMissingWorkdir) {
  try {
    ParseNodeSpec(R"({"nodes": [{"ip": "127.0.0.1"}]})");
    FAIL() << "accepted";
  } catch (const InvalidSkyPilotConfigError& error) {
    EXPECT_EQ(error.field_path(), "nodes[0].workdir");
  }
  EXPECT_THROW(ParseNodeSpec("/nonexistent/spec.json"), InvalidSkyPilotConfigError);
}

TEST(AgentProtocolTest, LogChunksEndOnCharacterBorders) {
  std::string text = "ab\xE2\x82\xAC";  // "ab€"
  EXPECT_EQ(Utf8CompletePrefix(text), text.size());
  EXPECT_EQ(Utf8CompletePrefix(text.substr(0, 4)), 2u);
  EXPECT_EQ(Utf8CompletePrefix(text.substr(0, 3)), 2u);
  EXPECT_EQ(Utf8CompletePrefix("plain"), 5u);
  // Invalid bytes are replaced, never thrown on.
  EXPECT_NO_THROW(DumpLine(json{{"data", std::string("\xFF\xFE")}}));
}

TEST(AgentProtocolTest, SpecRoundTripsAndRejectsWrongTypes) {
  JobSpec spec;
  spec.name = "n";
  spec.num_nodes = 3;
  spec.gpus_per_node = 0.25;
  spec.envs = {{"A", "1"}};
  spec.secrets = {{"S", "x"}};
  JobSpec back = SpecFromJson(SpecToJson(spec));
  EXPECT_EQ(back.name, "n");
  EXPECT_EQ(back.num_nodes, 3);
  EXPECT_DOUBLE_EQ(back.gpus_per_node, 0.25);
  EXPECT_EQ(back.secrets, spec.secrets);
  try {
    SpecFromJson(json{{"num_nodes", "two"}});
    FAIL() << "accepted";
  } catch (const InvalidTaskError& error) {
    EXPECT_EQ(error.field_path(), "num_nodes");
  }
}

TEST(AgentProtocolTest, QueueRowsRoundTrip) {
  std::map<int64_t, JobRecord> records;
  JobRecord older;
  older.job_id = 1;
  older.name = "quote\" back\\ tab\t ünï";
  older.status = JobStatus::kSucceeded;
  older.submitted_at = 1700000000.123456;
  older.exit_code = 0;
  older.ranks = {RankProcess{0, 1, 4321, 987654321}};
  JobRecord newer;
  newer.job_id = 2;
  newer.status = JobStatus::kPending;
  records = {{1, older}, {2, newer}};
  std::string body = QueueRowsJson(records, true);
  ASSERT_EQ(body.back(), '\n');
  auto parsed = RecordsFromQueueRows(json::parse(body));
  ASSERT_EQ(parsed.size(), 2u);
  EXPECT_EQ(parsed[0].job_id, 2);
  EXPECT_EQ(parsed[1].name, older.name);
  EXPECT_DOUBLE_EQ(parsed[1].submitted_at, older.submitted_at);
  EXPECT_EQ(parsed[1].ranks.at(0).pid, 4321);
  EXPECT_EQ(parsed[1].ranks.at(0).start_ticks, 987654321u);
  EXPECT_EQ(RecordsFromQueueRows(json::parse(QueueRowsJson(records, false))).size(), 1u);
}

TEST(AgentJobTableTest, PersistsJobsAndRefusesANewerSchema) {
  char pattern[] = "/tmp/skyagent_table_XXXXXX";
  fs::path dir = ::mkdtemp(pattern);
  std::string path = (dir / "jobs.db").string();
  {
    JobTable table(path);
    JobSpec spec;
    spec.name = "first";
    spec.secrets = {{"TOKEN", "t"}};
    int64_t id = table.Insert(spec, 1.5, "/logs/a");
    JobRecord record = table.LoadAll().at(0);
    EXPECT_EQ(record.job_id, id);
    EXPECT_EQ(record.status, JobStatus::kPending);
    record.status = JobStatus::kRunning;
    record.ranks = {RankProcess{0, 0, 1234, 99}};
    table.Update(record);
  }
  {
    JobTable reopened(path);
    JobRecord record = reopened.LoadAll().at(0);
    EXPECT_EQ(record.status, JobStatus::kRunning);
    EXPECT_EQ(record.ranks.at(0).pid, 1234);
    // Secrets were in the first table's memory only.
    EXPECT_EQ(reopened.LoadSpec(record.job_id).secrets.at("TOKEN"), kRedactedSecret);
    EXPECT_THROW(reopened.LoadSpec(record.job_id + 1), JobNotFoundError);
    reopened.SetMeta("schema_version", "99");
  }
  EXPECT_THROW(JobTable{path}, StateError);
  std::error_code ignored;
  fs::remove_all(dir, ignored);
}

std::string Bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every file of the table (database, WAL, shared memory) that holds `text`.
std::vector<std::string> TableFilesHolding(const std::string& path, const std::string& text) {
  std::vector<std::string> found;
  for (const char* suffix : {"", "-wal", "-shm"}) {
    if (Bytes(path + suffix).find(text) != std::string::npos) found.push_back(path + suffix);
  }
  return found;
}

fs::perms Mode(const fs::path& path) { return fs::status(path).permissions() & fs::perms::mask; }

TEST(AgentJobTableTest, SecretsStayInMemoryAndTheFilesArePrivate) {
  testing::TempDir dir("agent_secrets");
  const std::string path = (dir.path() / "jobs.db").string();
  const std::string secret = "s3cret-value-in-memory";
  JobSpec spec;
  spec.run = "echo $TOKEN";
  spec.envs = {{"PLAIN", "visible"}};
  spec.secrets = {{"TOKEN", secret}};
  {
    JobTable table(path);
    int64_t first = table.Insert(spec, 1, "/logs/a");
    int64_t second = table.Insert(spec, 2, "/logs/b");
    EXPECT_EQ(table.LoadSpec(first).secrets.at("TOKEN"), secret);
    EXPECT_FALSE(table.SecretsLost(table.LoadSpec(first), first));
    table.ForgetSecrets(first);
    EXPECT_EQ(table.LoadSpec(first).secrets.at("TOKEN"), kRedactedSecret);
    EXPECT_EQ(table.LoadSpec(second).secrets.at("TOKEN"), secret);
    EXPECT_EQ(table.LoadSpec(second).envs.at("PLAIN"), "visible");
    EXPECT_EQ(TableFilesHolding(path, secret), std::vector<std::string>{});
    EXPECT_FALSE(TableFilesHolding(path, "visible").empty());  // the check can see text
    for (const char* suffix : {"", "-wal", "-shm"}) {
      EXPECT_EQ(Mode(path + suffix), fs::perms::owner_read | fs::perms::owner_write) << suffix;
    }
  }
  JobTable reopened(path);
  const int64_t second = reopened.LoadAll().at(1).job_id;
  EXPECT_TRUE(reopened.SecretsLost(reopened.LoadSpec(second), second));
  JobSpec no_secrets;
  EXPECT_FALSE(reopened.SecretsLost(no_secrets, second));
}

TEST(AgentJobTableTest, AnOlderTableIsMadePrivateAndItsSecretsRedacted) {
  testing::TempDir dir("agent_upgrade");
  const std::string path = (dir.path() / "jobs.db").string();
  const std::string secret = "clear-text-from-an-older-agent";
  {
    JobTable table(path);
    JobSpec spec;
    spec.secrets = {{"TOKEN", "x"}};
    int64_t id = table.Insert(spec, 1, "/logs/a");
    // What an older agent wrote: the value in clear, and no redaction mark.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    spec.secrets = {{"TOKEN", secret}};
    const std::string sql = "UPDATE jobs SET spec = '" + SpecToJson(spec).dump() +
                            "' WHERE job_id = " + std::to_string(id) +
                            "; DELETE FROM meta WHERE key = 'secrets'";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  ASSERT_FALSE(TableFilesHolding(path, secret).empty());
  fs::permissions(path, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                            fs::perms::others_read);
  {
    JobTable upgraded(path);
    EXPECT_EQ(upgraded.LoadSpec(upgraded.LoadAll().at(0).job_id).secrets.at("TOKEN"),
              kRedactedSecret);
    EXPECT_EQ(TableFilesHolding(path, secret), std::vector<std::string>{});
  }
  EXPECT_EQ(Mode(path), fs::perms::owner_read | fs::perms::owner_write);
  EXPECT_EQ(TableFilesHolding(path, secret), std::vector<std::string>{});
}

}  // namespace
}  // namespace skycore::agent
