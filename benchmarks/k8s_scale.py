"""Times the Kubernetes inventory on a large cluster through the real `sky`.

    python3 benchmarks/k8s_scale.py [--sky build/rel/sky] [--nodes 7500] [--runs 5]
    python3 benchmarks/k8s_scale.py --nodes 0   # the test cluster's own nodes only

Starts the test cluster (scripts/k8s-test-cluster) under its own
SKYCORE_K8S_ROOT in a temporary directory, adds N agent-less scale-mode nodes
of mixed GPU types, and times:
  check      `sky check kubernetes`: lists nodes and pods and caches
             <state_dir>/kubernetes/inventory.json (target < 2 s)
  show-gpus  `sky show-gpus --infra k8s` right after (target < 300 ms)
  optimize   `sky optimize` of an `H100:8` task on `infra: k8s`, process
             included; the optimizer alone is benchmarks/k8s_bench.cc
             (BM_OptimizeK8sH100x8, target < 5 ms warm)
  dryrun     `sky launch --dryrun --infra k8s -- true` (the default 2CPU--2GB
             pod), planned from the cached inventory (target < 20 ms)
Each figure is the median of --runs runs. The cluster is always taken down.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import subprocess
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "k8s-test-cluster"


def timed(cmd: list[str], env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sky", default=str(REPO / "build" / "rel" / "sky"))
    parser.add_argument("--nodes", type=int, default=7500)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="skycore-k8s-scale-") as tmp:
        root = pathlib.Path(tmp)
        cluster_env = dict(os.environ, SKYCORE_K8S_ROOT=str(root / "cluster"))
        try:
            up = subprocess.run(
                [str(SCRIPT), "up"],
                env=cluster_env,
                capture_output=True,
                text=True,
                timeout=600,
                check=True,
            )
            kubeconfig = up.stdout.strip().splitlines()[-1]
            if args.nodes > 0:
                subprocess.run(
                    [str(SCRIPT), "scale", str(args.nodes)],
                    env=cluster_env,
                    timeout=600,
                    check=True,
                )
            state = root / "state"
            state.mkdir()
            env = dict(os.environ, KUBECONFIG=kubeconfig, SKYCORE_STATE_DIR=str(state), CI="1")
            task = root / "task.yaml"
            task.write_text("resources:\n  infra: k8s\n  accelerators: H100:8\nrun: nvidia-smi\n")
            sky = args.sky
            figures = {
                "check": [timed([sky, "check", "kubernetes"], env) for _ in range(args.runs)],
                "show-gpus": [
                    timed([sky, "show-gpus", "--infra", "k8s"], env) for _ in range(args.runs)
                ],
                "optimize": [timed([sky, "optimize", str(task)], env) for _ in range(args.runs)],
                "dryrun": [
                    timed([sky, "launch", "--dryrun", "--infra", "k8s", "--", "true"], env)
                    for _ in range(args.runs)
                ],
            }
            targets = {"check": 2.0, "show-gpus": 0.3, "optimize": None, "dryrun": 0.02}
            print(f"{args.nodes} scale-mode nodes, median of {args.runs} runs:")
            for name, runs in figures.items():
                median = statistics.median(runs)
                target = targets[name]
                verdict = "" if target is None else ("met" if median < target else "MISSED")
                bound = f"< {target * 1000:.0f} ms" if target else "(process; see k8s_bench)"
                print(
                    f"  {name:10s} {median * 1000:8.1f} ms  min {min(runs) * 1000:8.1f} ms  "
                    f"target {bound} {verdict}"
                )
        finally:
            subprocess.run([str(SCRIPT), "down"], env=cluster_env, timeout=300, check=False)


if __name__ == "__main__":
    main()
