#!/usr/bin/env bash
# Installs what is needed, builds everything and runs every test: formatting,
# C++ unit tests under AddressSanitizer+UBSan, the YAML fuzzer, the Python
# package and its tests, a C++ consumer built against the installed package, and
# the Kubernetes test cluster's own tests.
# This is exactly what CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PYTHON=${PYTHON:-python3}
JOBS=${JOBS:-$(nproc)}
# A fixed seed and run count keep CI deterministic (the same inputs every run);
# the time limit only caps a slow machine. Fuzz longer with FUZZ_SEED=0 (random).
FUZZ_SEED=${FUZZ_SEED:-1}
FUZZ_RUNS=${FUZZ_RUNS:-150000}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
step() { printf '\n==== %s\n' "$*"; }

step "dependencies"
bash scripts/setup.sh

step "format: clang-format and ruff"
mapfile -t cxx_files < <(git ls-files '*.h' '*.cc' | grep -v '^tests/fixtures/kubernetes/')
clang-format-14 --dry-run -Werror "${cxx_files[@]}"
"$PYTHON" -m ruff check python tests benchmarks
"$PYTHON" -m ruff format --check python tests benchmarks

step "C++ build (Debug, -Werror, ASan+UBSan) and unit tests"
cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DSKYCORE_WERROR=ON \
  -DSKYCORE_SANITIZE=ON -DSKYCORE_BUILD_BENCHMARKS=OFF >/dev/null
ninja -C build/asan -j "$JOBS"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build/asan --output-on-failure -j "$JOBS"

step "fuzz the YAML loader (${FUZZ_RUNS} runs, seed ${FUZZ_SEED}, at most ${FUZZ_SECONDS}s)"
CXX=clang++-14 cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSKYCORE_BUILD_FUZZERS=ON -DSKYCORE_BUILD_TESTS=OFF -DSKYCORE_BUILD_BENCHMARKS=OFF \
  -DSKYCORE_BUILD_CLI=OFF >/dev/null
ninja -C build/fuzz -j "$JOBS" yaml_fuzz
fuzz_dir=$(mktemp -d)
trap 'rm -rf "$fuzz_dir"' EXIT
mkdir -p "$fuzz_dir/corpus" "$fuzz_dir/artifacts"
if ! build/fuzz/yaml_fuzz -seed="$FUZZ_SEED" -runs="$FUZZ_RUNS" -max_total_time="$FUZZ_SECONDS" -timeout=5 -rss_limit_mb=2048 \
  -print_final_stats=1 -artifact_prefix="$fuzz_dir/artifacts/" \
  "$fuzz_dir/corpus" tests/yaml/valid tests/yaml/invalid >"$fuzz_dir/log" 2>&1; then
  tail -60 "$fuzz_dir/log"
  for input in "$fuzz_dir"/artifacts/*; do
    echo "---- failing input $(basename "$input") (hex):"
    od -An -tx1 -v "$input" | head -40
  done
  exit 1
fi
tail -5 "$fuzz_dir/log"

step "release build, install, and the C++ consumer example"
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release -DSKYCORE_WERROR=ON \
  -DSKYCORE_BUILD_TESTS=OFF -DCMAKE_INSTALL_PREFIX="$ROOT/build/install" >/dev/null
ninja -C build/release -j "$JOBS"
cmake --install build/release >/dev/null
cmake -S examples/cpp_consumer -B build/consumer -G Ninja \
  -DCMAKE_PREFIX_PATH="$ROOT/build/install" >/dev/null
ninja -C build/consumer
build/consumer/validate_task examples/hello.yaml examples/multi_node.yaml

step "SkyPilot 0.14.1 for the differential test (a venv cached outside the clone)"
# tests/python/test_skypilot_differential.py loads every task YAML with SkyPilot's
# own loader and with ours; in CI it fails rather than skip without this.
SKYCORE_SKYPILOT_PYTHON=$(bash tests/skypilot_venv.sh)
export SKYCORE_SKYPILOT_PYTHON

step "Python package (pip install .) and pytest"
"$PYTHON" -m pip install -q . 2>&1 | grep -v "Running pip as the 'root' user" || true
set +e
"$PYTHON" -m pytest -q tests/python
rc=$?
set -e
if [[ $rc -eq 5 ]]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
[[ $rc -eq 0 ]] || exit "$rc"

step "Kubernetes test cluster: real API server, scheduler and process-backed nodes"
# Builds the control plane from Go modules once (cached outside the clone, keyed
# by version), starts it on loopback, runs its tests and stops every process.
bash tests/k8s/run.sh

step "all tests passed"
