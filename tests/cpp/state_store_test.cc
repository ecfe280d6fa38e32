// The SQLite state store's behaviour: clusters, usage history, requests, with
// a fake clock so that times are exact.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "skycore/state.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;

class StateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/skycore_state_XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    dir_ = pattern;
    store_ = Open();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::unique_ptr<StateStore> Open() {
    StateStoreOptions options;
    options.state_dir = dir_;
    options.clock = [this] { return now_; };
    return OpenSqliteStateStore(options);
  }
  ClusterRecord Launch(const std::string& name, bool ready, bool is_launch = true) {
    ClusterUpdate update;
    update.name = name;
    update.ready = ready;
    update.is_launch = is_launch;
    update.handle = {{"infra", "local"}, {"head_ip", "127.0.0.1"}};
    update.launched_resources = {{"cpus", "4+"}, {"infra", "local"}};
    update.num_nodes = 2;
    update.last_use = "sky launch -c " + name;
    update.owner = "alice";
    return store_->AddOrUpdateCluster(update);
  }

  fs::path dir_;
  double now_ = 1'700'000'000.0;
  std::unique_ptr<StateStore> store_;
};

fs::perms Mode(const fs::path& path) { return fs::status(path).permissions() & fs::perms::mask; }

TEST_F(StateStoreTest, TheStateIsPrivateAndAnOlderOneIsTightened) {
  constexpr auto kDir = fs::perms::owner_all;
  constexpr auto kFile = fs::perms::owner_read | fs::perms::owner_write;
  Launch("dev", true);
  EXPECT_EQ(Mode(dir_), kDir);
  for (const char* file : {"state.db", "state.db-wal", "state.db-shm"}) {
    EXPECT_EQ(Mode(dir_ / file), kFile) << file;
  }
  auto lock = ClusterLock::TryAcquire(dir_, "dev");
  ASSERT_TRUE(lock.has_value());
  EXPECT_EQ(Mode(dir_ / "locks"), kDir);
  EXPECT_EQ(Mode(ClusterLock::LockPath(dir_, "dev")), kFile);
  lock.reset();

  // What an older version left: a 0755 directory with a 0644 database.
  store_.reset();
  const auto loose = fs::perms::group_read | fs::perms::others_read;
  fs::permissions(dir_, kDir | loose | fs::perms::group_exec | fs::perms::others_exec);
  fs::permissions(dir_ / "state.db", kFile | loose);
  store_ = Open();
  EXPECT_EQ(Mode(dir_), kDir);
  EXPECT_EQ(Mode(dir_ / "state.db"), kFile);
  // A new state directory and its missing parents are created 0700.
  StateStoreOptions options;
  options.state_dir = dir_ / "new" / "state";
  auto fresh = OpenSqliteStateStore(options);
  EXPECT_EQ(Mode(dir_ / "new"), kDir);
  EXPECT_EQ(Mode(dir_ / "new" / "state"), kDir);
  EXPECT_EQ(Mode(dir_ / "new" / "state" / "state.db"), kFile);
}

TEST_F(StateStoreTest, NewClusterIsRecordedAsInitWithAnOpenUsageInterval) {
  ClusterRecord record = Launch("dev", /*ready=*/false);
  EXPECT_EQ(record.name, "dev");
  EXPECT_EQ(record.status, ClusterStatus::kInit);
  EXPECT_FALSE(record.cluster_hash.empty());
  EXPECT_EQ(record.handle["head_ip"], "127.0.0.1");
  EXPECT_EQ(record.launched_resources["cpus"], "4+");
  EXPECT_EQ(record.num_nodes, 2);
  EXPECT_EQ(record.launched_at_s, 1'700'000'000);
  EXPECT_EQ(record.last_use, "sky launch -c dev");
  EXPECT_EQ(record.owner, "alice");
  EXPECT_EQ(record.autostop_idle_minutes, -1);
  EXPECT_FALSE(record.ever_up);

  auto history = store_->ListClusterHistory();
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].cluster_hash, record.cluster_hash);
  EXPECT_EQ(history[0].status, ClusterStatus::kInit);
  ASSERT_EQ(history[0].usage_intervals.size(), 1u);
  EXPECT_EQ(history[0].usage_intervals[0].start_s, 1'700'000'000);
  EXPECT_FALSE(history[0].usage_intervals[0].end_s.has_value());
}

