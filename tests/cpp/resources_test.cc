#include <gtest/gtest.h>

#include "skycore/skycore.h"

namespace skycore {
namespace {

TEST(ResourcesTest, InfraStringsParseIntoCloudRegionZone) {
  ResourcesSpec spec;
  ParseInfraInto("AWS/us-east-1/us-east-1a", spec);
  EXPECT_EQ(spec.cloud, "aws");
  EXPECT_EQ(spec.region, "us-east-1");
  EXPECT_EQ(spec.zone, "us-east-1a");
  EXPECT_EQ(Resources(spec).infra(), "aws/us-east-1/us-east-1a");

  ParseInfraInto("k8s/arn:aws:eks:us-east-1:1234:cluster/my-cluster", spec);
  EXPECT_EQ(spec.cloud, "kubernetes");
  EXPECT_EQ(spec.region, "arn:aws:eks:us-east-1:1234:cluster/my-cluster");
  EXPECT_EQ(Resources(spec).infra(), "k8s/arn:aws:eks:us-east-1:1234:cluster/my-cluster");

  ParseInfraInto("*/*/us-east-1a", spec);
  EXPECT_EQ(spec.cloud, "");
  EXPECT_EQ(spec.region, "");
  EXPECT_EQ(spec.zone, "us-east-1a");
  EXPECT_EQ(Resources(spec).infra(), "*/*/us-east-1a");

  ParseInfraInto("*", spec);
  EXPECT_EQ(Resources(spec).infra(), "*");
}

TEST(ResourcesTest, UnknownInfraSuggestsCloseMatch) {
  ResourcesSpec spec;
  try {
    ParseInfraInto("awz/us-east-1", spec);
    FAIL() << "expected an error";
  } catch (const InvalidTaskError& e) {
    EXPECT_EQ(e.field_path(), "resources.infra");
    ASSERT_FALSE(e.suggestions().empty());
    EXPECT_EQ(e.suggestions()[0], "aws/us-east-1");
  }
}

TEST(ResourcesTest, AcceleratorText) {
  EXPECT_EQ(ParseAccelerator("A100"), (AcceleratorRequest{"A100", 1}));
  EXPECT_EQ(ParseAccelerator("A100:8"), (AcceleratorRequest{"A100", 8}));
  EXPECT_EQ(ParseAccelerator("A100-80GB:0.5"), (AcceleratorRequest{"A100-80GB", 0.5}));
  EXPECT_THROW(ParseAccelerator("A100:x"), InvalidTaskError);
  EXPECT_THROW(ParseAccelerator("A100:-1"), InvalidTaskError);
  EXPECT_THROW(ParseAccelerator(":8"), InvalidTaskError);
  EXPECT_EQ(ParseAccelerator("A100:0.5").ToString(), "A100:0.5");
}

TEST(ResourcesTest, ConstructorValidatesAndNormalises) {
  ResourcesSpec spec;
  spec.cloud = "GCP";
  spec.disk_tier = "HIGH";
  spec.ports = {{9000, 9001}, {80, 80}};
  Resources resources(spec);
  EXPECT_EQ(resources.cloud(), "gcp");
  EXPECT_EQ(resources.spec().disk_tier, "high");
  EXPECT_EQ(resources.spec().ports[0].first, 80);

  ResourcesSpec bad;
  bad.disk_tier = "hgh";
  try {
    Resources r(bad);
    FAIL();
  } catch (const InvalidTaskError& e) {
    EXPECT_EQ(e.field_path(), "disk_tier");
    ASSERT_FALSE(e.suggestions().empty());
    EXPECT_EQ(e.suggestions()[0], "high");
  }
  ResourcesSpec priority;
  priority.priority = 2000;
  EXPECT_THROW(Resources{priority}, InvalidTaskError);
}

TEST(ResourcesTest, SetKeepsOrder) {
  ResourcesSet empty;
  EXPECT_EQ(empty.size(), 1u);
  EXPECT_THROW(ResourcesSet({}, ResourcesSet::Order::kOrdered), InvalidTaskError);
}

TEST(DagTest, ChainsAndCycles) {
  Dag dag;
  auto a = std::make_shared<Task>();
  auto b = std::make_shared<Task>();
  auto c = std::make_shared<Task>();
  dag.add_edge(a, b);
  dag.add_edge(b, c);
  EXPECT_TRUE(dag.is_chain());
  EXPECT_EQ(dag.topological_order(), (std::vector<size_t>{0, 1, 2}));
  EXPECT_THROW(dag.add_edge(c, a), InvalidTaskError);
  auto d = std::make_shared<Task>();
  dag.add_edge(a, d);
  EXPECT_FALSE(dag.is_chain());
  EXPECT_EQ(dag.add(a), 0u);
}

TEST(TaskTest, EnvsValidateNamesAndSecretsAreRedacted) {
  Task task;
  task.update_envs({{"A", "1"}, {"B", "2"}});
  task.update_envs({{"A", "3"}});
  EXPECT_EQ(task.envs(), (EnvVars{{"A", "3"}, {"B", "2"}}));
  EXPECT_THROW(task.update_envs({{"1BAD", "x"}}), InvalidTaskError);
  task.update_secrets({{"TOKEN", "hunter2"}});
  EXPECT_EQ(task.ToString().find("hunter2"), std::string::npos);
  EXPECT_NE(DumpTaskYaml(task).find("<redacted>"), std::string::npos);
  EXPECT_EQ(DumpTaskYaml(task).find("hunter2"), std::string::npos);
  EXPECT_THROW(task.set_num_nodes(0), InvalidTaskError);
}

}  // namespace
}  // namespace skycore

