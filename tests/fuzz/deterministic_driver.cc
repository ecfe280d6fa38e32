// A deterministic fuzzing driver for CI, linked to the same
// LLVMFuzzerTestOneInput as the libFuzzer binary.
//
// libFuzzer with a fixed -seed is not reproducible across machines: the order
// in which it reads a corpus comes from the directory listing (and equal-sized
// files are sorted unstably), it reloads the corpus and caps work by wall-clock
// time, so two machines run different inputs. This driver has no such inputs:
//
//   1. Replay: every file under the given paths, in byte-wise sorted order of
//      their paths as given (directories are walked recursively).
//   2. Mutate: `--mutations N` rounds of a fully specified mutation loop driven
//      by a SplitMix64 generator seeded with `--seed S`. Each round picks a
//      parent from the pool, applies 1-4 mutations from a fixed list, and runs
//      the result. An input that reaches a new coverage feature (8-bit
//      SanitizerCoverage counters of the instrumented code, bucketed like
//      libFuzzer's) joins the pool. Counters are indexed by their position,
//      never by address, so the choice does not depend on ASLR.
//
// Nothing depends on time, so the same binary runs the same inputs in the same
// order on every machine. It prints a digest of every input it ran; two runs
// agree exactly when the digests agree.
//
// A failure (an exception escaping the target, or a sanitizer report) prints
// the input in hex and writes it to --artifact (default ./crash-input) so that
// it can be added to tests/fuzz/corpus/.
#include <sanitizer/common_interface_defs.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;
using Bytes = std::string;

// ------------------------------------------------------------ coverage

// SanitizerCoverage hands every instrumented module's counter array to this
// hook at start-up (the sanitizer runtime's default does nothing).
struct CounterRange {
  uint8_t* begin;
  uint8_t* end;
};
std::vector<CounterRange>& Counters() {
  static std::vector<CounterRange> ranges;
  return ranges;
}

// Like libFuzzer: a counter value counts by its order of magnitude only.
int Bucket(uint8_t count) {
  if (count >= 128) return 7;
  if (count >= 32) return 6;
  if (count >= 16) return 5;
  if (count >= 8) return 4;
  if (count >= 4) return 3;
  return count - 1;  // 1, 2, 3 -> 0, 1, 2
}

class Coverage {
 public:
  void Reset() {
    for (auto& range : Counters()) std::fill(range.begin, range.end, uint8_t{0});
  }
  // Records the features of the last run; true when one was never seen.
  bool Collect() {
    bool fresh = false;
    size_t index = 0;
    for (auto& range : Counters()) {
      for (uint8_t* counter = range.begin; counter != range.end; ++counter, ++index) {
        if (*counter == 0) continue;
        const size_t feature = index * 8 + static_cast<size_t>(Bucket(*counter));
        if (feature >= seen_.size()) seen_.resize(feature + 1, false);
        if (!seen_[feature]) {
          seen_[feature] = true;
          ++features_;
          fresh = true;
        }
      }
    }
    return fresh;
  }
  size_t features() const { return features_; }

 private:
  std::vector<bool> seen_;
  size_t features_ = 0;
};

// ------------------------------------------------------------ randomness

// SplitMix64: fully specified, unlike std:: distributions.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
  size_t Below(size_t n) { return n == 0 ? 0 : static_cast<size_t>(Next() % n); }

 private:
  uint64_t state_;
};

// FNV-1a 64 over every executed input (length, then bytes).
class Digest {
 public:
  void Add(const Bytes& input) {
    const uint64_t size = input.size();
    for (int i = 0; i < 8; ++i) Mix(static_cast<uint8_t>(size >> (8 * i)));
    for (unsigned char c : input) Mix(c);
  }
  uint64_t value() const { return hash_; }

