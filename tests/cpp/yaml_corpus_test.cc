// Runs every task YAML under tests/yaml/ through the loader and checks the
// outcome stated in the file's header comments (see tests/yaml/README.md).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/strings.h"
#include "skycore/skycore.h"
#include "temp_dir.h"

namespace skycore {
namespace {

namespace fs = std::filesystem;

struct CorpusFile {
  fs::path path;
  std::string text;
  std::vector<std::pair<std::string, std::string>> headers;

  std::optional<std::string> header(const std::string& name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return v;
    }
    return std::nullopt;
  }
};

CorpusFile ReadCorpusFile(const fs::path& path) {
  CorpusFile file{path, "", {}};
  std::ifstream in(path);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  file.text = buffer.str();
  std::istringstream lines(file.text);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("#")) break;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name(strings::Trim(line.substr(1, colon - 1)));
    std::string value(strings::Trim(line.substr(colon + 1)));
    if (name.find(' ') == std::string::npos) file.headers.emplace_back(name, value);
  }
  return file;
}

std::vector<fs::path> CorpusPaths(const std::string& folder) {
  std::vector<fs::path> paths;
  fs::path root = fs::path(SKYCORE_SOURCE_DIR) / "tests" / "yaml" / folder;
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.path().extension() == ".yaml") paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  return paths;
}

LoadOptions OptionsFor(const CorpusFile& file) {
  LoadOptions options;
  options.filename = file.path.filename().string();
  for (const auto& [k, v] : file.headers) {
    if (k != "needs-env" && k != "needs-secret") continue;
    auto eq = v.find('=');
    auto& into = k == "needs-env" ? options.env_overrides : options.secret_overrides;
    into.emplace_back(v.substr(0, eq), eq == std::string::npos ? "" : v.substr(eq + 1));
  }
  return options;
}

void CheckLoads(const fs::path& path) {
  SCOPED_TRACE(path.string());
  CorpusFile file = ReadCorpusFile(path);
  LoadOptions options = OptionsFor(file);
  Dag dag;
  try {
    dag = LoadDagYaml(file.text, options);
  } catch (const Error& e) {
    FAIL() << "should load but failed: " << e.what();
  }
  size_t expected_tasks = 1;
  if (auto n = file.header("dag-tasks")) expected_tasks = std::stoul(*n);
  EXPECT_EQ(dag.size(), expected_tasks);
  EXPECT_EQ(dag.is_chain(), true);

  // Round trip: dump (secrets kept) and load again gives equal tasks.
  DumpOptions keep;
  keep.redact_secrets = false;
  const std::string dumped = DumpDagYaml(dag, keep);
  Dag again;
  try {
    again = LoadDagYaml(dumped, LoadOptions{});
  } catch (const Error& e) {
    FAIL() << "dumped YAML does not load: " << e.what() << "\n" << dumped;
  }
  ASSERT_EQ(again.size(), dag.size()) << dumped;
  for (size_t i = 0; i < dag.size(); ++i) {
    EXPECT_TRUE(*dag.tasks()[i] == *again.tasks()[i]) << "round trip changed task " << i << ":\n"
                                                      << dumped << "\n---- second dump:\n"
                                                      << DumpDagYaml(again, keep);
  }

  // Secrets never appear in printed forms.
  const std::string printed = DumpDagYaml(dag);
  for (const auto& [name, value] : options.secret_overrides) {
    if (value.size() < 3) continue;
    EXPECT_EQ(printed.find(value), std::string::npos) << "secret " << name << " printed";
    for (const auto& task : dag.tasks()) {
      EXPECT_EQ(task->ToString().find(value), std::string::npos);
    }
  }
}

TEST(YamlCorpusTest, EveryValidFileLoadsAndRoundTrips) {
  auto paths = CorpusPaths("valid");
  ASSERT_GE(paths.size(), 40u);
  for (const auto& path : paths) CheckLoads(path);
}

TEST(YamlCorpusTest, ExtensionsLoad) {
  for (const auto& path : CorpusPaths("extensions")) CheckLoads(path);
}