namespace skycore {
namespace {

// Found by the fuzzer: a pipeline name that folds to several lines must be
// dumped as one quoted string, not written raw.
TEST(DagYamlTest, MultiLinePipelineNameRoundTrips) {
  const char* text = "name: 3\n\n  E\n---\nname: rep\nrun: ptpe\n---\nname: $.py\n";
  Dag dag = LoadDagYaml(text);
  ASSERT_EQ(dag.size(), 2u);
  EXPECT_EQ(dag.name(), "3\nE");
  DumpOptions keep;
  keep.redact_secrets = false;
  Dag again = LoadDagYaml(DumpDagYaml(dag, keep));
  EXPECT_EQ(again.name(), dag.name());
  ASSERT_EQ(again.size(), 2u);
  EXPECT_TRUE(*again.tasks()[1] == *dag.tasks()[1]);
}

// SkyPilot writes `name: null` as the header of an unnamed pipeline; and the
// dump of a pipeline whose first task holds only a name must not read that
// task back as the header.
TEST(DagYamlTest, UnnamedPipelineRoundTrips) {
  Dag skypilot = LoadDagYaml("name: null\n---\nrun: a\n---\nrun: b\n");
  EXPECT_FALSE(skypilot.name());
  ASSERT_EQ(skypilot.size(), 2u);

  Dag dag;
  auto first = std::make_shared<Task>();
  first->set_name("a");
  auto second = std::make_shared<Task>();
  second->set_run("echo b");
  dag.add_edge(first, second);
  Dag again = LoadDagYaml(DumpDagYaml(dag));
  EXPECT_FALSE(again.name());
  ASSERT_EQ(again.size(), 2u);
  EXPECT_TRUE(*again.tasks()[0] == *first);
  EXPECT_TRUE(*again.tasks()[1] == *second);
}

TEST(DagYamlTest, OneTaskDagKeepsItsOwnName) {
  Dag dag;
  auto task = std::make_shared<Task>();
  task->set_name("train");
  dag.add(task);
  dag.set_name("pipeline");
  Dag again = LoadDagYaml(DumpDagYaml(dag));
  EXPECT_EQ(again.name(), "pipeline");
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again.tasks()[0]->name(), "train");
  dag.set_name("train");
  EXPECT_EQ(DumpDagYaml(dag), "name: train\n");
}

// SkyPilot 0.14.1 expands a set of accelerators with any_of into their cross
// product; an entry naming its own accelerator replaces the set, and an
// entry's labels add to the shared ones.
TEST(ResourcesYamlTest, AcceleratorSetWithAnyOfIsTheCrossProduct) {
  const char* text =
      "resources:\n"
      "  accelerators: {A100:8, H100:8}\n"
      "  labels: {team: ml}\n"
      "  any_of:\n"
      "    - infra: aws\n"
      "    - infra: gcp\n"
      "      labels: {billing: research}\n"
      "    - infra: k8s\n"
      "      accelerators: L4:8\n"
      "run: nvidia-smi\n";
  Task task = LoadTaskYaml(text);
  const ResourcesSet& set = task.resources();
  EXPECT_FALSE(set.is_ordered());
  std::vector<std::string> got;
  for (const auto& r : set.alternatives()) {
    got.push_back(r.cloud() + " " + r.spec().accelerators->ToString() + " " +
                  std::to_string(r.spec().labels.size()));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"aws A100:8 1", "aws H100:8 1", "gcp A100:8 2",
                                           "gcp H100:8 2", "kubernetes L4:8 1"}));
  // A list (an order of preference) has no meaning with any_of.
  EXPECT_THROW(LoadTaskYaml("resources:\n  accelerators: [A100, H100]\n  any_of:\n"
                            "    - infra: aws\nrun: x\n"),
               InvalidTaskError);
}

}  // namespace
}  // namespace skycore
