"""Managed-jobs benchmarks through the Python SDK and the real `sky` command,
on the local infra, in a throwaway HOME and state directory.

    python3 benchmarks/managed_jobs.py [--bin-dir DIR] [--submissions 1000]
        [--queue-rows 10000] [--throughput 50]

Needs the `sky` package importable (PYTHONPATH holding `sky/` with its
_skycore module) and the `sky` and `skyletd` programs in --bin-dir.

Reports:
  submit      --submissions `sky.jobs.launch` calls from this process:
              "ids returned" (every call gave its request id) and "all
              accepted" (every request's job id back from `sky.get`);
              target < 2 s for 1,000
  queue       `sky jobs queue` (the command, process start included) with
              --queue-rows jobs in the table; target < 100 ms
  rss         the controller's resident memory with those jobs known
  recovery    a RUNNING job's local cluster killed (its agent and processes,
              as losing the machine would): time until the job is RUNNING
              again on a new cluster; target < 3 s
  throughput  --throughput jobs submitted at once with that many launch
              slots: jobs per second from the first submission to every one
              RUNNING on its own local cluster; target >= 100/s

Every controller and cluster it started is stopped (by pid, `sky jobs
cancel -a`, `sky down -a`) before it exits.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))


def controller_pid(state: pathlib.Path) -> int | None:
    try:
        return int((state / "managed_jobs" / "controller.pid").read_text())
    except (OSError, ValueError):
        return None


def stop_controller(state: pathlib.Path) -> None:
    pid = controller_pid(state)
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


def rss_mib(pid: int) -> float:
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def statuses(state: pathlib.Path) -> dict[int, str]:
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True, timeout=30) as db:
        return dict(db.execute("SELECT job_id, status FROM managed_jobs"))


def wait_all(state: pathlib.Path, ids: list[int], wanted: set[str], deadline_s: float) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        now = statuses(state)
        if all(now.get(i) in wanted for i in ids):
            return
        time.sleep(0.02)
    raise SystemExit(f"jobs did not reach {wanted} within {deadline_s} s")


def sky_cmd(bin_dir: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / "sky"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def fill_table(state: pathlib.Path, rows: int) -> None:
    """Copies the first (finished) job until the table holds `rows` jobs."""
    with sqlite3.connect(state / "state.db", timeout=30) as db:
        columns = [c[1] for c in db.execute("PRAGMA table_info(managed_jobs)")]
        template = list(db.execute("SELECT * FROM managed_jobs ORDER BY job_id LIMIT 1").fetchone())
        have = db.execute("SELECT MAX(job_id) FROM managed_jobs").fetchone()[0]
        at = columns.index("job_id")
        new_rows = []
        for job_id in range(have + 1, rows + 1):
            template[at] = job_id
            new_rows.append(tuple(template))
        marks = ", ".join("?" * len(columns))
        db.executemany(f"INSERT INTO managed_jobs VALUES ({marks})", new_rows)


def recovery_count(state: pathlib.Path, job_id: int) -> tuple[str, int]:
    with sqlite3.connect(f"file:{state / 'state.db'}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(
            "SELECT status, recovery_count FROM managed_jobs WHERE job_id = ?", (job_id,)
        ).fetchone()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin-dir", default=os.environ.get("SKYCORE_BIN_DIR", "build/release"))
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--queue-rows", type=int, default=10000)
    parser.add_argument("--throughput", type=int, default=50)
    args = parser.parse_args()
    bin_dir = pathlib.Path(args.bin_dir).resolve()
    home = pathlib.Path(tempfile.mkdtemp(prefix="skyjobsbench"))
    state = home / ".sky"
    os.environ.update(
        HOME=str(home),
        SKYCORE_STATE_DIR=str(state),
        SKYCORE_BIN_DIR=str(bin_dir),
        USER="bench",
        CI="1",
        # One launch slot while submitting: the controller's launches do not
        # compete with the submissions for the CPUs.
        SKYCORE_JOBS_MAX_ACTIVE="1",
    )
    import sky

    try:
        task = sky.Task(name="bench", run="true", resources=sky.Resources(infra="local"))
        started = time.perf_counter()
        requests = [sky.jobs.launch(task) for _ in range(args.submissions)]
        returned = time.perf_counter() - started
        ids = [sky.get(r)[0][0] for r in requests]
        accepted = time.perf_counter() - started
        assert sorted(ids) == list(range(1, args.submissions + 1))
        print(
            f"submit      {args.submissions} sky.jobs.launch: ids returned {returned:.3f} s, "
            f"all accepted {accepted:.3f} s ({args.submissions / accepted:.0f}/s)"
        )
        sky_cmd(bin_dir, "jobs", "cancel", "-a", "-y")
        wait_all(state, ids, {"SUCCEEDED", "CANCELLED"}, 120)
        stop_controller(state)

        fill_table(state, args.queue_rows)
        times = []
        for _ in range(5):
            t = time.perf_counter()
            result = sky_cmd(bin_dir, "jobs", "queue")
            times.append(time.perf_counter() - t)
            assert result.returncode == 0, result.stderr
        lines = len(result.stdout.splitlines())
        print(
            f"queue       sky jobs queue, {args.queue_rows} jobs ({lines} lines): "
            f"median {statistics.median(times) * 1000:.0f} ms, best {min(times) * 1000:.0f} ms"
        )

        n = args.throughput
        os.environ["SKYCORE_JOBS_MAX_ACTIVE"] = str(n)
        sleeper = sky.Task(name="tp", run="sleep 600", resources=sky.Resources(infra="local"))
        started = time.perf_counter()
        tp_ids = [sky.get(r)[0][0] for r in [sky.jobs.launch(sleeper) for _ in range(n)]]
        submitted = time.perf_counter() - started
        wait_all(state, tp_ids, {"RUNNING"}, 600)
        running = time.perf_counter() - started
        print(
            f"throughput  {n} jobs to RUNNING: {running:.2f} s ({n / running:.1f} jobs/s; "
            f"submission {submitted:.2f} s)"
        )
        pid = controller_pid(state)
        if pid is not None:
            print(
                f"rss         controller with {args.queue_rows + n} jobs known, {n} running: "
                f"{rss_mib(pid):.1f} MiB"
            )
        sky_cmd(bin_dir, "jobs", "cancel", "-a", "-y")
        wait_all(state, tp_ids, {"CANCELLED", "SUCCEEDED", "FAILED"}, 300)

        from test_managed_jobs import _preempt_local_cluster

        (job_id,), _ = sky.get(sky.jobs.launch(sleeper))
        wait_all(state, [job_id], {"RUNNING"}, 120)
        time.sleep(0.5)
        started = time.perf_counter()
        _preempt_local_cluster(state, f"tp-{job_id}")
        deadline = time.monotonic() + 60
        while recovery_count(state, job_id) != ("RUNNING", 1):
            if time.monotonic() > deadline:
                raise SystemExit(f"job {job_id} did not recover within 60 s")
            time.sleep(0.01)
        recovered = time.perf_counter() - started
        print(f"recovery    local cluster killed -> RUNNING again: {recovered:.2f} s")
        sky_cmd(bin_dir, "jobs", "cancel", "-a", "-y")
        wait_all(state, [job_id], {"CANCELLED"}, 120)
    finally:
        stop_controller(state)
        down = sky_cmd(bin_dir, "down", "-a", "-y")
        if down.returncode != 0:
            print(down.stdout + down.stderr, file=sys.stderr)
        else:
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
