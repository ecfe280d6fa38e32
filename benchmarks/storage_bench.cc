// The S3 transfer engine against an S3 endpoint (the test cloud's moto, on
// loopback): upload of a directory, then download of it, with the engine's
// default parallelism and part size. Driven by benchmarks/storage_s3.py, which
// starts the endpoint, makes the directory, sets AWS_ENDPOINT_URL and the keys,
// and compares with boto3's s3transfer (the engine of `aws s3 cp`).
//
//   SKYCORE_BENCH_DIR=/data SKYCORE_BENCH_BUCKET=b storage_bench
//
// One iteration each (the figures are seconds of wall time, MB/s as counters).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "common/environment.h"
#include "storage/s3.h"
#include "storage/transfer.h"

namespace {

using namespace skycore::storage;

std::string Env(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

// SKYCORE_BENCH_PARALLELISM overrides the engine's default (16), to find the knee.
TransferOptions Options() {
  TransferOptions options;
  if (const std::string value = Env("SKYCORE_BENCH_PARALLELISM"); !value.empty()) {
    options.parallelism = std::stoi(value);
  }
  return options;
}

void SetBytesRate(benchmark::State& state, const TransferSummary& summary) {
  state.counters["MB/s"] = benchmark::Counter(static_cast<double>(summary.bytes) / 1e6 /
                                              std::max(summary.seconds, 1e-9));
  state.counters["files"] = static_cast<double>(summary.files);
}

void BM_Upload(benchmark::State& state) {
  const auto client = S3Client::FromEnvironment(skycore::env::Process);
  const std::string bucket = Env("SKYCORE_BENCH_BUCKET");
  if (!client->BucketExists(bucket)) client->CreateBucket(bucket);
  const auto items = ListUploadItems(Env("SKYCORE_BENCH_DIR"), "");
  TransferSummary summary;
  for (auto _ : state) summary = Upload(*client, bucket, items, Options());
  SetBytesRate(state, summary);
}

void BM_Download(benchmark::State& state) {
  const auto client = S3Client::FromEnvironment(skycore::env::Process);
  const std::filesystem::path out =
      std::filesystem::path(Env("SKYCORE_BENCH_DIR")) / ".." / "skycore-download";
  TransferSummary summary;
  for (auto _ : state) summary = Download(*client, Env("SKYCORE_BENCH_BUCKET"), "", out, Options());
  SetBytesRate(state, summary);
  std::error_code ec;
  std::filesystem::remove_all(out, ec);
}

BENCHMARK(BM_Upload)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);
BENCHMARK(BM_Download)->Iterations(1)->UseRealTime()->Unit(benchmark::kSecond);

}  // namespace

BENCHMARK_MAIN();
