// `catalog refresh` against a real HTTP server on loopback
// (tests/fixtures/catalog_server.py), including faults: a stalled server,
// HTTP 500, a truncated body, a cut last line and garbage. A good catalog in
// place must never be replaced by a bad download.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "skycore/catalog.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;

class CatalogServer {
 public:
  CatalogServer() {
    int fds[2];
    if (::pipe(fds) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(fds[1], 1);
      ::close(fds[0]);
      ::close(fds[1]);
      const std::string script =
          (fs::path(SKYCORE_SOURCE_DIR) / "tests" / "fixtures" / "catalog_server.py").string();
      ::execlp("python3", "python3", script.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    // Wait (with a deadline) for the port line.
    std::string line;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (line.find('\n') == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd pfd{fds[0], POLLIN, 0};
      if (::poll(&pfd, 1, 100) <= 0) continue;
      char buffer[64];
      ssize_t n = ::read(fds[0], buffer, sizeof buffer);
      if (n <= 0) break;
      line.append(buffer, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    port_ = std::atoi(line.c_str());
  }
  ~CatalogServer() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  int port() const { return port_; }
  std::string url(const std::string& mode) const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/" + mode;
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
};

class CatalogRefresh : public ::testing::Test {
 protected:
  void SetUp() override {
    char pattern[] = "/tmp/skycore_refresh_XXXXXX";
    state_ = ::mkdtemp(pattern);
    ASSERT_GT(server().port(), 0) << "the loopback catalog server did not start";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(state_, ec);
  }
  RefreshOptions Options(const std::string& mode) {
    RefreshOptions options;
    options.base_url = server().url(mode);
    options.state_dir = state_;
    options.infras = {"aws"};
    options.timeout_s = 2;  // bounds the stalled-server case
    options.low_speed_time_s = 1;
    options.attempts = 2;
    options.sleep = [this](double seconds) { slept_ += seconds; };
    return options;
  }
  std::string CatalogText() {
    std::ifstream stream(state_ / "catalogs" / "v7" / "aws" / "vms.csv", std::ios::binary);
    std::stringstream buffer;
    buffer << stream.rdbuf();
    return buffer.str();
  }

  // Started on first use and stopped at exit, shared by the tests of this suite.
  static CatalogServer& server() {
    static CatalogServer instance;
    return instance;
  }
  fs::path state_;
  double slept_ = 0;
};

TEST_F(CatalogRefresh, DownloadsThenUsesConditionalRequests) {
  auto results = RefreshCatalogs(Options("good"));
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status, RefreshResult::Status::kUpdated) << results[0].message;
  EXPECT_EQ(results[0].rows, 2u);
  CatalogPaths paths;
  paths.state_dir = state_;
  Catalog catalog = Catalog::Load(paths);
  ASSERT_EQ(catalog.Rows("aws").size(), 2u);
  EXPECT_TRUE(fs::exists(state_ / "catalogs" / "v7" / "aws" / "vms.csv.meta.json"));
  // Same ETag: 304, file untouched.
  results = RefreshCatalogs(Options("good"));
  EXPECT_EQ(results[0].status, RefreshResult::Status::kNotModified) << results[0].message;
  EXPECT_EQ(results[0].rows, 2u);
}

TEST_F(CatalogRefresh, RetriesWithBackoffAfterA503) {
  auto results = RefreshCatalogs(Options("flaky"));
  EXPECT_EQ(results[0].status, RefreshResult::Status::kUpdated) << results[0].message;
  EXPECT_DOUBLE_EQ(slept_, 0.5);
}

TEST_F(CatalogRefresh, FaultsNeverReplaceAGoodCatalog) {
  ASSERT_EQ(RefreshCatalogs(Options("good"))[0].status, RefreshResult::Status::kUpdated);
  const std::string good = CatalogText();
  ASSERT_FALSE(good.empty());
  for (const char* mode : {"error500", "truncated", "cutline", "garbage", "stall", "missing"}) {
    SCOPED_TRACE(mode);
    // Drop the ETag so that the faulty server is really asked for a body.
    fs::remove(state_ / "catalogs" / "v7" / "aws" / "vms.csv.meta.json");
    auto start = std::chrono::steady_clock::now();
    auto results = RefreshCatalogs(Options(mode));
    auto elapsed = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(results[0].status, RefreshResult::Status::kFailed) << results[0].message;
    EXPECT_FALSE(results[0].message.empty());
    EXPECT_EQ(CatalogText(), good);
    EXPECT_LT(elapsed, std::chrono::seconds(10));

    for (const auto& entry : fs::directory_iterator(state_ / "catalogs" / "v7" / "aws")) {
      EXPECT_EQ(entry.path().filename().string().find(".tmp"), std::string::npos)
          << "left behind: " << entry.path();
    }
  }
}

TEST_F(CatalogRefresh, AnUnreachableServerFailsCleanly) {
  RefreshOptions options = Options("good");
  options.base_url = "http://127.0.0.1:1";
  options.attempts = 3;
  auto results = RefreshCatalogs(options);
  EXPECT_EQ(results[0].status, RefreshResult::Status::kFailed);
  EXPECT_DOUBLE_EQ(slept_, 0.5 + 1.0);
  EXPECT_FALSE(fs::exists(state_ / "catalogs" / "v7" / "aws" / "vms.csv"));
}

}  // namespace
}  // namespace skycore