TEST_F(StateStoreTest, ReadyUpdateKeepsHashOwnerAndLaunchTimeWhenNotALaunch) {
  ClusterRecord first = Launch("dev", false);
  now_ += 60;
  ClusterUpdate update;
  update.name = "dev";
  update.ready = true;
  update.is_launch = false;
  update.handle = {{"head_ip", "10.0.0.1"}};
  update.owner = "mallory";
  ClusterRecord second = store_->AddOrUpdateCluster(update);
  EXPECT_EQ(second.status, ClusterStatus::kUp);
  EXPECT_EQ(second.cluster_hash, first.cluster_hash);
  EXPECT_EQ(second.owner, "alice");
  EXPECT_EQ(second.launched_at_s, first.launched_at_s);
  EXPECT_EQ(second.last_use, "sky launch -c dev");
  EXPECT_EQ(second.status_updated_at_s, first.launched_at_s + 60);
  EXPECT_EQ(second.handle["head_ip"], "10.0.0.1");
  EXPECT_TRUE(second.ever_up);
  // Still one lifetime with one open interval.
  auto history = store_->ListClusterHistory();
  ASSERT_EQ(history.size(), 1u);
  EXPECT_EQ(history[0].usage_intervals.size(), 1u);
}

TEST_F(StateStoreTest, RecordingAnUnchangedHandleLeavesAnUpClusterUp) {
  // A relaunch of an UP cluster whose backend only confirms the nodes and the
  // agent: exec and status running meanwhile must still see it UP.
  ClusterRecord up = Launch("dev", true);
  now_ += 60;
  ClusterUpdate confirm;
  confirm.name = "dev";
  // Same values, other key order and number types than the stored JSON text.
  confirm.handle = {{"head_ip", "127.0.0.1"}, {"infra", "local"}};
  confirm.launched_resources = {{"infra", "local"}, {"cpus", "4+"}};
  confirm.num_nodes = 2;
  ClusterRecord kept = store_->RecordClusterHandle(confirm);
  EXPECT_EQ(kept.status, ClusterStatus::kUp);
  EXPECT_EQ(kept.status_updated_at_s, up.status_updated_at_s);
  EXPECT_EQ(store_->GetCluster("dev")->status, ClusterStatus::kUp);

  // A handle that changed (a node replaced, an agent restarted): INIT until
  // the launch records it UP, keeping what only a launch sets.
  confirm.handle["head_ip"] = "10.0.0.9";
  ClusterRecord changed = store_->RecordClusterHandle(confirm);
  EXPECT_EQ(changed.status, ClusterStatus::kInit);
  EXPECT_EQ(changed.handle["head_ip"], "10.0.0.9");
  EXPECT_EQ(changed.launched_at_s, up.launched_at_s);
  EXPECT_EQ(changed.last_use, up.last_use);
  EXPECT_EQ(changed.cluster_hash, up.cluster_hash);
  EXPECT_TRUE(changed.ever_up);

  // Starting a STOPPED cluster makes it INIT even when its handle is the same.
  store_->SetClusterStatus("dev", ClusterStatus::kStopped);
  EXPECT_EQ(store_->RecordClusterHandle(confirm).status, ClusterStatus::kInit);
}

