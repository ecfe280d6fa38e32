#!/usr/bin/env bash
# Sets up skycore on this machine and runs the main job: `sky launch` of the
# example task. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PYTHON=${PYTHON:-python3}
echo "quickstart: building and installing skycore (pip install .)"
"$PYTHON" -m pip install -q . 2>&1 | grep -v "Running pip as the 'root' user" || true
SKY="$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))')/sky"
echo "quickstart: $SKY launch -y -c quickstart examples/hello.yaml"
"$SKY" launch -y -c quickstart examples/hello.yaml
"$SKY" status
echo "quickstart: $SKY down -y quickstart"
"$SKY" down -y quickstart
