"""Start-up costs a user feels: `import sky` and `sky --help`.

Targets: `import sky` adds < 30 ms over a bare interpreter; `sky --help` < 20 ms.
Runs each command N times and prints min / median in milliseconds.

    python benchmarks/startup.py [--runs 30]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path


def timed(cmd: list[str], runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def report(name: str, samples: list[float]) -> float:
    median = statistics.median(samples)
    print(f"{name:<28} min {min(samples):7.1f} ms   median {median:7.1f} ms")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    sky = str(Path(sysconfig.get_path("scripts")) / "sky")
    bare = report("python -c pass", timed([sys.executable, "-c", "pass"], args.runs))
    with_sky = report(
        "python -c 'import sky'", timed([sys.executable, "-c", "import sky"], args.runs)
    )
    print(f"{'import sky adds':<28} {with_sky - bare:7.1f} ms (target < 30 ms)")
    report("sky --help", timed([sky, "--help"], args.runs))
    report(
        "sky launch --dryrun hello",
        timed([sky, "launch", "--dryrun", "examples/hello.yaml"], args.runs),
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
