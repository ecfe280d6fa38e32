// Many `sky` processes at once: 20 forked processes write to one state
// database concurrently (including the same cluster row); no "database is
// locked" error may escape and every write must be accounted for.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <set>
#include <thread>

#include "skycore/state.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;

constexpr int kProcesses = 20;
constexpr int kIterations = 25;

// One process's share: its own clusters and requests, plus the shared cluster.
int WriteFromChild(const fs::path& dir, int process) {
  try {
    StateStoreOptions options;
    options.state_dir = dir;
    auto store = OpenSqliteStateStore(options);
    const std::string prefix = "p" + std::to_string(process);
    for (int i = 0; i < kIterations; ++i) {
      ClusterUpdate update;
      update.name = prefix + "-c" + std::to_string(i % 3);
      update.ready = i % 2 == 1;
      update.handle = {{"process", process}, {"iteration", i}};
      store->AddOrUpdateCluster(update);
      store->SetClusterStatus(update.name,
                              i % 4 == 3 ? ClusterStatus::kStopped : ClusterStatus::kUp);

      ClusterUpdate shared;
      shared.name = "shared";
      shared.ready = true;
      shared.is_launch = false;
      store->AddOrUpdateCluster(shared);
      store->SetClusterAutostop("shared", process, false);

      RequestRecord request;
      request.request_id = prefix + "-r" + std::to_string(i);
      request.name = "exec";
      request.cluster_name = update.name;
      store->CreateRequest(request);
      RequestUpdate done;
      done.status = RequestStatus::kSucceeded;
      done.pid = static_cast<int>(::getpid());
      done.return_value = i;
      store->UpdateRequest(request.request_id, done);

      store->ListClusters();  // readers run alongside the writers
    }
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "process %d: %s\n", process, error.what());
    return 1;
  }
}

TEST(StateConcurrency, TwentyProcessesWriteWithoutLossOrLockErrors) {
  char pattern[] = "/tmp/skycore_concurrency_XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const fs::path dir = pattern;

  // All start on a database that does not exist yet: creation races too.
  std::vector<pid_t> children;
  for (int p = 0; p < kProcesses; ++p) {
    pid_t pid = ::fork();
    if (pid == 0) ::_exit(WriteFromChild(dir, p));
    ASSERT_GT(pid, 0);
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "a writer failed (its error is on stderr)";
  }

  StateStoreOptions options;
  options.state_dir = dir;
  auto store = OpenSqliteStateStore(options);

  auto requests = store->ListRequests();
  EXPECT_EQ(requests.size(), static_cast<size_t>(kProcesses * kIterations));
  std::set<std::string> ids;
  for (const auto& request : requests) {
    ids.insert(request.request_id);
    EXPECT_EQ(request.status, RequestStatus::kSucceeded) << request.request_id;
    EXPECT_TRUE(request.finished_at_s.has_value());
  }
  EXPECT_EQ(ids.size(), requests.size());

  // 3 own clusters per process plus one shared cluster — one, not twenty.
  auto clusters = store->ListClusters();
  EXPECT_EQ(clusters.size(), static_cast<size_t>(kProcesses * 3 + 1));
  for (int p = 0; p < kProcesses; ++p) {
    // The last iteration wrote handle.iteration = kIterations - 1 to one cluster.
    auto last =
        store->GetCluster("p" + std::to_string(p) + "-c" + std::to_string((kIterations - 1) % 3));
    ASSERT_TRUE(last.has_value());
    EXPECT_EQ(last->handle["iteration"], kIterations - 1);
  }
  HistoryFilter shared_only;
  shared_only.name_patterns = {"shared"};
  auto shared = store->ListClusterHistory(shared_only);
  ASSERT_EQ(shared.size(), 1u);
  EXPECT_EQ(shared[0].usage_intervals.size(), 1u);

  store.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(StateConcurrency, ThreadsShareOneStore) {
  char pattern[] = "/tmp/skycore_threads_XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const fs::path dir = pattern;
  StateStoreOptions options;
  options.state_dir = dir;
  auto store = OpenSqliteStateStore(options);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&store, t] {
      for (int i = 0; i < 50; ++i) {
        RequestRecord request;
        request.request_id = fmt::format("t{}-{}", t, i);
        request.name = "status";
        store->CreateRequest(request);
        store->ListRequests({{}, "", 5});
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(store->ListRequests().size(), 200u);
  store.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

TEST(StateConcurrency, AWriterHeldPastTheBusyTimeoutIsAStateError) {
  char pattern[] = "/tmp/skycore_busy_XXXXXX";
  ASSERT_NE(::mkdtemp(pattern), nullptr);
  const fs::path dir = pattern;
  StateStoreOptions options;
  options.state_dir = dir;
  options.busy_timeout = std::chrono::milliseconds(100);
  auto store = OpenSqliteStateStore(options);
  ClusterUpdate update;
  update.name = "dev";
  store->AddOrUpdateCluster(update);

  // Another program holds the write lock and does not let go.
  sqlite3* holder = nullptr;
  ASSERT_EQ(sqlite3_open((dir / "state.db").c_str(), &holder), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(holder, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK);
  try {
    store->SetClusterStatus("dev", ClusterStatus::kUp);
    ADD_FAILURE() << "the write went through while another writer held the lock";
  } catch (const StateError& error) {
    EXPECT_NE(std::string(error.what()).find("locked by another sky process"), std::string::npos)
        << error.what();
  }
  // Readers are not blocked by a writer (WAL).
  EXPECT_EQ(store->GetCluster("dev")->status, ClusterStatus::kInit);
  sqlite3_exec(holder, "ROLLBACK", nullptr, nullptr, nullptr);
  sqlite3_close(holder);
  store->SetClusterStatus("dev", ClusterStatus::kUp);
  EXPECT_EQ(store->GetCluster("dev")->status, ClusterStatus::kUp);
  store.reset();
  std::error_code ec;
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace skycore
