"""Times launches on remote infra through the real `sky` command, against
throwaway daemons on loopback (tests/python/sshd_fixture.py and slurm_fixture.py).

    python3 benchmarks/remote_launch.py [--sky PATH] [--only ssh|fanout|slurm] [--runs N]

Reports the median and the best of N runs; each run launches a new cluster
(`sky launch -d`) and takes it down again:
  ssh      a 4-node task on a 4-host SSH node pool (probed by `sky check ssh`,
           agent installed by `sky ssh up`) until its job is RUNNING
           (target < 2 s), then `sky exec -d` on that cluster until the new
           job is RUNNING (target < 300 ms)
  fanout   a task whose `setup:` sleeps 1 s, on 1 node and on 8 nodes of an
           8-host pool, until RUNNING (target: 8 nodes take at most 1.5x 1 node)
  slurm    a 2-node task on a Slurm cluster until RUNNING, counted from the
           moment Slurm granted the allocation (target < 2 s), and in total

"Until RUNNING" is read from the agent's job table on the cluster's head host
directly (SQLite, read-only: the hosts are directories of this machine), as
benchmarks/lifecycle.py does, so no extra `sky` process or ssh round trip is
counted. Slurm's grant is the `Allocate`/`Started` line of the job in
slurmctld's log (millisecond timestamps).

Needs root (the sshd hosts log in as root) and openssh-server, munge and Slurm
(scripts/setup.sh installs them). Every daemon runs on a loopback address and
is stopped by PID when the harness exits, failed or not.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import pathlib
import re
import shutil
import sqlite3
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

import slurm_fixture  # noqa: E402
import sshd_fixture  # noqa: E402

WAIT_S = 60  # bound of every wait for a job state
NOT_STARTED = ("INIT", "PENDING", "SETTING_UP")


def sky_path(given: str | None) -> str:
    if given:
        return given
    return str(pathlib.Path(sysconfig.get_path("scripts")) / "sky")


class Sky:
    """One isolated `sky`: its own state directory, SSH config, ~/.slurm/config
    and (short) shared-connection directory."""

    def __init__(self, binary: str, root: pathlib.Path) -> None:
        self.binary = binary
        self.state = root / "state"
        self.state.mkdir()
        self.control = pathlib.Path(tempfile.mkdtemp(prefix="skyctl"))
        self.env = dict(os.environ)
        self.env.pop("SLURM_CONF", None)  # sky finds Slurm through the login node
        self.env.update(
            SKYCORE_STATE_DIR=str(self.state),
            SKYCORE_SSH_CONFIG=str(root / "ssh_config"),
            SKYCORE_SLURM_CONFIG=str(root / "slurm_config"),
            SKYCORE_SSH_CONTROL_DIR=str(self.control),
            CI="1",
        )

    def run(self, *args: str, timeout: float = 120) -> float:
        """Runs `sky ARGS`; returns its wall seconds, exits on failure."""
        start = time.perf_counter()
        result = subprocess.run(
            [self.binary, *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
            check=False,
        )
        elapsed = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"sky {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
        return elapsed

    def close(self) -> None:
        """Downs every cluster left and closes the shared ssh connections."""
        subprocess.run(
            [self.binary, "down", "-a", "-y", "--purge"],
            env=self.env,
            capture_output=True,
            timeout=300,
            check=False,
        )
        sshd_fixture.remove_control_dir(self.control)


def job_status(db: pathlib.Path, job_id: int) -> str | None:
    if not db.exists():
        return None
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def wait_running(
    homes: list[pathlib.Path], cluster: str, job_id: int, start: float
) -> tuple[float, float | None]:
    """Seconds from `start` (perf_counter) until job `job_id` of `cluster` left
    INIT/PENDING/SETTING_UP, and until it was first seen SETTING_UP (None when
    never), reading the job table of whichever host in `homes` is the head."""
    dbs = [home / "clusters" / cluster / "agent" / "jobs.db" for home in homes]
    setting_up = None
    deadline = time.perf_counter() + WAIT_S
    while time.perf_counter() < deadline:
        for db in dbs:
            status = job_status(db, job_id)
            if status is None:
                continue
            now = time.perf_counter() - start
            if status == "SETTING_UP" and setting_up is None:
                setting_up = now
            if status not in NOT_STARTED:
                if status != "RUNNING":
                    raise SystemExit(f"job {job_id} of {cluster} ended {status}")
                return now, setting_up
            dbs = [db]  # the head found: read only its table
            break
        time.sleep(0.001)
    raise SystemExit(f"job {job_id} of {cluster} not RUNNING after {WAIT_S} s")


@contextlib.contextmanager
def sky_session(binary: str) -> Iterator[Sky]:
    root = pathlib.Path(tempfile.mkdtemp(prefix="skybench"))
    sky = Sky(binary, root)
    try:
        yield sky
    finally:
        sky.close()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def ssh_pool(binary: str, count: int) -> Iterator[tuple[Sky, list[pathlib.Path]]]:
    """`count` sshd hosts as SSH node pool `bench`, checked and with the agent
    installed; yields the sky and the hosts' SKYCORE_HOME directories."""
    with sshd_fixture.running_sshd_hosts([""] * count) as hosts, sky_session(binary) as sky:
        if all(h.port == 22 for h in hosts.hosts):
            entries = [h.address for h in hosts.hosts]
        else:  # 127.0.0.1 on high ports: aliases of an SSH config give the ports
            pathlib.Path(sky.env["SKYCORE_SSH_CONFIG"]).write_text(
                "".join(
                    f"Host sshd{i}\n  HostName {h.address}\n  Port {h.port}\n"
                    for i, h in enumerate(hosts.hosts)
                )
            )
            entries = [f"sshd{i}" for i in range(count)]
        (sky.state / "ssh_node_pools.yaml").write_text(
            f"bench:\n  user: root\n  identity_file: {hosts.user_key}\n"
            f"  hosts: [{', '.join(entries)}]\n"
        )
        sky.run("check", "ssh")
        sky.run("ssh", "up", "--infra", "bench")
        yield sky, [h.directory / "home" for h in hosts.hosts]


