#!/usr/bin/env bash
# Creates (once) the test-only virtual environment of the cloud test fixture
# (moto, boto3, the Azure and Google SDKs, Lambda's and RunPod's clients:
# tests/fixtures/cloud/requirements.txt) and prints the path of
# its python. The venv lives outside the clone, keyed by a hash of the pinned
# requirements, and is reused when present; concurrent callers wait for the
# one that builds it. skycore never imports any of it at run time.
#
#   python=$(bash tests/cloud_venv.sh)
#
# Environment: SKYCORE_TEST_CACHE (default ~/.cache/skycore-test), PYTHON.
set -euo pipefail

if [[ "${1:-}" == "-h" || "${1:-}" == "--help" ]]; then
  awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"
  exit 0
fi

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
requirements="$here/fixtures/cloud/requirements.txt"
hash=$(sha256sum "$requirements" | cut -c1-12)
cache="${SKYCORE_TEST_CACHE:-$HOME/.cache/skycore-test}"
venv="$cache/cloud-fixture-$hash"
python_bin="${PYTHON:-python3}"

if [[ ! -f "$venv/.complete" ]]; then
  mkdir -p "$cache"
  exec 9>"$venv.lock"
  flock 9
  # A finished venv has a marker written after a successful install; a venv
  # left half-built by an interrupted run is rebuilt from scratch.
  if [[ ! -f "$venv/.complete" ]]; then
    rm -rf "$venv"
    echo "creating $venv (moto, boto3, azure-mgmt-*)" >&2
    "$python_bin" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" >&2
    "$venv/bin/python" -c "import moto.server, boto3, cryptography, azure.mgmt.compute" >&2
    "$venv/bin/python" -c "import googleapiclient.discovery, google.oauth2, jsonschema" >&2
    cp "$requirements" "$venv/.complete"
  fi
  exec 9>&-
fi
echo "$venv/bin/python"