 private:
  void Mix(uint8_t byte) {
    hash_ ^= byte;
    hash_ *= 0x100000001b3ULL;
  }
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

// ------------------------------------------------------------ mutations

// Tokens of task YAML and of the fields whose values have structure.
constexpr std::string_view kTokens[] = {
    "\n",
    ": ",
    "\n  ",
    "- ",
    "/",
    "*",
    "'",
    "\"",
    "{",
    "}",
    "[",
    "]",
    ",",
    "#",
    "null",
    "true",
    "~",
    "&a ",
    "*a",
    "<<: ",
    "---\n",
    "!!str ",
    "|\n  ",
    ">\n  ",
    "resources:",
    "infra: ",
    "cloud: ",
    "region: ",
    "zone: ",
    "k8s/",
    "kubernetes",
    "ssh/",
    "slurm/",
    "gcp/",
    "aws/",
    "local",
    "accelerators: ",
    "A100:8",
    "any_of:",
    "ordered:",
    "cpus: ",
    "memory: ",
    "4+",
    "32GB",
    "ports: ",
    "8080-8081",
    "envs:",
    "secrets:",
    "file_mounts:",
    "workdir: ",
    "setup: ",
    "run: ",
    "num_nodes: ",
    "name: ",
    "image_id: ",
    "docker:",
    "labels:",
    "autostop: ",
    "job_recovery:",
    "service:",
    "config:",
    "volumes:",
    "disk_size: ",
    "use_spot: ",
    "priority: ",
    "${X}",
};
constexpr size_t kMaxInputBytes = 4096;
constexpr size_t kMaxPool = 8192;

Bytes RandomSlice(Rng& rng, const Bytes& from) {
  if (from.empty()) return {};
  const size_t start = rng.Below(from.size());
  const size_t length = 1 + rng.Below(std::min<size_t>(from.size() - start, 64));
  return from.substr(start, length);
}

// One mutation, chosen and parameterised by `rng` only.
void MutateOnce(Rng& rng, Bytes& data, const std::vector<Bytes>& pool) {
  const size_t at = rng.Below(data.size() + 1);  // an insertion point
  switch (rng.Below(9)) {
    case 0:  // flip one bit
      if (!data.empty()) data[at % data.size()] ^= static_cast<char>(1u << rng.Below(8));
      break;
    case 1:  // set one byte
      if (!data.empty()) data[at % data.size()] = static_cast<char>(rng.Below(256));
      break;
    case 2:  // insert one printable byte
      data.insert(at, 1, static_cast<char>(' ' + rng.Below(95)));
      break;
    case 3:  // erase a run of bytes
      if (!data.empty()) data.erase(at % data.size(), 1 + rng.Below(16));
      break;
    case 4:  // insert a token
      data.insert(at, kTokens[rng.Below(std::size(kTokens))]);
      break;
    case 5:  // duplicate a slice of this input
      data.insert(at, RandomSlice(rng, data));
      break;
    case 6:  // insert a slice of another input
      data.insert(at, RandomSlice(rng, pool[rng.Below(pool.size())]));
      break;
    case 7: {  // cross over: this input's head, another input's tail
      const Bytes& other = pool[rng.Below(pool.size())];
      data = data.substr(0, at) + other.substr(rng.Below(other.size() + 1));
      break;
    }
    default: {  // replace a line with a line of another input
      const Bytes& other = pool[rng.Below(pool.size())];
      const size_t from = other.rfind('\n', rng.Below(other.size() + 1));
      const size_t start = from == Bytes::npos ? 0 : from + 1;
      const Bytes line = other.substr(start, other.find('\n', start) - start);
      const size_t line_start = at == 0 ? 0 : data.rfind('\n', at - 1);
      const size_t begin = line_start == Bytes::npos || at == 0 ? 0 : line_start + 1;
      const size_t end = std::min(data.find('\n', begin), data.size());
      data.replace(begin, end - begin, line);
      break;
    }
  }
  if (data.size() > kMaxInputBytes) data.resize(kMaxInputBytes);
}

// ------------------------------------------------------------ running

const Bytes* g_current = nullptr;
const char* g_artifact = "crash-input";

void ReportCurrentInput() {
  if (g_current == nullptr) return;
  std::fprintf(stderr, "---- failing input (%zu bytes, hex):\n", g_current->size());
  for (size_t i = 0; i < g_current->size(); ++i) {
    std::fprintf(stderr, "%02x%s", static_cast<unsigned char>((*g_current)[i]),
                 i % 32 == 31 ? "\n" : " ");
  }
  std::fprintf(stderr, "\n---- written to %s\n", g_artifact);
  std::ofstream(g_artifact, std::ios::binary) << *g_current;
}

void Run(const Bytes& input) {
  g_current = &input;
  try {
    LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(input.data()), input.size());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "==== uncaught exception: %s\n", e.what());
    ReportCurrentInput();
    std::exit(1);
  } catch (...) {
    std::fprintf(stderr, "==== uncaught non-standard exception\n");
    ReportCurrentInput();
    std::exit(1);
  }
  g_current = nullptr;
}