TEST(YamlCorpusTest, EveryInvalidFileFailsWithPathLineAndSuggestion) {
  auto paths = CorpusPaths("invalid");
  ASSERT_GE(paths.size(), 20u);
  for (const auto& path : paths) {
    SCOPED_TRACE(path.string());
    CorpusFile file = ReadCorpusFile(path);
    LoadOptions options;
    options.filename = path.filename().string();
    try {
      // The file loader, as `sky launch <file>`: it alone refuses an empty file.
      LoadDagYamlFile(path.string(), options);
      ADD_FAILURE() << "loaded but should fail";
      continue;
    } catch (const InvalidTaskError& e) {
      const std::string what = e.what();
      const std::string expected_path = file.header("expect-path").value_or("");
      EXPECT_EQ(e.field_path(), expected_path) << what;
      if (auto suggestion = file.header("expect-suggestion")) {
        EXPECT_NE(strings::Lower(what).find(strings::Lower(*suggestion)), std::string::npos)
            << "message lacks '" << *suggestion << "': " << what;
      } else {
        EXPECT_EQ(what.find("Did you mean"), std::string::npos) << what;
      }
      if (auto line = file.header("expect-line")) {
        EXPECT_EQ(e.location().line, std::stoi(*line)) << what;
      }
      EXPECT_EQ(e.location().file, options.filename);
    }
  }
}

}  // namespace
}  // namespace skycore

namespace skycore {
namespace {

// PyYAML (SkyPilot's loader) refuses control characters and malformed UTF-8;
// so do we, naming the line and column (found by the fuzzer: a NUL changed
// what a task meant after a dump and reload).
TEST(YamlTextTest, ControlCharactersAndBadUtf8AreRejectedWithTheirPlace) {
  const std::string nul("name: x\nrun: echo \0rg\n", 22);
  try {
    LoadDagYaml(nul, LoadOptions{{}, {}, "t.yaml"});
    FAIL() << "a NUL byte must be rejected";
  } catch (const InvalidTaskError& e) {
    EXPECT_EQ(e.location().line, 2);
    EXPECT_EQ(e.location().column, 11);
    EXPECT_NE(std::string(e.what()).find("#x0000"), std::string::npos) << e.what();
  }
  EXPECT_THROW(LoadDagYaml("run: echo \x7f\n"), InvalidTaskError);
  EXPECT_THROW(LoadDagYaml("run: echo \xff\xfe\n"), InvalidTaskError);
  EXPECT_THROW(LoadDagYaml("run: echo \xc2\x80\n"), InvalidTaskError);  // C1 control
  EXPECT_NO_THROW(LoadDagYaml("run: echo \"h\xc3\xa9llo \xe2\x9c\x94\"\t# ok\r\n"));
}

// A null secret is a reference given at launch (SkyPilot 0.14.1): the task
// loads, dumps it as null, and refuses to launch until it has a value.
TEST(YamlSecretsTest, NullSecretLoadsUnresolvedUntilGiven) {
  const std::string text = "secrets:\n  HF_TOKEN: null\n  INLINE: abc123\nrun: echo\n";
  Task task = LoadTaskYaml(text, LoadOptions{{}, {}, "t.yaml"});
  EXPECT_EQ(task.unresolved_secrets(), std::vector<std::string>{"HF_TOKEN"});
  ASSERT_EQ(task.secrets().size(), 1u);
  EXPECT_EQ(task.envs_and_secrets().size(), 1u);  // nothing for the job until it has a value
  const std::string dumped = DumpTaskYaml(task);
  EXPECT_NE(dumped.find("HF_TOKEN: ~"), std::string::npos) << dumped;
  EXPECT_EQ(dumped.find("abc123"), std::string::npos) << dumped;
  DumpOptions keep;
  keep.redact_secrets = false;
  EXPECT_TRUE(LoadTaskYaml(DumpTaskYaml(task, keep)) == task) << DumpTaskYaml(task, keep);
  try {
    task.RequireSecretValues();
    FAIL() << "a secret without a value must stop the launch";
  } catch (const InvalidTaskError& e) {
    EXPECT_EQ(e.field_path(), "secrets.HF_TOKEN");
    EXPECT_NE(std::string(e.what()).find("--secret HF_TOKEN=<value>"), std::string::npos)
        << e.what();
  }
  task.update_secrets({{"HF_TOKEN", "given"}});
  EXPECT_TRUE(task.unresolved_secrets().empty());
  EXPECT_NO_THROW(task.RequireSecretValues());

  LoadOptions given;
  given.secret_overrides = {{"HF_TOKEN", "from-flag"}};
  Task resolved = LoadTaskYaml(text, given);
  EXPECT_TRUE(resolved.unresolved_secrets().empty());
  EXPECT_EQ(resolved.secrets().back(),
            (std::pair<std::string, std::string>{"HF_TOKEN", "from-flag"}));
}

// SkyPilot's file loader refuses a file with no task; its string loaders take
// one as an empty task (the SDK sends an empty task's dump, `{}`).
TEST(YamlDagTest, EmptyFileIsRefusedButEmptyTextIsAnEmptyTask) {
  EXPECT_EQ(LoadDagYaml("").size(), 1u);
  EXPECT_EQ(LoadDagYaml("{}\n").size(), 1u);
  skycore::testing::TempDir dir("empty_task");
  const fs::path path = dir.path() / "task.yaml";
  for (const std::string text : {"", "# nothing\n", "null\n", "{}\n", "---\n---\n"}) {
    std::ofstream(path, std::ios::trunc) << text;
    try {
      LoadDagYamlFile(path.string());
      ADD_FAILURE() << "loaded an empty file: '" << text << "'";
    } catch (const InvalidTaskError& e) {
      EXPECT_NE(std::string(e.what()).find("run:"), std::string::npos) << e.what();
      EXPECT_GE(e.location().line, 1) << e.what();
    }
  }
}

}  // namespace
}  // namespace skycore

