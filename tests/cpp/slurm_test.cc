// Slurm clusters: ~/.slurm/config and the `slurm:` section of config.yaml,
// sinfo parsing (with output captured from the test cluster of
// tests/python/slurm_fixture.py), probe failures (with a fake ssh), the
// inventory cache and the catalog rows. The real cluster is exercised by
// tests/python/test_slurm_inventory.py.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "infra/slurm/config.h"
#include "infra/slurm/inventory.h"
#include "skycore/catalog.h"
#include "skycore/error.h"

namespace skycore::slurm {
namespace {

namespace fs = std::filesystem;

ssh::PoolsEnvironment TestEnv() { return {"/home/tester", "tester"}; }

// `sinfo -h -N -O ...` (SinfoCommand) of the test cluster, Slurm 22.05.8:
// n1, n2 in `debug` (the default), n2 also in `cpu`; one job holding one H100
// of n2.
constexpr const char* kSinfoBusy =
    "n1|debug*|127.0.10.1|0/4/0/4|4000|gpu:h100:2|gpu:h100:0(IDX:N/A)|idle|\n"
    "n2|debug*|127.0.10.2|1/3/0/4|4000|gpu:h100:2|gpu:h100:1(IDX:0)|mixed|\n"
    "n2|cpu|127.0.10.2|1/3/0/4|4000|gpu:h100:2|gpu:h100:1(IDX:0)|mixed|\n";

fs::path WriteTemp(const std::string& name, const std::string& text) {
  const fs::path dir = fs::temp_directory_path() / "skycore_slurm_test";
  fs::create_directories(dir);
  std::ofstream(dir / name) << text;
  return dir / name;
}

TEST(SlurmConfigTest, HostBlocksAreClusters) {
  const auto config = ssh::SshConfig::Parse(R"(
Host *
  User shared
Host mycluster
  HostName login.example.org
  Port 2222
  IdentityFile ~/.ssh/slurm_key
Host other other-alias
  HostName 10.0.0.5
  User alice
Host *.internal !bad
  Port 23
)");
  const auto clusters = ClustersFromSshConfig(config, TestEnv());
  ASSERT_EQ(clusters.size(), 3u);
  EXPECT_EQ(clusters[0].name, "mycluster");
  EXPECT_EQ(clusters[0].login.address, "login.example.org");
  EXPECT_EQ(clusters[0].login.port, 2222);
  // The first value obtained wins, as in ssh: `Host *` comes first here.
  EXPECT_EQ(clusters[0].login.user, "shared");
  EXPECT_EQ(clusters[0].login.identity_file, "/home/tester/.ssh/slurm_key");
  EXPECT_EQ(clusters[0].login.Display(), "shared@login.example.org:2222");
  EXPECT_EQ(clusters[1].name, "other");
  EXPECT_EQ(clusters[2].name, "other-alias");
  EXPECT_EQ(clusters[2].login.address, "10.0.0.5");
  EXPECT_EQ(clusters[2].login.port, 22);
}

TEST(SlurmConfigTest, DefaultsAndAbsentFile) {
  const auto clusters = ClustersFromSshConfig(ssh::SshConfig::Parse("Host bare\n"), TestEnv());
  ASSERT_EQ(clusters.size(), 1u);
  EXPECT_EQ(clusters[0].login.address, "bare");
  EXPECT_EQ(clusters[0].login.user, "tester");
  EXPECT_TRUE(clusters[0].login.identity_file.empty());
  EXPECT_TRUE(LoadClusters("/nonexistent/slurm/config", TestEnv()).empty());
}

TEST(SlurmConfigTest, ConfigPathFromEnvironment) {
  auto lookup = [](std::map<std::string, std::string> values) {
    return [values](const std::string& name) -> std::optional<std::string> {
      auto it = values.find(name);
      if (it == values.end()) return std::nullopt;
      return it->second;
    };
  };
  EXPECT_EQ(DefaultConfigPath(lookup({{"HOME", "/home/a"}})), "/home/a/.slurm/config");
  EXPECT_EQ(DefaultConfigPath(lookup({{"HOME", "/home/a"}, {"SKYCORE_SLURM_CONFIG", "/x"}})), "/x");
  EXPECT_EQ(DefaultConfigPath(lookup({})), fs::path());
}

TEST(SlurmConfigTest, SlurmSectionOfSkyConfig) {
  const auto path = WriteTemp("config.yaml", R"(
kubernetes:
  allowed_contexts: [kind]
slurm:
  allowed_clusters: [b, a]
  provision_timeout: 600
  sbatch_options:
    qos: high
    exclusive:
  cluster_configs:
    a:
      provision_timeout: 60
      sbatch_options: ["--account=lab", "--qos=low"]
)");
  const SlurmSettings settings = ReadSlurmSettings(path);
  EXPECT_EQ(settings.allowed_clusters, (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(settings.defaults.provision_timeout_s, 600);
  EXPECT_EQ(settings.defaults.sbatch_options.at("qos"), "high");
  EXPECT_EQ(settings.defaults.sbatch_options.at("exclusive"), "");
  const SubmitSettings a = settings.For("a");
  EXPECT_EQ(a.provision_timeout_s, 60);
  EXPECT_EQ(a.sbatch_options.at("qos"), "low");
  EXPECT_EQ(a.sbatch_options.at("account"), "lab");
  EXPECT_EQ(a.sbatch_options.at("exclusive"), "");
  EXPECT_EQ(settings.For("b").provision_timeout_s, 600);
  EXPECT_EQ(SbatchFlags(a),
            (std::vector<std::string>{"--account=lab", "--exclusive", "--qos=low"}));

  std::vector<ClusterConfig> clusters(3);
  clusters[0].name = "a";
  clusters[1].name = "b";
  clusters[2].name = "c";
  std::vector<std::string> missing;
  const auto used = ClustersToUse(clusters, {"b", "zzz", "a"}, &missing);
  ASSERT_EQ(used.size(), 2u);
  EXPECT_EQ(used[0].name, "b");
  EXPECT_EQ(missing, (std::vector<std::string>{"zzz"}));
  EXPECT_EQ(ClustersToUse(clusters, {}).size(), 3u);
  EXPECT_TRUE(ReadSlurmSettings("/nonexistent/config.yaml").allowed_clusters.empty());
}

TEST(SlurmConfigTest, MalformedSectionNamesFileAndField) {
  const auto path = WriteTemp("bad.yaml", "slurm:\n  allowed_clusters: mycluster\n");
  try {
    ReadSlurmSettings(path);
    FAIL() << "no error";
  } catch (const InvalidSkyPilotConfigError& e) {
    EXPECT_EQ(e.field_path(), "slurm.allowed_clusters");
    EXPECT_EQ(e.location().line, 2);
    EXPECT_NE(e.message().find("bad.yaml"), std::string::npos) << e.message();
  }
  const auto timeout = WriteTemp("bad2.yaml", "slurm:\n  provision_timeout: soon\n");
  EXPECT_THROW(ReadSlurmSettings(timeout), InvalidSkyPilotConfigError);
}

TEST(SlurmSinfoTest, ParsesNodesPartitionsAndGres) {
  std::string default_partition;
  const auto nodes = ParseSinfo(kSinfoBusy, &default_partition);
  EXPECT_EQ(default_partition, "debug");
  ASSERT_EQ(nodes.size(), 3u);
  EXPECT_EQ(nodes[0].name, "n1");
  EXPECT_EQ(nodes[0].partition, "debug");
  EXPECT_EQ(nodes[0].address, "127.0.10.1");
  EXPECT_EQ(nodes[0].cpus_total, 4);
  EXPECT_EQ(nodes[0].cpus_allocated, 0);
  EXPECT_EQ(nodes[0].memory_mb, 4000);
  ASSERT_EQ(nodes[0].gpus.size(), 1u);
  EXPECT_EQ(nodes[0].gpus[0].type, "h100");
  EXPECT_EQ(nodes[0].gpus[0].AcceleratorName(), "H100");
  EXPECT_EQ(nodes[0].gpus_free(), 2);
  EXPECT_EQ(nodes[1].cpus_allocated, 1);
  EXPECT_EQ(nodes[1].gpus_free(), 1);
  EXPECT_EQ(nodes[1].state, "mixed");
  EXPECT_EQ(nodes[2].partition, "cpu");
}

TEST(SlurmSinfoTest, GresVariants) {
  std::vector<NodeGpus> gpus;
  ParseGres("gpu:a100:4(S:0,1),gpu:2,shard:8", gpus, false);
  ParseGres("gpu:a100:3(IDX:0-2),gpu:0", gpus, true);
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0].type, "a100");
  EXPECT_EQ(gpus[0].total, 4);
  EXPECT_EQ(gpus[0].used, 3);
  EXPECT_EQ(gpus[1].type, "");
  EXPECT_EQ(gpus[1].AcceleratorName(), "GPU");
  EXPECT_EQ(gpus[1].total, 2);
  std::vector<NodeGpus> none;
  ParseGres("(null)", none, false);
  EXPECT_TRUE(none.empty());
}

TEST(SlurmSinfoTest, StatesAndMessages) {
  const auto nodes = ParseSinfo(
      "sinfo: warning: something to say\n"
      "n3|gpu|10.0.0.3|0/0/8/8|64000|gpu:l4:1|gpu:l4:0|down*|\n"
      "n4|gpu|10.0.0.4|0/8/0/8|64000|(null)|(null)|drained|\n"
      "n5|gpu|10.0.0.5|8/0/0/8|64000|(null)|(null)|allocated|\n"
      "n6|gpu|10.0.0.6|0/8/0/8|64000|(null)|(null)|idle~|\n");
  ASSERT_EQ(nodes.size(), 4u);
  EXPECT_FALSE(nodes[0].schedulable());
  EXPECT_EQ(nodes[0].gpus_total(), 1);
  EXPECT_EQ(nodes[0].gpus_free(), 0);
  EXPECT_FALSE(nodes[1].schedulable());
  EXPECT_TRUE(nodes[2].schedulable());  // busy, but jobs can queue for it
  EXPECT_TRUE(nodes[3].schedulable());  // powered off, started on demand
  EXPECT_THROW(ParseSinfo("n1|debug|x|0/4/0/4|4000|\n"), CommandError);
  EXPECT_THROW(ParseSinfo("n1|debug|x|4|4000|(null)|(null)|idle|\n"), CommandError);
}

// A fake ssh that answers every command with one result.
ssh::SpawnFunction Answer(int exit_code, std::string output, bool started = true) {
  return [=](const std::vector<std::string>&, double) {
    subprocess::Result result;
    result.started = started;
    result.exit_code = exit_code;
    result.output = output;
    return result;
  };
}

ClusterConfig TestCluster() {
  ClusterConfig cluster;
  cluster.name = "hpc";
  cluster.login = {"hpc", "login.example.org", 22, "alice", "/keys/id", false, true};
  return cluster;
}

ssh::RunnerOptions TestOptions() {
  ssh::RunnerOptions options;
  options.known_hosts = "/state/ssh/known_hosts";
  options.max_attempts = 1;
  return options;
}

TEST(SlurmProbeTest, ReportsEachFailurePrecisely) {
  auto probe = [](ssh::SpawnFunction spawn) {
    return ProbeCluster(TestCluster(), TestOptions(), 5, spawn);
  };
  const auto ok = probe(Answer(0, kSinfoBusy));
  EXPECT_TRUE(ok.ready()) << ok.error;
  EXPECT_EQ(ok.nodes.size(), 3u);
  EXPECT_EQ(ok.login, "alice@login.example.org:22");

  const auto denied =
      probe(Answer(255, "alice@login.example.org: Permission denied (publickey).\n"));
  EXPECT_NE(denied.error.find("authentication failed"), std::string::npos) << denied.error;
  EXPECT_NE(denied.error.find("alice@login.example.org:22"), std::string::npos) << denied.error;

  const auto down =
      probe(Answer(255, "ssh: connect to host login.example.org port 22: Connection refused\n"));
  EXPECT_NE(down.error.find("login node unreachable"), std::string::npos) << down.error;

  const auto missing = probe(Answer(127, "sinfo: command not found\n"));
  EXPECT_NE(missing.error.find("sinfo not found on login node alice@login.example.org:22"),
            std::string::npos)
      << missing.error;

  const auto failing = probe(
      Answer(1, "sinfo: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host\n"));
  EXPECT_NE(failing.error.find("sinfo failed (exit 1)"), std::string::npos) << failing.error;
  EXPECT_NE(failing.error.find("Unknown host"), std::string::npos) << failing.error;

  // What the cluster counts as consumable, from the line after sinfo's.
  EXPECT_TRUE(ok.tracks_memory);  // not said: assumed tracked
  EXPECT_TRUE(probe(Answer(0, std::string(kSinfoBusy) + "SelectTypeParameters=CR_Core_Memory\n"))
                  .tracks_memory);
  const auto cores = probe(Answer(0, std::string(kSinfoBusy) + "SelectTypeParameters=CR_CORE\n"));
  EXPECT_TRUE(cores.ready()) << cores.error;
  EXPECT_FALSE(cores.tracks_memory);
  EXPECT_TRUE(TracksMemory("SelectTypeParameters=(null)\n"));
  EXPECT_FALSE(Inventory::FromJson([&] {
                 Inventory one;
                 one.clusters = {cores};
                 return one.ToJson();
               }())
                   .clusters.at(0)
                   .tracks_memory);

  const auto empty = probe(Answer(0, ""));
  EXPECT_NE(empty.error.find("sinfo listed no nodes"), std::string::npos) << empty.error;
}

TEST(SlurmInventoryTest, JsonRoundTripCatalogAndReport) {
  Inventory inventory;
  ClusterInventory ready = ProbeCluster(TestCluster(), TestOptions(), 5, Answer(0, kSinfoBusy));
  ClusterInventory broken;
  broken.cluster = "gone";
  broken.login = "bob@10.9.9.9:22";
  broken.error = "login node unreachable: connection refused";
  inventory.clusters = {ready, broken};

  const Inventory back = Inventory::FromJson(inventory.ToJson());
  ASSERT_EQ(back.clusters.size(), 2u);
  EXPECT_EQ(back.clusters[0].default_partition, "debug");
  ASSERT_EQ(back.clusters[0].nodes.size(), 3u);
  EXPECT_EQ(back.clusters[0].nodes[1].gpus.at(0).used, 1);
  EXPECT_EQ(back.clusters[1].error, broken.error);
  EXPECT_TRUE(back.AnyReady());
  EXPECT_THROW(Inventory::FromJson({{"version", 99}}), StateError);

  const std::string csv = InventoryCatalogCsv(inventory);
  // One shape per partition: CPU-only, H100:1, H100:2.
  EXPECT_NE(csv.find("4CPU--3.9GB,,,4,3.9,,0.0,,hpc,debug\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("4CPU--3.9GB--H100:2,H100,2,4,3.9,,0.0,,hpc,cpu\n"), std::string::npos) << csv;
  Catalog catalog = Catalog::FromCsvText("slurm", csv, "<test>");
  EXPECT_EQ(catalog.num_rows(), 6u);

  const std::string report = DescribeClusters(inventory);
  EXPECT_NE(report.find("cluster 'hpc' (alice@login.example.org:22): 2 nodes, 2 partitions, 3 of "
                        "4 GPUs free"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("partition 'debug' (default): n1 (idle, 4 CPUs, 3.9 GiB, H100 2/2 free)"),
            std::string::npos)
      << report;
  EXPECT_NE(report.find("cluster 'gone' (bob@10.9.9.9:22): login node unreachable"),
            std::string::npos)
      << report;
}

TEST(SlurmInventoryTest, CacheIsReadWithoutNetwork) {
  const auto state = fs::temp_directory_path() / "skycore_slurm_cache_test";
  fs::remove_all(state);
  EXPECT_FALSE(CachedCatalogCsv(state).has_value());
  Inventory inventory;
  inventory.clusters = {ProbeCluster(TestCluster(), TestOptions(), 5, Answer(0, kSinfoBusy))};
  SaveInventory(InventoryPath(state), inventory);
  EXPECT_EQ(InventoryPath(state), state / "slurm" / "inventory.json");
  ASSERT_TRUE(CachedCatalogCsv(state).has_value());
  std::ofstream(InventoryPath(state)) << "{not json";
  EXPECT_FALSE(LoadInventory(InventoryPath(state)).has_value());
  fs::remove_all(state);
}

}  // namespace
}  // namespace skycore::slurm