void CollectFiles(const fs::path& path, std::vector<std::string>& out) {
  if (fs::is_directory(path)) {
    for (const auto& entry : fs::recursive_directory_iterator(path)) {
      if (entry.is_regular_file()) out.push_back(entry.path().generic_string());
    }
  } else if (fs::is_regular_file(path)) {
    out.push_back(path.generic_string());
  } else {
    std::fprintf(stderr, "no such file or directory: %s\n", path.c_str());
    std::exit(2);
  }
}

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace

extern "C" void __sanitizer_cov_8bit_counters_init(uint8_t* begin, uint8_t* end) {
  if (begin != end) Counters().push_back({begin, end});
}

int main(int argc, char** argv) {
  uint64_t seed = 1;
  uint64_t mutations = 0;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if ((arg == "--seed" || arg == "--mutations" || arg == "--artifact") && i + 1 < argc) {
      const char* value = argv[++i];
      if (arg == "--artifact") {
        g_artifact = value;
      } else {
        (arg == "--seed" ? seed : mutations) = std::strtoull(value, nullptr, 10);
      }
    } else if (arg.starts_with("--")) {
      std::fprintf(stderr,
                   "usage: %s [--seed S] [--mutations N] [--artifact FILE] PATH...\n"
                   "Replays every file under PATH in sorted order, then runs N seeded "
                   "mutations.\n",
                   argv[0]);
      return 2;
    } else {
      CollectFiles(argv[i], files);
    }
  }
  std::sort(files.begin(), files.end());
  files.erase(std::unique(files.begin(), files.end()), files.end());
  __sanitizer_set_death_callback(ReportCurrentInput);

  Coverage coverage;
  Digest digest;
  std::vector<Bytes> pool;
  for (const auto& file : files) {
    Bytes input = ReadFile(file);
    if (input.size() > kMaxInputBytes) input.resize(kMaxInputBytes);
    coverage.Reset();
    Run(input);
    coverage.Collect();
    digest.Add(input);
    pool.push_back(std::move(input));
  }
  if (pool.empty()) pool.emplace_back();
  std::printf("replayed %zu files: %zu coverage features, digest %016llx\n", files.size(),
              coverage.features(), static_cast<unsigned long long>(digest.value()));

  Rng rng(seed);
  for (uint64_t round = 0; round < mutations; ++round) {
    Bytes input = pool[rng.Below(pool.size())];
    const size_t count = 1 + rng.Below(4);
    for (size_t i = 0; i < count; ++i) MutateOnce(rng, input, pool);
    coverage.Reset();
    Run(input);
    digest.Add(input);
    if (coverage.Collect() && pool.size() < kMaxPool) pool.push_back(std::move(input));
  }
  std::printf(
      "ran %llu mutations (seed %llu): pool %zu inputs, %zu coverage features, "
      "digest %016llx\n",
      static_cast<unsigned long long>(mutations), static_cast<unsigned long long>(seed),
      pool.size(), coverage.features(), static_cast<unsigned long long>(digest.value()));
  return 0;
}
