#!/usr/bin/env bash
# Creates (once) a test-only virtual environment with SkyPilot from PyPI and
# prints the path of its python. The venv lives outside the clone, keyed by
# version, and is reused when present. Only the differential test
# (tests/python/test_skypilot_differential.py) uses it; skycore never imports
# SkyPilot at run time.
#
#   python=$(bash tests/skypilot_venv.sh)          # SkyPilot 0.14.1
#   SKYPILOT_VERSION=0.14.1 bash tests/skypilot_venv.sh
set -euo pipefail

version="${SKYPILOT_VERSION:-0.14.1}"
cache="${SKYCORE_TEST_CACHE:-$HOME/.cache/skycore-test}"
venv="$cache/skypilot-$version"
python_bin="${PYTHON:-python3}"

# A finished venv has a marker written after a successful install; a venv
# left half-built by an interrupted run is rebuilt from scratch.
if [[ ! -f "$venv/.complete" ]]; then
  rm -rf "$venv"
  mkdir -p "$cache"
  echo "creating $venv (SkyPilot $version from PyPI)" >&2
  "$python_bin" -m venv "$venv" >&2
  "$venv/bin/python" -m pip install -q --disable-pip-version-check \
    "skypilot==$version" >&2
  "$venv/bin/python" -c "import sky.utils.dag_utils" >&2
  echo "$version" >"$venv/.complete"
fi
echo "$venv/bin/python"