class Figures:
    """Rows of (figure, median, best, target and whether the median meets it)."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str, str]] = []

    def add(self, name: str, values: list[float], target: str = "", met: bool = True) -> None:
        self.note(name, ms(statistics.median(values)), ms(min(values)), target, met)

    def note(self, name: str, median: str, best: str, target: str, met: bool) -> None:
        verdict = "" if not target else ("met" if met else "MISSED")
        self.rows.append((name, median, best, f"{target} {verdict}".strip()))

    def print(self) -> None:
        header = ("figure", "median", "best", "target")
        widths = [max(len(r[i]) for r in [header, *self.rows]) for i in range(4)]
        for row in [header, *self.rows]:
            print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def bench_ssh(binary: str, runs: int, figures: Figures) -> None:
    launch_return, launch_running, exec_return, exec_running, down = [], [], [], [], []
    with ssh_pool(binary, 4) as (sky, homes):
        for i in range(runs):
            cluster = f"s{i}"
            start = time.perf_counter()
            launch = ("launch", "-y", "-d", "-c", cluster, "--infra", "ssh/bench", "--num-nodes")
            launch_return.append(sky.run(*launch, "4", "--", "sleep 300"))
            launch_running.append(wait_running(homes, cluster, 1, start)[0])
            start = time.perf_counter()
            exec_return.append(sky.run("exec", "-d", "--cpus", "0.01", cluster, "--", "sleep 300"))
            exec_running.append(wait_running(homes, cluster, 2, start)[0])
            down.append(sky.run("down", "-y", cluster))
    figures.add("ssh: launch -d 4 nodes, returns", launch_return)
    median = statistics.median(launch_running)
    figures.add("ssh: launch -d 4 nodes, RUNNING", launch_running, "< 2000 ms", median < 2.0)
    figures.add("ssh: exec -d, returns", exec_return)
    median = statistics.median(exec_running)
    figures.add("ssh: exec -d, RUNNING", exec_running, "< 300 ms", median < 0.3)
    figures.add("ssh: down 4 nodes", down)


def bench_fanout(binary: str, runs: int, figures: Figures) -> None:
    total: dict[int, list[float]] = {1: [], 8: []}
    setup: dict[int, list[float]] = {1: [], 8: []}
    with ssh_pool(binary, 8) as (sky, homes):
        tasks = {}
        for nodes in total:
            tasks[nodes] = sky.state.parent / f"setup{nodes}.yaml"
            tasks[nodes].write_text(f"num_nodes: {nodes}\nsetup: sleep 1\nrun: sleep 300\n")
        for i in range(runs):
            for nodes, task in tasks.items():
                cluster = f"f{nodes}-{i}"
                start = time.perf_counter()
                sky.run("launch", "-y", "-d", "-c", cluster, "--infra", "ssh/bench", str(task))
                running, setting_up = wait_running(homes, cluster, 1, start)
                total[nodes].append(running)
                if setting_up is not None:
                    setup[nodes].append(running - setting_up)
                sky.run("down", "-y", cluster)
    for nodes in total:
        figures.add(f"fanout: setup 1 s, {nodes} node(s), RUNNING", total[nodes])
        if len(setup[nodes]) == runs:
            figures.add(f"fanout: {nodes} node(s), SETTING_UP->RUNNING", setup[nodes])
    ratio = statistics.median(total[8]) / statistics.median(total[1])
    best = min(total[8]) / min(total[1])
    figures.note("fanout: 8 / 1 node(s)", f"{ratio:.2f}x", f"{best:.2f}x", "<= 1.5x", ratio <= 1.5)


_LOG_TIME = re.compile(r"^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\] (.*)$")


def grant_time(cluster: slurm_fixture.SlurmCluster, job_id: str) -> float | None:
    """Wall-clock time (time.time()) at which slurmctld started job `job_id`,
    from its log; None when the log does not say."""
    log = cluster.directory / "log" / "slurmctld.log"
    wanted = re.compile(rf"\b(Allocate|Started) JobId={job_id}\b")
    for line in log.read_text(errors="replace").splitlines():
        match = _LOG_TIME.match(line)
        if match and wanted.search(match.group(2)):
            return datetime.datetime.fromisoformat(match.group(1)).timestamp()
    return None


def squeue_start(cluster: slurm_fixture.SlurmCluster, job_id: str) -> float | None:
    """The job's start time as squeue gives it (1 s resolution)."""
    out = cluster.run("squeue", "-h", "-j", job_id, "-o", "%S").stdout.strip()
    try:
        return datetime.datetime.fromisoformat(out).timestamp()
    except ValueError:
        return None