namespace skycore {
namespace {

InvalidTaskError LoadFails(const std::string& text) {
  try {
    LoadDagYaml(text, LoadOptions{{}, {}, "t.yaml"});
  } catch (const InvalidTaskError& e) {
    return e;
  }
  ADD_FAILURE() << "loaded but should fail:\n" << text;
  return InvalidTaskError("");
}

// Like SkyPilot's schema validator, which lists its problematic fields, a
// document's problems are reported together: the first leads, with its
// place and close matches, and each other one follows with its own.
TEST(YamlProblemsTest, EveryProblemOfADocumentIsReported) {
  const InvalidTaskError e = LoadFails(
      "resources:\n"
      "  cpus: 2\n"
      "  acclerators: V100\n"
      "  memroy: 4\n"
      "run: echo hi\n"
      "num_nodes: zero\n");
  const std::string what = e.what();
  EXPECT_EQ(e.field_path(), "resources.acclerators") << what;
  EXPECT_EQ(e.location().line, 3) << what;
  EXPECT_NE(what.find("Did you mean 'accelerators'?"), std::string::npos) << what;
  EXPECT_NE(what.find("2 more problems in this document:"), std::string::npos) << what;
  EXPECT_NE(what.find("\n  t.yaml:4:3: resources.memroy: unknown field 'memroy'"),
            std::string::npos)
      << what;
  EXPECT_NE(what.find("Did you mean 'memory'?"), std::string::npos) << what;
  EXPECT_NE(what.find("\n  t.yaml:6:12: num_nodes: "), std::string::npos) << what;
}

TEST(YamlProblemsTest, OneProblemIsReportedAsBefore) {
  const InvalidTaskError e = LoadFails("resources:\n  acclerators: V100\nrun: echo hi\n");
  EXPECT_EQ(e.suggestions(), std::vector<std::string>{"accelerators"});
  EXPECT_EQ(std::string(e.what()).find("more problem"), std::string::npos) << e.what();
}

// A section with a problem is not used half read: its problem is reported
// once, and nothing that would follow from it (here: resources built without
// the misspelt field) is reported as another problem.
TEST(YamlProblemsTest, AHalfReadSectionCausesNoFurtherProblem) {
  const InvalidTaskError e = LoadFails(
      "resources:\n"
      "  infra: awz\n"
      "  accelerators: V100:0\n"
      "run: echo hi\n");
  const std::string what = e.what();
  EXPECT_EQ(e.field_path(), "resources.infra") << what;
  EXPECT_NE(what.find("resources.accelerators"), std::string::npos) << what;
  EXPECT_NE(what.find("1 more problem in this document:"), std::string::npos) << what;
}

TEST(YamlProblemsTest, ATabIndentIsNamedWhereItIs) {
  const InvalidTaskError e = LoadFails("name: t\nresources:\n  cpus: 2\n\tmemory: 4\nrun: x\n");
  EXPECT_EQ(e.location().line, 4) << e.what();
  EXPECT_EQ(e.location().column, 1) << e.what();
  EXPECT_NE(std::string(e.what()).find("a tab character indents this line"), std::string::npos)
      << e.what();
}

}  // namespace
}  // namespace skycore
