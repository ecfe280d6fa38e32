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
# The fuzz step is deterministic: the same inputs, in the same order, on every
# machine (see the step below). FUZZ_SEED and FUZZ_MUTATIONS change what it runs.
FUZZ_SEED=${FUZZ_SEED:-1}
FUZZ_MUTATIONS=${FUZZ_MUTATIONS:-200000}
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

step "fuzz the YAML loader: replay the corpus, then ${FUZZ_MUTATIONS} mutations (seed ${FUZZ_SEED})"
# yaml_fuzz_ci is the libFuzzer target under tests/fuzz/deterministic_driver.cc:
# it replays every file of the regression corpus (tests/fuzz/corpus) and of the
# YAML corpus (tests/yaml) in sorted order, then runs a fixed number of
# mutations drawn from a seeded generator, keeping the inputs that reach new
# coverage. Nothing depends on time or on directory order, so every machine
# runs exactly the same inputs: compare the digests it prints. (libFuzzer's own
# -seed/-runs does not give that: its corpus order comes from the directory
# listing and it reloads and stops by wall-clock time.) Long random fuzzing
# with libFuzzer is a separate command, not part of CI (README, "Fuzzing"):
#   build/fuzz/yaml_fuzz -max_total_time=600 NEW_DIR tests/fuzz/corpus tests/yaml/valid tests/yaml/invalid
CXX=clang++-14 cmake -S . -B build/fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSKYCORE_BUILD_FUZZERS=ON -DSKYCORE_BUILD_TESTS=OFF -DSKYCORE_BUILD_BENCHMARKS=OFF \
  -DSKYCORE_BUILD_CLI=OFF >/dev/null
ninja -C build/fuzz -j "$JOBS" yaml_fuzz yaml_fuzz_ci
fuzz_dir=$(mktemp -d)
trap 'rm -rf "$fuzz_dir"' EXIT
if ! build/fuzz/yaml_fuzz_ci --seed "$FUZZ_SEED" --mutations "$FUZZ_MUTATIONS" \
  --artifact build/fuzz/failing-input tests/fuzz/corpus tests/yaml/valid tests/yaml/invalid \
  tests/yaml/extensions >"$fuzz_dir/log" 2>&1; then
  tail -200 "$fuzz_dir/log"
  echo "the failing input is in build/fuzz/failing-input: fix the bug, then add it to tests/fuzz/corpus/" >&2
  exit 1
fi
cat "$fuzz_dir/log"

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

step "AWS test cloud: moto and boto3 for the cloud fixture (a venv cached outside the clone)"
# tests/python/cloud_fixture.py starts scripts/cloud-test-fixture with this
# python; in CI the cloud tests fail rather than skip without it.
SKYCORE_CLOUD_PYTHON=$(bash tests/cloud_venv.sh)
export SKYCORE_CLOUD_PYTHON

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
