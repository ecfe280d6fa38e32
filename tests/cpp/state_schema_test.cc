// The state database's schema checks: migrations forward, and a database that
// is newer, corrupt or not skycore's is rejected with a clear StateError and
// left byte-for-byte untouched.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "skycore/state.h"
#include "state/schema.h"
#include "state/sqlite_store.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;

std::string ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Runs SQL on a database directly, the way another program would.
void RawExec(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  char* message = nullptr;
  int rc = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &message);
  std::string text = message != nullptr ? message : "";
  sqlite3_free(message);
  sqlite3_close(db);
  ASSERT_EQ(rc, SQLITE_OK) << text;
}

std::string RawQuery(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  std::string out;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return out;
}

class StateSchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/skycore_schema_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    db_path_ = dir_ / "state.db";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  StateStoreOptions Options() const {
    StateStoreOptions options;
    options.state_dir = dir_;
    return options;
  }
  // Expects opening to fail with a StateError whose message has every needle,
  // and the database file to be unchanged.
  void ExpectRejectedUntouched(const std::vector<std::string>& needles) {
    const std::string before = ReadBytes(db_path_);
    try {
      auto store = OpenSqliteStateStore(Options());
      store->ListClusters();
      FAIL() << "expected StateError";
    } catch (const StateError& error) {
      for (const auto& needle : needles) {
        EXPECT_NE(std::string(error.what()).find(needle), std::string::npos)
            << "missing '" << needle << "' in: " << error.what();
      }
    }
    EXPECT_EQ(ReadBytes(db_path_), before) << "the rejected database was modified";
  }

  fs::path dir_;
  fs::path db_path_;
};

TEST_F(StateSchemaTest, FreshDatabaseIsAtTheCurrentVersionInWalMode) {
  OpenSqliteStateStore(Options());
  EXPECT_EQ(RawQuery(db_path_, "SELECT version FROM schema_version"),
            std::to_string(CurrentStateSchemaVersion()));
  EXPECT_EQ(RawQuery(db_path_, "PRAGMA journal_mode"), "wal");
}

TEST_F(StateSchemaTest, OlderDatabaseIsMigratedForwardKeepingItsData) {
  {
    state_internal::SqliteStateStore old_store(Options(), /*target_version=*/1);
    ClusterUpdate update;
    update.name = "dev";
    update.ready = true;
    old_store.AddOrUpdateCluster(update);
  }
  EXPECT_EQ(RawQuery(db_path_, "SELECT version FROM schema_version"), "1");
  EXPECT_EQ(RawQuery(db_path_, "SELECT count(*) FROM sqlite_master WHERE name = 'requests'"), "0");

  auto store = OpenSqliteStateStore(Options());
  EXPECT_EQ(RawQuery(db_path_, "SELECT version FROM schema_version"),
            std::to_string(state_internal::kCurrentSchemaVersion));
  EXPECT_EQ(RawQuery(db_path_, "SELECT count(*) FROM sqlite_master WHERE name = 'managed_jobs'"),
            "1");
  EXPECT_EQ(RawQuery(db_path_, "SELECT count(*) FROM sqlite_master WHERE name = 'storage'"), "1");
  ASSERT_TRUE(store->GetCluster("dev").has_value());
  EXPECT_EQ(store->GetCluster("dev")->status, ClusterStatus::kUp);
  RequestRecord request;
  request.request_id = "r";
  request.name = "status";
  EXPECT_EQ(store->CreateRequest(request).status, RequestStatus::kPending);
}

TEST_F(StateSchemaTest, NewerSchemaIsRejectedNamingTheVersion) {
  { OpenSqliteStateStore(Options()); }
  RawExec(db_path_, "UPDATE schema_version SET version = 99");
  ExpectRejectedUntouched(
      {"schema version 99", "newer skycore", "Upgrade skycore", db_path_.string(), "untouched"});
}

TEST_F(StateSchemaTest, GarbageFileIsRejectedAsCorrupt) {
  std::string garbage;
  for (int i = 0; i < 200; ++i) garbage += "this is not a sqlite database\n";
  std::ofstream(db_path_, std::ios::binary) << garbage;
  ExpectRejectedUntouched({"corrupt", db_path_.string(), "untouched", "mv "});
  EXPECT_EQ(ReadBytes(db_path_), garbage);
}

TEST_F(StateSchemaTest, DamagedPagesAreReportedAsCorrupt) {
  {
    auto store = OpenSqliteStateStore(Options());
    for (int i = 0; i < 50; ++i) {
      ClusterUpdate update;
      update.name = "cluster-" + std::to_string(i);
      update.handle = {{"padding", std::string(200, 'x')}};
      store->AddOrUpdateCluster(update);
    }
  }
  // Clobber everything after the first page (sqlite_master stays readable).
  std::string bytes = ReadBytes(db_path_);
  ASSERT_GT(bytes.size(), 8192u);
  for (size_t i = 4096; i < bytes.size(); ++i) bytes[i] = static_cast<char>(0xA5);
  std::ofstream(db_path_, std::ios::binary | std::ios::trunc) << bytes;
  ExpectRejectedUntouched({"corrupt", db_path_.string()});
}

TEST_F(StateSchemaTest, ForeignDatabaseIsRejected) {
  RawExec(db_path_, "CREATE TABLE clusters (name TEXT PRIMARY KEY, handle BLOB)");
  ExpectRejectedUntouched({"not created by skycore", "clusters", "SKYCORE_STATE_DIR"});
}

TEST_F(StateSchemaTest, UnwritableDirectoryIsAnIoError) {
  StateStoreOptions options;
  options.state_dir = dir_ / "file";
  std::ofstream(options.state_dir) << "x";
  EXPECT_THROW(OpenSqliteStateStore(options), IoError);
}

}  // namespace
}  // namespace skycore
