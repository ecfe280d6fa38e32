#!/usr/bin/env bash
# Installs what skycore needs to build and test, on Debian 12. Idempotent: a
# second run checks and returns in about a second.
set -euo pipefail

DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config git rsync openssh-server openssh-client
  libyaml-cpp-dev nlohmann-json3-dev libfmt-dev libboost-dev libcurl4-openssl-dev libssl-dev
  libsqlite3-dev sqlite3 zlib1g-dev libpugixml-dev libgtest-dev libbenchmark-dev libcli11-dev pybind11-dev
  clang-14 libclang-rt-14-dev clang-format-14
  wrk  # the load generator of benchmarks/serve_lb.py
)
# The test Slurm cluster (tests/python/slurm_fixture.py) runs these daemons with
# its own configs; the system's own services are never used.
SLURM_PACKAGES=(slurmctld slurmd slurm-client munge)
PY_PACKAGES=(scikit-build-core pybind11 pytest ruff nbclient nbformat ipykernel)

missing=()
for pkg in "${DEB_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

slurm_missing=()
for pkg in "${SLURM_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || slurm_missing+=("$pkg")
done
if ((${#slurm_missing[@]})); then
  echo "setup: installing Slurm packages: ${slurm_missing[*]}"
  SUDO=""
  [[ $(id -u) -ne 0 ]] && SUDO="sudo"
  # Their postinst scripts would start a system munged, slurmctld and slurmd
  # (which the tests neither need nor may touch). A policy-rc.d that answers
  # 101 forbids that; one already present (containers ship one) is left as is,
  # and the one added here is removed again.
  added_policy=""
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${slurm_missing[@]}" >/dev/null
  # On a systemd machine the packages also enable their units for the next
  # boot; undo that for the ones installed here.
  if command -v systemctl >/dev/null 2>&1; then
    for unit in "${slurm_missing[@]}"; do
      [[ $unit == slurm-client ]] && continue
      $SUDO systemctl disable --quiet "$unit" 2>/dev/null || true
    done
  fi
  if [[ -n $added_policy ]]; then
    $SUDO rm -f /usr/sbin/policy-rc.d
    trap - EXIT
  fi
fi

PYTHON=${PYTHON:-python3}
py_missing=()
for pkg in "${PY_PACKAGES[@]}"; do
  mod=${pkg//-/_}
  "$PYTHON" -c "import ${mod}" 2>/dev/null || py_missing+=("$pkg")
done
if ((${#py_missing[@]})); then
  echo "setup: installing Python packages: ${py_missing[*]}"
  "$PYTHON" -m pip install -q "${py_missing[@]}"
fi
# The Kubernetes test cluster is built from Go modules and needs a current Go.
if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go is not installed; the Kubernetes test cluster needs Go >= 1.24 (https://go.dev/dl)." >&2
  exit 1
fi
echo "setup: all dependencies present"
