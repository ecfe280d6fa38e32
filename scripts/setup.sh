#!/usr/bin/env bash
# Installs what skycore needs to build and test, on Debian 12. Idempotent: a
# second run checks and returns in about a second.
set -euo pipefail

DEB_PACKAGES=(
  build-essential cmake ninja-build pkg-config git rsync openssh-server openssh-client
  libyaml-cpp-dev nlohmann-json3-dev libfmt-dev libboost-dev libcurl4-openssl-dev libssl-dev
  libsqlite3-dev sqlite3 libgtest-dev libbenchmark-dev libcli11-dev pybind11-dev
  clang-14 libclang-rt-14-dev clang-format-14
)
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