def bench_slurm(binary: str, runs: int, figures: Figures) -> None:
    after_grant, total, down = [], [], []
    coarse = False
    with slurm_fixture.running_slurm_cluster() as cluster, sky_session(binary) as sky:
        pathlib.Path(sky.env["SKYCORE_SLURM_CONFIG"]).write_text(cluster.slurm_config_entry())
        sky.run("check", "slurm")
        home = cluster.directory / "login" / "home"
        for i in range(runs):
            name = f"u{i}"
            start, wall_start = time.perf_counter(), time.time()
            sky.run(
                "launch", "-y", "-d", "-c", name, "--infra", f"slurm/{cluster.name}",
                "--num-nodes", "2", "--", "sleep 300",
            )  # fmt: skip
            running, _ = wait_running([home], name, 1, start)
            running_wall = wall_start + running
            total.append(running)
            jobs = cluster.run("squeue", "-h", "-n", f"sky-{name}", "-o", "%i").stdout.split()
            if len(jobs) != 1:
                raise SystemExit(f"expected one allocation sky-{name}, Slurm has {jobs}")
            granted = grant_time(cluster, jobs[0])
            if granted is None:
                granted, coarse = squeue_start(cluster, jobs[0]), True
            if granted is None:
                raise SystemExit(f"no start time for Slurm job {jobs[0]}")
            after_grant.append(running_wall - granted)
            down.append(sky.run("down", "-y", name))
            wait_for(lambda n=name: not allocations(cluster, n), f"allocation sky-{name} to end")
    median = statistics.median(after_grant)
    label = "slurm: RUNNING after grant" + (" (1 s resolution)" if coarse else "")
    figures.add(label, after_grant, "< 2000 ms", median < 2.0)
    figures.add("slurm: launch -d 2 nodes, RUNNING", total)
    figures.add("slurm: down 2 nodes", down)


def allocations(cluster: slurm_fixture.SlurmCluster, name: str) -> list[str]:
    return cluster.run("squeue", "-h", "-n", f"sky-{name}", "-o", "%i").stdout.split()


def wait_for(predicate: Callable[[], bool], what: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.1)


BENCHES = {"ssh": bench_ssh, "fanout": bench_fanout, "slurm": bench_slurm}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sky", help="the sky binary (default: the installed one)")
    parser.add_argument("--only", choices=sorted(BENCHES), action="append")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    binary = str(pathlib.Path(sky_path(args.sky)).resolve())
    reasons = {sshd_fixture.unavailable()}
    if not args.only or "slurm" in args.only:
        reasons.add(slurm_fixture.unavailable())
    reasons.discard(None)
    if reasons:
        raise SystemExit("; ".join(sorted(reasons)))
    figures = Figures()
    try:
        for name, bench in BENCHES.items():
            if not args.only or name in args.only:
                bench(binary, args.runs, figures)
    finally:
        figures.print()


if __name__ == "__main__":
    main()