TEST_F(StateStoreTest, StopAndRestartRecordUsageIntervalsAndResetAutostop) {
  Launch("dev", true);
  store_->SetClusterAutostop("dev", 10, /*down=*/true);
  EXPECT_EQ(store_->GetCluster("dev")->autostop_idle_minutes, 10);
  EXPECT_TRUE(store_->GetCluster("dev")->autostop_down);

  // A relaunch of an UP cluster keeps its autostop.
  now_ += 100;
  Launch("dev", true);
  EXPECT_EQ(store_->GetCluster("dev")->autostop_idle_minutes, 10);

  now_ += 100;
  store_->SetClusterStatus("dev", ClusterStatus::kStopped);
  EXPECT_EQ(store_->GetCluster("dev")->status, ClusterStatus::kStopped);
  now_ += 1000;  // stopped time is not billed
  Launch("dev", true);
  ClusterRecord restarted = *store_->GetCluster("dev");
  EXPECT_EQ(restarted.autostop_idle_minutes, -1);
  EXPECT_FALSE(restarted.autostop_down);
  now_ += 50;

  auto history = store_->ListClusterHistory();
  ASSERT_EQ(history.size(), 1u);
  ASSERT_EQ(history[0].usage_intervals.size(), 2u);
  EXPECT_EQ(history[0].usage_intervals[0].end_s, history[0].usage_intervals[0].start_s + 200);
  EXPECT_FALSE(history[0].usage_intervals[1].end_s.has_value());
  EXPECT_EQ(history[0].duration_s(static_cast<int64_t>(now_)), 200 + 50);
  EXPECT_EQ(history[0].launched_at_s(), 1'700'000'000);
}

TEST_F(StateStoreTest, SetStatusLeavingStoppedOpensAnInterval) {
  Launch("dev", true);
  store_->SetClusterStatus("dev", ClusterStatus::kStopped);
  store_->SetClusterStatus("dev", ClusterStatus::kStopped);  // idempotent
  now_ += 10;
  store_->SetClusterStatus("dev", ClusterStatus::kInit);
  store_->SetClusterStatus("dev", ClusterStatus::kUp);
  auto history = store_->ListClusterHistory();
  ASSERT_EQ(history[0].usage_intervals.size(), 2u);
  EXPECT_EQ(history[0].usage_intervals[1].start_s, 1'700'000'010);
}

TEST_F(StateStoreTest, RemoveKeepsHistoryAndARelaunchIsANewLifetime) {
  ClusterRecord first = Launch("dev", true);
  now_ += 3600;
  EXPECT_TRUE(store_->RemoveCluster("dev"));
  EXPECT_FALSE(store_->GetCluster("dev").has_value());
  EXPECT_FALSE(store_->RemoveCluster("dev"));

  now_ += 10;
  ClusterRecord second = Launch("dev", false);
  EXPECT_NE(second.cluster_hash, first.cluster_hash);

  auto history = store_->ListClusterHistory();
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0].cluster_hash, second.cluster_hash);  // newest first
  EXPECT_EQ(history[0].status, ClusterStatus::kInit);
  EXPECT_EQ(history[1].cluster_hash, first.cluster_hash);
  EXPECT_FALSE(history[1].status.has_value());
  EXPECT_EQ(history[1].duration_s(static_cast<int64_t>(now_)), 3600);
  EXPECT_EQ(history[1].num_nodes, 2);
  EXPECT_EQ(history[1].launched_resources["infra"], "local");
  EXPECT_EQ(history[1].owner, "alice");
}

TEST_F(StateStoreTest, HistoryFilters) {
  Launch("old", true);
  now_ += 100;
  store_->RemoveCluster("old");
  now_ += 100;
  Launch("new", true);
  HistoryFilter since;
  since.used_since_s = static_cast<int64_t>(now_) - 50;
  auto recent = store_->ListClusterHistory(since);
  ASSERT_EQ(recent.size(), 1u);
  EXPECT_EQ(recent[0].name, "new");
  HistoryFilter named;
  named.name_patterns = {"ol?"};
  auto old = store_->ListClusterHistory(named);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(old[0].name, "old");
}

TEST_F(StateStoreTest, ListClustersFiltersByGlobAndStatusNewestFirst) {
  Launch("dev-1", true);
  now_ += 1;
  Launch("dev-2", false);
  now_ += 1;
  Launch("prod", true);
  now_ += 1;
  Launch("dev-3", true);
  store_->SetClusterStatus("dev-3", ClusterStatus::kStopped);

  auto names = [](const std::vector<ClusterRecord>& records) {
    std::vector<std::string> out;
    for (const auto& record : records) out.push_back(record.name);
    return out;
  };
  EXPECT_EQ(names(store_->ListClusters()),
            (std::vector<std::string>{"dev-3", "prod", "dev-2", "dev-1"}));
  EXPECT_EQ(names(store_->ListClusters({{"dev-*"}, {}})),
            (std::vector<std::string>{"dev-3", "dev-2", "dev-1"}));
  EXPECT_EQ(names(store_->ListClusters({{"prod", "dev-1"}, {}})),
            (std::vector<std::string>{"prod", "dev-1"}));
  EXPECT_EQ(names(store_->ListClusters({{"dev-[12]"}, {ClusterStatus::kUp}})),
            (std::vector<std::string>{"dev-1"}));
  EXPECT_EQ(names(store_->ListClusters({{}, {ClusterStatus::kStopped, ClusterStatus::kInit}})),
            (std::vector<std::string>{"dev-3", "dev-2"}));
  // GLOB is case-sensitive, like SkyPilot's.
  EXPECT_TRUE(store_->ListClusters({{"DEV-*"}, {}}).empty());
}

