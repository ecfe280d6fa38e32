// Loading and validating task YAML. Target: a typical 40-line task in < 50 us.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "skycore/skycore.h"

namespace {

std::string ReadExample(const char* relative) {
  std::ifstream in(std::string(SKYCORE_SOURCE_DIR) + "/" + relative);
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// A typical 40-line training task (resources, envs, secrets, mounts, setup, run).
const char* kTypicalTask = "tests/yaml/valid/72-typical-training-task.yaml";

void BM_LoadTypicalTask(benchmark::State& state) {
  const std::string text = ReadExample(kTypicalTask);
  skycore::LoadOptions options;
  options.env_overrides = {{"WANDB_API_KEY", "x"}};
  options.secret_overrides = {{"HF_TOKEN", "x"}};
  // Fails loudly if the benchmark input stops being valid.
  if (skycore::LoadTaskYaml(text, options).num_nodes() < 1) state.SkipWithError("bad input");
  for (auto _ : state) {
    benchmark::DoNotOptimize(skycore::LoadTaskYaml(text, options));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_LoadTypicalTask);

void BM_LoadAndDump(benchmark::State& state) {
  const std::string text = ReadExample(kTypicalTask);
  skycore::LoadOptions options;
  options.env_overrides = {{"WANDB_API_KEY", "x"}};
  options.secret_overrides = {{"HF_TOKEN", "x"}};
  for (auto _ : state) {
    benchmark::DoNotOptimize(skycore::DumpTaskYaml(skycore::LoadTaskYaml(text, options)));
  }
}
BENCHMARK(BM_LoadAndDump);

void BM_RejectTypo(benchmark::State& state) {
  const std::string text = ReadExample("tests/yaml/invalid/04-resources-typo-acelerators.yaml");
  for (auto _ : state) {
    try {
      skycore::LoadTaskYaml(text);
      state.SkipWithError("invalid YAML was accepted");
      break;
    } catch (const skycore::InvalidTaskError& e) {
      benchmark::DoNotOptimize(e.what());
    }
  }
}
BENCHMARK(BM_RejectTypo);

}  // namespace

BENCHMARK_MAIN();
