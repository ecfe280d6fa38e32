// The fuzzer's regression corpus (tests/fuzz/corpus/) under the unit tests:
// every input there must either be rejected with a located InvalidTaskError or
// load, dump and load again to the same tasks. And the location fields that the
// fuzzer found unable to round-trip through `infra` are pinned one by one.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "skycore/skycore.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string Dump(const Dag& dag) {
  DumpOptions keep;
  keep.redact_secrets = false;
  return DumpDagYaml(dag, keep);
}

TEST(FuzzCorpusTest, EveryInputIsRejectedWithAPlaceOrRoundTrips) {
  std::vector<fs::path> paths;
  for (const auto& entry :
       fs::directory_iterator(fs::path(SKYCORE_SOURCE_DIR) / "tests" / "fuzz" / "corpus")) {
    paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  ASSERT_GE(paths.size(), 9u);
  for (const auto& path : paths) {
    SCOPED_TRACE(path.filename().string());
    Dag dag;
    try {
      dag = LoadDagYaml(ReadFile(path), LoadOptions{{}, {}, path.filename().string()});
    } catch (const InvalidTaskError& e) {
      EXPECT_EQ(e.location().file, path.filename().string()) << e.what();
      continue;
    }
    const std::string dumped = Dump(dag);
    Dag again;
    ASSERT_NO_THROW(again = LoadDagYaml(dumped)) << dumped;
    ASSERT_EQ(again.size(), dag.size());
    for (size_t i = 0; i < dag.size(); ++i) {
      EXPECT_TRUE(*dag.tasks()[i] == *again.tasks()[i]) << dumped << "---- again:\n" << Dump(again);
    }
  }
}

// Found by the fuzzer (seed 1): a legacy `region:` with '/' loaded, dumped as
// `infra: gcp/<region>` and that did not load back.
TEST(FuzzCorpusTest, CloudRegionWithSlashIsRejectedAtItsPlace) {
  const std::string text = ReadFile(fs::path(SKYCORE_SOURCE_DIR) / "tests" / "fuzz" / "corpus" /
                                    "legacy-gcp-region-with-slash.yaml");
  try {
    LoadDagYaml(text, LoadOptions{{}, {}, "task.yaml"});
    FAIL() << "a GCP region with '/' must be rejected";
  } catch (const InvalidTaskError& e) {
    EXPECT_EQ(e.field_path(), "resources.region");
    EXPECT_EQ(e.location().file, "task.yaml");
    EXPECT_EQ(e.location().line, 4);
    EXPECT_GT(e.location().column, 0);
    EXPECT_NE(std::string(e.what()).find("cannot contain '/'"), std::string::npos) << e.what();
  }
}

void ExpectRejected(const std::string& text, const std::string& field_path, int line) {
  SCOPED_TRACE(text);
  try {
    LoadDagYaml(text, LoadOptions{{}, {}, "t.yaml"});
    ADD_FAILURE() << "should be rejected";
  } catch (const InvalidTaskError& e) {
    EXPECT_EQ(e.field_path(), field_path) << e.what();
    EXPECT_EQ(e.location().line, line) << e.what();
  }
}

TEST(FuzzCorpusTest, LocationsThatInfraCannotWriteAreRejected) {
  ExpectRejected("resources:\n  cloud: aws\n  zone: us-east-1a/b\nrun: x\n", "resources.zone", 3);
  ExpectRejected("resources:\n  region: a/b/c\nrun: x\n", "resources.region", 2);
  ExpectRejected("resources:\n  cloud: gcp\n  region: '*'\nrun: x\n", "resources.region", 3);
  ExpectRejected("resources:\n  cloud: k8s\n  region: ctx\n  zone: z\nrun: x\n", "resources.zone",
                 4);
  ExpectRejected("resources:\n  cloud: ssh\n  zone: z\nrun: x\n", "resources.zone", 3);
}

Resources OnlyResources(const std::string& text) {
  Dag dag = LoadDagYaml(text);
  return dag.tasks()[0]->resources().alternatives()[0];
}

TEST(FuzzCorpusTest, ContextAndPoolNamesMayHoldSlashesAndRoundTrip) {
  const std::string context = "arn:aws:eks:us-east-1:123456789012:cluster/ctx/with/slash";
  for (const std::string& text :
       {"resources:\n  cloud: kubernetes\n  region: " + context + "\nrun: x\n",
        "resources:\n  infra: k8s/" + context + "\nrun: x\n"}) {
    SCOPED_TRACE(text);
    Resources resources = OnlyResources(text);
    EXPECT_EQ(resources.cloud(), "kubernetes");
    EXPECT_EQ(resources.spec().region, context);
    EXPECT_EQ(resources.infra(), "k8s/" + context);
  }
  // As in SkyPilot, everything after `ssh/` is the node pool's name.
  Resources pool = OnlyResources("resources:\n  infra: ssh/pool/with/slash\nrun: x\n");
  EXPECT_EQ(pool.spec().region, "pool/with/slash");
  EXPECT_EQ(pool.spec().zone, "");
  EXPECT_EQ(pool.infra(), "ssh/pool/with/slash");
  // `*` is the wildcard there too, not a context named "*".
  EXPECT_EQ(OnlyResources("resources:\n  infra: k8s/*\nrun: x\n").spec().region, "");
}

}  // namespace
}  // namespace skycore