TEST_F(StateStoreTest, UnknownClusterErrorsNameTheCluster) {
  try {
    store_->SetClusterStatus("ghost", ClusterStatus::kUp);
    FAIL() << "expected ClusterDoesNotExist";
  } catch (const ClusterDoesNotExist& error) {
    EXPECT_NE(std::string(error.what()).find("'ghost'"), std::string::npos) << error.what();
  }
  EXPECT_THROW(store_->SetClusterAutostop("ghost", 5, false), ClusterDoesNotExist);
  EXPECT_THROW(store_->SetClusterLastUse("ghost", "sky exec"), ClusterDoesNotExist);
  EXPECT_FALSE(store_->GetCluster("ghost").has_value());
  EXPECT_THROW(store_->AddOrUpdateCluster(ClusterUpdate{}), StateError);
}

TEST_F(StateStoreTest, LastUseAndAutostopOff) {
  Launch("dev", true);
  store_->SetClusterLastUse("dev", "sky exec dev echo hi");
  store_->SetClusterAutostop("dev", -7, false);
  auto record = *store_->GetCluster("dev");
  EXPECT_EQ(record.last_use, "sky exec dev echo hi");
  EXPECT_EQ(record.autostop_idle_minutes, -1);
}

TEST_F(StateStoreTest, StatePersistsAcrossReopen) {
  ClusterRecord record = Launch("dev", true);
  store_.reset();
  store_ = Open();
  auto again = store_->GetCluster("dev");
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->cluster_hash, record.cluster_hash);
  EXPECT_EQ(again->handle, record.handle);
  EXPECT_TRUE(fs::exists(dir_ / "state.db"));
}

TEST_F(StateStoreTest, RequestLifeCycle) {
  RequestRecord request;
  request.request_id = "req-1";
  request.name = "launch";
  request.cluster_name = "dev";
  request.user = "alice";
  request.body = {{"cluster_name", "dev"}, {"detach_run", true}};
  request.status = RequestStatus::kSucceeded;  // ignored: new requests are PENDING
  RequestRecord created = store_->CreateRequest(request);
  EXPECT_EQ(created.status, RequestStatus::kPending);
  EXPECT_DOUBLE_EQ(created.created_at_s, now_);
  EXPECT_FALSE(created.finished_at_s.has_value());

  now_ += 1.5;
  RequestUpdate running;
  running.status = RequestStatus::kRunning;
  running.pid = 4242;
  running.status_msg = "provisioning";
  auto after = store_->UpdateRequest("req-1", running);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->status, RequestStatus::kRunning);
  EXPECT_EQ(after->pid, 4242);
  EXPECT_FALSE(after->finished_at_s.has_value());

  now_ += 2;
  RequestUpdate done;
  done.status = RequestStatus::kSucceeded;
  done.return_value = nlohmann::json{{"job_id", 1}};
  after = store_->UpdateRequest("req-1", done);
  EXPECT_EQ(after->status, RequestStatus::kSucceeded);
  EXPECT_DOUBLE_EQ(*after->finished_at_s, now_);

  // A cancel that arrives after completion changes nothing.
  RequestUpdate cancel;
  cancel.status = RequestStatus::kCancelled;
  cancel.status_msg = "cancelled by user";
  after = store_->UpdateRequest("req-1", cancel);
  EXPECT_EQ(after->status, RequestStatus::kSucceeded);

  auto stored = *store_->GetRequest("req-1");
  EXPECT_EQ(stored.status, RequestStatus::kSucceeded);
  EXPECT_EQ(stored.return_value["job_id"], 1);
  EXPECT_EQ(stored.body["detach_run"], true);
  EXPECT_EQ(stored.status_msg, "provisioning");
  EXPECT_EQ(stored.user, "alice");
  EXPECT_TRUE(stored.error.is_null());
}

