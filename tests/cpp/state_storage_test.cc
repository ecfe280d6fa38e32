// Storage records in the SQLite state store (`sky storage ls`).
#include <gtest/gtest.h>

#include "skycore/state.h"
#include "temp_dir.h"

namespace skycore {
namespace {

StorageRecord Record(const std::string& name, const std::string& source, bool persistent) {
  StorageRecord record;
  record.name = name;
  record.store = "S3";
  record.source = source;
  record.persistent = persistent;
  record.cluster_name = "c1";
  record.last_use = "sky launch -c c1 task.yaml";
  return record;
}

TEST(StateStorage, UpsertKeepsCreatedAtListsByNameAndRemoves) {
  testing::TempDir dir("storage_state");
  StateStoreOptions options;
  options.state_dir = dir.path();
  double now = 100;
  options.clock = [&now] { return now; };
  auto store = OpenSqliteStateStore(options);
  EXPECT_TRUE(store->ListStorage().empty());

  store->UpsertStorage(Record("zeta", "/src", false));
  store->UpsertStorage(Record("alpha", "/src", true));

  now = 200;
  const StorageRecord updated = store->UpsertStorage(Record("zeta", "/other", false));
  EXPECT_EQ(updated.created_at, 100);
  EXPECT_EQ(updated.updated_at, 200);
  EXPECT_EQ(updated.source, "/other");
  EXPECT_EQ(updated.status, "READY");

  const auto all = store->ListStorage();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alpha");
  EXPECT_TRUE(all[0].persistent);
  EXPECT_EQ(all[1].name, "zeta");
  EXPECT_EQ(all[1].cluster_name, "c1");

  EXPECT_TRUE(store->RemoveStorage("zeta"));
  EXPECT_FALSE(store->RemoveStorage("zeta"));
  EXPECT_EQ(store->ListStorage().size(), 1u);
}

TEST(StateStorage, AStatusSkyPilotDoesNotHaveIsRefused) {
  testing::TempDir dir("storage_state");
  StateStoreOptions options;
  options.state_dir = dir.path();
  auto store = OpenSqliteStateStore(options);
  StorageRecord record = Record("b", "", true);
  record.status = "DONE";
  EXPECT_THROW(store->UpsertStorage(record), Error);
}

}  // namespace
}  // namespace skycore
