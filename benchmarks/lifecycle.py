"""Times the cluster life cycle through the real `sky` command on the local infra.

    python3 benchmarks/lifecycle.py [--sky PATH] [--runs N]

Reports, as medians over N runs (each on a fresh state directory):
  launch -d    `sky launch -d` of a one-line task on a new cluster: until the
               command returns, and until the job is RUNNING (target < 150 ms)
  exec -d      `sky exec -d` on an UP cluster, likewise (target < 30 ms)
  sky status   with the clusters launched above
  RSS          peak resident set of a `sky status` process (target < 30 MiB)
               and of an idle agent (target < 15 MiB)
"Until RUNNING" is read from the agent's job table directly (SQLite, read-only),
so the figure does not include another `sky` process start.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import sqlite3
import statistics
import subprocess
import sysconfig
import tempfile
import time


def sky_path(given: str | None) -> str:
    if given:
        return given
    return str(pathlib.Path(sysconfig.get_path("scripts")) / "sky")


class Bench:
    def __init__(self, sky: str, root: pathlib.Path) -> None:
        self.sky = sky
        self.state = root / "state"
        self.env = dict(os.environ, SKYCORE_STATE_DIR=str(self.state), HOME=str(root), CI="1")

    def run(self, *args: str) -> tuple[float, int]:
        """Wall seconds and peak RSS (KiB) of one `sky` process."""
        start = time.perf_counter()
        proc = subprocess.Popen(
            [self.sky, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=self.env,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise SystemExit(f"sky {' '.join(args)} failed: {proc.stderr.read().decode()}")
        return elapsed, usage.ru_maxrss

    def wait_running(self, cluster: str, job_id: int, start: float) -> float:
        db = self.state / "clusters" / cluster / "agent" / "jobs.db"
        deadline = time.perf_counter() + 30
        while time.perf_counter() < deadline:
            try:
                with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
                    row = conn.execute(
                        "SELECT status FROM jobs WHERE job_id = ?", (job_id,)
                    ).fetchone()
                if row and row[0] not in ("INIT", "PENDING", "SETTING_UP"):
                    return time.perf_counter() - start
            except sqlite3.Error:
                pass
            time.sleep(0.0005)
        raise SystemExit(f"job {job_id} on {cluster} did not start")

    def agent_rss_kib(self, cluster: str) -> int:
        with sqlite3.connect(f"file:{self.state / 'state.db'}?mode=ro", uri=True) as conn:
            handle = json.loads(
                conn.execute("SELECT handle FROM clusters WHERE name = ?", (cluster,)).fetchone()[0]
            )
        for line in pathlib.Path(f"/proc/{handle['agent_pid']}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sky", help="the sky binary (default: the installed one)")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    root = pathlib.Path(tempfile.mkdtemp(prefix="skycore-lifecycle-"))
    bench = Bench(sky_path(args.sky), root)
    launch_return, launch_running, exec_return, exec_running = [], [], [], []
    try:
        bench.run("status")  # creates the state database
        for i in range(args.runs):
            start = time.perf_counter()
            elapsed, _ = bench.run("launch", "-y", "-d", "-c", f"b{i}", "--", "sleep 60")
            launch_return.append(elapsed)
            launch_running.append(bench.wait_running(f"b{i}", 1, start))
        for j in range(args.runs):
            start = time.perf_counter()
            elapsed, _ = bench.run("exec", "-d", "--cpus", "0.01", "b0", "--", "sleep 60")
            exec_return.append(elapsed)
            exec_running.append(bench.wait_running("b0", j + 2, start))
        status = [bench.run("status") for _ in range(args.runs)]
        time.sleep(1)
        agent_rss = bench.agent_rss_kib("b1")

        def ms(values: list[float]) -> str:
            return f"{statistics.median(values) * 1000:7.1f} ms"

        print(f"launch -d (new cluster): returns {ms(launch_return)}, RUNNING {ms(launch_running)}")
        print(f"exec -d (UP cluster):    returns {ms(exec_return)}, RUNNING {ms(exec_running)}")
        print(f"sky status ({args.runs} clusters):  {ms([s[0] for s in status])}")
        print(
            f"RSS: sky status {max(s[1] for s in status) / 1024:.1f} MiB, "
            f"idle agent {agent_rss / 1024:.1f} MiB"
        )
    finally:
        subprocess.run(
            [bench.sky, "down", "-a", "-y", "--purge"],
            env=bench.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            check=False,
            timeout=300,
        )
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