TEST_F(StateStoreTest, RequestErrorsAndUnknownIds) {
  RequestRecord request;
  request.request_id = "req-1";
  request.name = "exec";
  store_->CreateRequest(request);
  EXPECT_THROW(store_->CreateRequest(request), StateError);
  EXPECT_FALSE(store_->GetRequest("nope").has_value());
  EXPECT_FALSE(store_->UpdateRequest("nope", RequestUpdate{}).has_value());

  RequestUpdate failed;
  failed.status = RequestStatus::kFailed;
  failed.error =
      RequestErrorJson(ClusterNotUpError("Cluster 'dev' is STOPPED."), "ClusterNotUpError");
  auto after = store_->UpdateRequest("req-1", failed);
  EXPECT_EQ(after->error["type"], "ClusterNotUpError");
  EXPECT_EQ(after->error["code"], "ClusterNotUp");
  EXPECT_EQ(after->error["message"], "Cluster 'dev' is STOPPED.");
}

TEST_F(StateStoreTest, ListAndDeleteRequests) {
  for (int i = 0; i < 5; ++i) {
    RequestRecord request;
    request.request_id = "req-" + std::to_string(i);
    request.name = "status";
    request.cluster_name = i % 2 == 0 ? "even" : "odd";
    store_->CreateRequest(request);
    now_ += 1;
  }
  RequestUpdate done;
  done.status = RequestStatus::kSucceeded;
  store_->UpdateRequest("req-0", done);
  store_->UpdateRequest("req-1", done);

  auto ids = [](const std::vector<RequestRecord>& records) {
    std::vector<std::string> out;
    for (const auto& record : records) out.push_back(record.request_id);
    return out;
  };
  EXPECT_EQ(ids(store_->ListRequests()),
            (std::vector<std::string>{"req-4", "req-3", "req-2", "req-1", "req-0"}));
  EXPECT_EQ(ids(store_->ListRequests({{RequestStatus::kPending}, "even", 0})),
            (std::vector<std::string>{"req-4", "req-2"}));
  EXPECT_EQ(ids(store_->ListRequests({{}, "", 2})), (std::vector<std::string>{"req-4", "req-3"}));

  EXPECT_EQ(store_->DeleteFinishedRequests(now_ + 1), 2u);
  EXPECT_EQ(store_->ListRequests().size(), 3u);
}

TEST(StateOptions, DefaultStateDirFollowsTheCatalogRule) {
  auto env = [](std::map<std::string, std::string> values) {
    return [values](const std::string& name) -> std::optional<std::string> {
      auto it = values.find(name);
      if (it == values.end()) return std::nullopt;
      return it->second;
    };
  };
  EXPECT_EQ(StateStoreOptions::DefaultStateDir(env({{"SKYCORE_STATE_DIR", "/s"}, {"HOME", "/h"}})),
            fs::path("/s"));
  EXPECT_EQ(StateStoreOptions::DefaultStateDir(env({{"HOME", "/h"}})), fs::path("/h/.sky"));
  EXPECT_EQ(StateStoreOptions::DefaultStateDir(env({})), fs::path());
  StateStoreOptions options;
  EXPECT_THROW(OpenSqliteStateStore(options), IoError);
}

TEST(StateNames, StatusNamesRoundTrip) {
  for (auto status : {ClusterStatus::kInit, ClusterStatus::kUp, ClusterStatus::kStopped}) {
    EXPECT_EQ(ParseClusterStatus(ClusterStatusName(status)), status);
  }
  for (auto status : {RequestStatus::kPending, RequestStatus::kRunning, RequestStatus::kSucceeded,
                      RequestStatus::kFailed, RequestStatus::kCancelled}) {
    EXPECT_EQ(ParseRequestStatus(RequestStatusName(status)), status);
  }
  EXPECT_FALSE(ParseClusterStatus("up").has_value());
  EXPECT_FALSE(IsFinished(RequestStatus::kRunning));
  EXPECT_TRUE(IsFinished(RequestStatus::kCancelled));
}

}  // namespace
}  // namespace skycore
