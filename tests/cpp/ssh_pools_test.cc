// SSH node pools: the pools-file parser, SSH config resolution, the runner's
// retry and error classification (with a fake ssh), the probe's parsing and
// the catalog rows. Real sshd hosts are exercised by tests/python/test_ssh_pools.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "backend/ssh_runner.h"
#include "infra/ssh/inventory.h"
#include "infra/ssh/node_pools.h"
#include "skycore/catalog.h"
#include "skycore/error.h"

namespace skycore::ssh {
namespace {

PoolsEnvironment TestEnv() { return {"/home/tester", "tester"}; }

std::vector<NodePool> Parse(std::string_view yaml, const SshConfig& config = {}) {
  return ParseNodePools(yaml, "pools.yaml", config, TestEnv());
}

TEST(SshNodePoolsTest, PlainAddressesTakePoolDefaults) {
  auto pools = Parse(R"(
my-cluster:
  user: root
  identity_file: ~/.ssh/id_rsa
  hosts:
    - 1.2.3.4
    - 1.2.3.5
other:
  hosts: [10.0.0.1]
)");
  ASSERT_EQ(pools.size(), 2u);
  EXPECT_EQ(pools[0].name, "my-cluster");
  ASSERT_EQ(pools[0].hosts.size(), 2u);
  const SshHost& host = pools[0].hosts[1];
  EXPECT_EQ(host.address, "1.2.3.5");
  EXPECT_EQ(host.user, "root");
  EXPECT_EQ(host.port, 22);
  EXPECT_EQ(host.identity_file, "/home/tester/.ssh/id_rsa");
  EXPECT_EQ(host.Display(), "root@1.2.3.5:22");
  // No user anywhere: the current user, as `ssh 10.0.0.1` would.
  EXPECT_EQ(pools[1].hosts[0].user, "tester");
  EXPECT_TRUE(pools[1].hosts[0].identity_file.empty());
}

TEST(SshNodePoolsTest, HostMappingsOverridePoolDefaults) {
  auto pools = Parse(R"(
my-cluster:
  user: root
  identity_file: /keys/pool
  password:
  hosts:
    - ip: 1.2.3.4
      user: alice
      identity_file: alice-key
      password: secret
    - ip: 5.6.7.8
)");
  const auto& hosts = pools.at(0).hosts;
  EXPECT_EQ(hosts[0].user, "alice");
  EXPECT_EQ(hosts[0].identity_file, "alice-key");
  EXPECT_TRUE(hosts[0].has_password);
  EXPECT_EQ(hosts[1].user, "root");
  EXPECT_EQ(hosts[1].identity_file, "/keys/pool");
  EXPECT_FALSE(hosts[1].has_password);  // an empty `password:` is none
}

TEST(SshNodePoolsTest, AliasesFromTheSshConfig) {
  const SshConfig config = SshConfig::Parse(R"(
# a comment
Host gpu-box other-box
    HostName 127.0.0.3
    Port 2222
    User ubuntu
    IdentityFile ~/.ssh/box_key
Host *
    User everyone
    IdentityFile /keys/default
Host gpu-box
    HostName ignored.example.com
)");
  EXPECT_TRUE(config.HasAlias("gpu-box"));
  EXPECT_FALSE(config.HasAlias("1.2.3.4"));  // only through `Host *`
  auto pools = Parse(R"(
p:
  user: root
  hosts: [gpu-box, 1.2.3.4, {ip: gpu-box, user: admin}]
)",
                     config);
  const auto& hosts = pools.at(0).hosts;
  // The alias: its block's values win over the pool's; the first value wins.
  EXPECT_EQ(hosts[0].name, "gpu-box");
  EXPECT_EQ(hosts[0].address, "127.0.0.3");
  EXPECT_EQ(hosts[0].port, 2222);
  EXPECT_EQ(hosts[0].user, "ubuntu");
  EXPECT_EQ(hosts[0].identity_file, "/home/tester/.ssh/box_key");
  EXPECT_TRUE(hosts[0].from_ssh_config);
  // A plain address: the pool's user beats `Host *`, whose key still applies.
  EXPECT_EQ(hosts[1].address, "1.2.3.4");
  EXPECT_EQ(hosts[1].user, "root");
  EXPECT_EQ(hosts[1].identity_file, "/keys/default");
  EXPECT_FALSE(hosts[1].from_ssh_config);
  // A mapping's own field beats the alias's.
  EXPECT_EQ(hosts[2].user, "admin");
  EXPECT_EQ(hosts[2].address, "127.0.0.3");
}

TEST(SshNodePoolsTest, SshConfigSyntaxVariants) {
  const SshConfig config = SshConfig::Parse(
      "User first\n"
      "Host a\n  hostname=10.0.0.1\n  PORT = 2200\n"
      "Match user bob\n  HostName never.example.com\n"
      "Host web-? !web-9\n  HostName \"10.9.9.9\"\n");
  EXPECT_EQ(config.Lookup("a").hostname, "10.0.0.1");
  EXPECT_EQ(config.Lookup("a").port, 2200);
  EXPECT_EQ(config.Lookup("a").user, "first");  // lines before any Host apply to all
  EXPECT_EQ(config.Lookup("web-1").hostname, "10.9.9.9");
  EXPECT_FALSE(config.Lookup("web-9").hostname.has_value());
  EXPECT_FALSE(config.Lookup("zzz").hostname.has_value());
}

TEST(SshNodePoolsTest, EmptyFileHasNoPools) {
  EXPECT_TRUE(Parse("").empty());
  EXPECT_TRUE(Parse("# only a comment\n").empty());
}

// Parses `yaml`, expecting InvalidSkyPilotConfigError; returns it.
InvalidSkyPilotConfigError ParseError(std::string_view yaml) {
  try {
    Parse(yaml);
  } catch (const InvalidSkyPilotConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for:\n" << yaml;
  return InvalidSkyPilotConfigError("none");
}

TEST(SshNodePoolsTest, MisspeltPoolKeySuggestsTheField) {
  auto e = ParseError("p:\n  hosts: [1.2.3.4]\n  identity_fle: k\n");
  EXPECT_EQ(e.location().file, "pools.yaml");
  EXPECT_EQ(e.location().line, 3);
  EXPECT_EQ(e.field_path(), "p.identity_fle");
  ASSERT_FALSE(e.suggestions().empty());
  EXPECT_EQ(e.suggestions()[0], "identity_file");
  EXPECT_NE(std::string(e.what()).find("pools.yaml:3"), std::string::npos) << e.what();
}

TEST(SshNodePoolsTest, MisspeltHostKeyNamesTheHost) {
  auto e = ParseError("p:\n  hosts:\n    - ip: 1.2.3.4\n      usr: bob\n");
  EXPECT_EQ(e.location().line, 4);
  EXPECT_EQ(e.field_path(), "p.hosts[0].usr");
  ASSERT_FALSE(e.suggestions().empty());
  EXPECT_EQ(e.suggestions()[0], "user");
}

TEST(SshNodePoolsTest, StructuralErrors) {
  EXPECT_EQ(ParseError("- 1.2.3.4\n").location().line, 1);
  auto no_hosts = ParseError("p:\n  user: root\n");
  EXPECT_NE(no_hosts.message().find("no `hosts:`"), std::string::npos);
  auto not_list = ParseError("p:\n  hosts: 1.2.3.4\n");
  EXPECT_EQ(not_list.field_path(), "p.hosts");
  EXPECT_NE(not_list.message().find("a list of hosts"), std::string::npos);
  auto no_ip = ParseError("p:\n  hosts:\n    - user: bob\n");
  EXPECT_EQ(no_ip.field_path(), "p.hosts[0]");
  EXPECT_EQ(no_ip.location().line, 3);
  auto bad_user = ParseError("p:\n  hosts: [h]\n  user: [a, b]\n");
  EXPECT_EQ(bad_user.field_path(), "p.user");
  auto duplicate = ParseError("p:\n  hosts: [a]\np:\n  hosts: [b]\n");
  EXPECT_EQ(duplicate.location().line, 3);
  auto yaml = ParseError("p:\n  hosts: [a\n");
  EXPECT_GT(yaml.location().line, 0);
  EXPECT_NE(yaml.message().find("invalid YAML"), std::string::npos);
}

TEST(SshNodePoolsTest, LoadNodePoolsOfAMissingFileIsEmpty) {
  EXPECT_TRUE(LoadNodePools("/nonexistent/ssh_node_pools.yaml", {}, TestEnv()).empty());
}

// ------------------------------------------------------------ runner

SshHost TestHost() {
  SshHost host;
  host.name = host.address = "127.0.0.2";
  host.user = "root";
  host.identity_file = "/keys/id";
  return host;
}

RunnerOptions TestOptions() {
  RunnerOptions options;
  options.known_hosts = "/state/ssh/known_hosts";
  options.control_dir = "/tmp/ctl";
  options.max_attempts = 3;
  options.initial_backoff_s = 0.25;
  return options;
}

// A fake ssh answering with the given results in turn.
struct FakeSsh {
  std::vector<subprocess::Result> answers;
  std::vector<std::vector<std::string>> calls;
  std::vector<double> sleeps;
  SpawnFunction Spawn() {
    return [this](const std::vector<std::string>& argv, double) {
      calls.push_back(argv);
      return answers.at(calls.size() - 1);
    };
  }
  SleepFunction Sleep() {
    return [this](double seconds) { sleeps.push_back(seconds); };
  }
};

subprocess::Result Exited(int code, std::string output) {
  subprocess::Result result;
  result.started = true;
  result.exit_code = code;
  result.output = std::move(output);
  return result;
}

TEST(SshRunnerTest, CommandLineIsSelfContained) {
  SshRunner runner(TestHost(), TestOptions());
  auto argv = runner.CommandLine("uname -sm");
  auto has = [&](const std::string& word) {
    return std::find(argv.begin(), argv.end(), word) != argv.end();
  };
  EXPECT_EQ(argv[0], "ssh");
  EXPECT_EQ(argv[1], "-F");
  EXPECT_EQ(argv[2], "/dev/null");
  EXPECT_TRUE(has("BatchMode=yes"));
  EXPECT_TRUE(has("StrictHostKeyChecking=accept-new"));
  EXPECT_TRUE(has("UserKnownHostsFile=/state/ssh/known_hosts"));
  EXPECT_TRUE(has("ControlMaster=auto"));
  EXPECT_TRUE(has("ControlPath=/tmp/ctl/%C"));
  EXPECT_TRUE(has("IdentitiesOnly=yes"));
  EXPECT_TRUE(has("/keys/id"));
  EXPECT_EQ(argv.back(), "uname -sm");
  EXPECT_EQ(argv[argv.size() - 3], "127.0.0.2");
}

TEST(SshRunnerTest, RetriesConnectionFailuresWithBackoff) {
  FakeSsh fake;
  fake.answers = {Exited(255, "ssh: connect to host 127.0.0.2 port 22: Connection refused\n"),
                  Exited(255, "kex_exchange_identification: Connection closed by remote host\n"),
                  Exited(0, "Linux x86_64\n")};
  SshRunner runner(TestHost(), TestOptions(), fake.Spawn(), fake.Sleep());
  SshResult result = runner.Run("uname -sm", 60);
  EXPECT_EQ(result.outcome, SshOutcome::kOk);
  EXPECT_EQ(result.attempts, 3);
  EXPECT_EQ(result.output, "Linux x86_64\n");
  EXPECT_EQ(fake.sleeps, (std::vector<double>{0.25, 0.5}));
}

TEST(SshRunnerTest, GivesUpAfterMaxAttemptsNamingTheHost) {
  FakeSsh fake;
  const auto refused = Exited(255, "ssh: connect to host 127.0.0.2 port 22: Connection refused\n");
  fake.answers = {refused, refused, refused, refused};
  SshRunner runner(TestHost(), TestOptions(), fake.Spawn(), fake.Sleep());
  SshResult result = runner.Run("true", 60);
  EXPECT_EQ(result.outcome, SshOutcome::kUnreachable);
  EXPECT_EQ(result.attempts, 3);
  EXPECT_NE(result.error.find("root@127.0.0.2:22"), std::string::npos) << result.error;
  EXPECT_NE(result.error.find("Connection refused"), std::string::npos) << result.error;
  FakeSsh again;
  again.answers = fake.answers;
  EXPECT_THROW(
      SshRunner(TestHost(), TestOptions(), again.Spawn(), again.Sleep()).RunOrThrow("x", 9),
      NetworkError);
}

TEST(SshRunnerTest, AuthFailureIsNotRetried) {
  FakeSsh fake;
  fake.answers = {Exited(255, "root@127.0.0.2: Permission denied (publickey).\n")};
  SshRunner runner(TestHost(), TestOptions(), fake.Spawn(), fake.Sleep());
  SshResult result = runner.Run("true", 60);
  EXPECT_EQ(result.outcome, SshOutcome::kAuthFailed);
  EXPECT_EQ(result.attempts, 1);
  EXPECT_EQ(result.error, "Permission denied (publickey) for root@127.0.0.2:22 with key /keys/id");
}

TEST(SshRunnerTest, CommandExitCodesPassThrough) {
  FakeSsh fake;
  fake.answers = {Exited(3, "oops\n")};
  SshRunner runner(TestHost(), TestOptions(), fake.Spawn(), fake.Sleep());
  SshResult result = runner.Run("exit 3", 60);
  EXPECT_EQ(result.outcome, SshOutcome::kOk);
  EXPECT_EQ(result.exit_code, 3);
  EXPECT_EQ(result.attempts, 1);
}

TEST(SshRunnerTest, HostKeyMismatchIsReported) {
  FakeSsh fake;
  fake.answers = {Exited(255,
                         "@@@ WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED! @@@\n"
                         "Host key verification failed.\n")};
  SshRunner runner(TestHost(), TestOptions(), fake.Spawn(), fake.Sleep());
  SshResult result = runner.Run("true", 60);
  EXPECT_EQ(result.outcome, SshOutcome::kHostKeyMismatch);
  EXPECT_NE(result.error.find("/state/ssh/known_hosts"), std::string::npos);
}

// ------------------------------------------------------------ inventory

TEST(SshInventoryTest, ParsesTheProbe) {
  HostInventory host;
  ParseProbeOutput(
      "os=Linux x86_64\ncpus=8\nmem_kib=16384000\n"
      "gpu=0, NVIDIA H100 80GB HBM3\ngpu=1, NVIDIA H100 80GB HBM3\nprobe=done\n",
      host);
  EXPECT_TRUE(host.ready()) << host.error;
  EXPECT_EQ(host.os, "Linux x86_64");
  EXPECT_EQ(host.cpus, 8);
  EXPECT_NEAR(host.memory_gib, 15.625, 1e-9);
  EXPECT_EQ(host.gpu_name, "H100");
  EXPECT_EQ(host.gpu_count, 2);
}

TEST(SshInventoryTest, SaysWhatIsMissing) {
  HostInventory no_nproc;
  ParseProbeOutput("os=Linux x86_64\ncpus=\nmem_kib=100\nprobe=done\n", no_nproc);
  EXPECT_NE(no_nproc.error.find("nproc"), std::string::npos);
  HostInventory cut;
  ParseProbeOutput("os=Linux x86_64\n", cut);
  EXPECT_NE(cut.error.find("did not finish"), std::string::npos);
}

TEST(SshInventoryTest, JsonRoundTripAndCatalogRows) {
  Inventory inventory;
  HostInventory ready;
  ready.pool = "gpus";
  ready.name = ready.address = "10.0.0.1";
  ready.user = "root";
  ready.reachable = ready.authenticated = true;
  ready.os = "Linux x86_64";
  ready.cpus = 8;
  ready.memory_gib = 31.9;
  ready.gpu_name = "H100";
  ready.gpu_count = 2;
  HostInventory down = ready;
  down.name = down.address = "10.0.0.2";
  down.error = "unreachable: cannot connect";
  inventory.hosts = {ready, down};
  const Inventory back = Inventory::FromJson(inventory.ToJson());
  ASSERT_EQ(back.hosts.size(), 2u);
  EXPECT_EQ(back.hosts[0].gpu_name, "H100");
  EXPECT_EQ(back.hosts[1].error, down.error);
  EXPECT_THROW(Inventory::FromJson({{"version", 99}, {"hosts", nlohmann::json::array()}}),
               StateError);

  Catalog catalog = Catalog::FromCsvText("ssh", InventoryCatalogCsv(inventory), "<test>");
  EXPECT_EQ(catalog.num_rows(), 3u);  // CPU-only, H100:1, H100:2 of the ready host
  const std::string report = DescribePools(inventory);
  EXPECT_NE(report.find("pool 'gpus': 1 of 2 hosts ready"), std::string::npos) << report;
  EXPECT_NE(report.find("root@10.0.0.2:22: unreachable"), std::string::npos) << report;
}

TEST(SshInventoryTest, SaveIsAtomicAndLoadRejectsGarbage) {
  const auto dir = std::filesystem::temp_directory_path() / "skycore_ssh_inventory_test";
  std::filesystem::remove_all(dir);
  const auto path = dir / "ssh" / "inventory.json";
  EXPECT_FALSE(LoadInventory(path).has_value());
  Inventory inventory;
  inventory.hosts.resize(1);
  inventory.hosts[0].pool = "p";
  SaveInventory(path, inventory);
  ASSERT_TRUE(LoadInventory(path).has_value());
  EXPECT_EQ(LoadInventory(path)->hosts.at(0).pool, "p");
  std::ofstream(path) << "{not json";
  EXPECT_FALSE(LoadInventory(path).has_value());
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace skycore::ssh
