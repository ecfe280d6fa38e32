"""Faults on the local infra, through the real `sky` command: a `sky` killed
mid-launch, an agent killed mid-job, and many `sky` processes at once.

Each test has its own HOME and state directory and tears down what it
launched; "no orphans" is checked by scanning /proc for any process that
still mentions the test's state directory.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator

import pytest

TIMEOUT_S = 120


class Sky:
    def __init__(self, binary: str, home: pathlib.Path) -> None:
        self.binary = binary
        self.state = home / ".sky"
        self.env = dict(os.environ, HOME=str(home), SKYCORE_STATE_DIR=str(self.state), CI="1")
        self.home = home

    def run(self, *args: str, timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.home,
            env=self.env,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [self.binary, *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            cwd=self.home,
            env=self.env,
        )

    def cluster_row(self, name: str) -> tuple[str, dict] | None:
        """(status, handle) straight from the state database (read-only)."""
        path = self.state / "state.db"
        if not path.exists():
            return None
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as db:
            row = db.execute(
                "SELECT status, handle FROM clusters WHERE name = ?", (name,)
            ).fetchone()
        return (row[0], json.loads(row[1]) if row[1] else {}) if row else None

    def status(self, name: str, refresh: bool = False) -> str:
        result = self.run("status", *(["-r"] if refresh else []), name)
        assert result.returncode == 0, result.stderr
        for line in result.stdout.splitlines():
            fields = line.split()
            if fields and fields[0] == name:
                for word in ("INIT", "UP", "STOPPED"):
                    if word in fields:
                        return word
        return "ABSENT"


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if text in cmdline or cwd.startswith(text):
            found.append(f"{proc.name}: {cmdline.strip()} (cwd {cwd})")
    return found


def _wait_for(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def sky(sky_bin: str, tmp_path: pathlib.Path) -> Iterator[Sky]:
    client = Sky(sky_bin, tmp_path)
    try:
        yield client
    finally:
        client.run("down", "-a", "-y", "--purge")
        assert _wait_for(lambda: not _processes_mentioning(str(client.state)), 20), (
            _processes_mentioning(str(client.state))
        )


def test_sky_killed_mid_launch_leaves_nothing_down_cannot_remove(sky: Sky) -> None:
    # A workdir big enough that the launch is still syncing when it is killed.
    work = sky.home / "work"
    work.mkdir()
    (work / "big.bin").write_bytes(os.urandom(1 << 20) * 256)  # 256 MiB
    task = sky.home / "task.yaml"
    task.write_text(f"workdir: {work}\nsetup: sleep 600\nrun: sleep 600\n")
    launch = sky.popen("launch", "-y", "-c", "k9", str(task))
    try:
        assert _wait_for(lambda: sky.cluster_row("k9") is not None, 30)
        time.sleep(0.3)
    finally:
        launch.send_signal(signal.SIGKILL)
        launch.wait(timeout=10)
    row = sky.cluster_row("k9")
    assert row is not None
    # The truth after the crash: never UP, or UP with its agent alive.
    refreshed = sky.status("k9", refresh=True)
    assert refreshed in ("INIT", "UP")
    down = sky.run("down", "-y", "k9")
    assert down.returncode == 0, down.stderr
    assert sky.status("k9") == "ABSENT"
    assert _wait_for(lambda: not _processes_mentioning(str(sky.state)), 20), _processes_mentioning(
        str(sky.state)
    )
    # The name is free again and works.
    again = sky.run("launch", "-y", "-c", "k9", "--", "echo back")
    assert again.returncode == 0, again.stderr
    assert "back" in again.stdout


def test_agent_killed_mid_job_is_seen_by_refresh_and_down_kills_the_job(sky: Sky) -> None:
    launched = sky.run("launch", "-y", "-d", "-c", "ag", "--", "sleep 600")
    assert launched.returncode == 0, launched.stderr
    _, handle = sky.cluster_row("ag")
    agent_pid = handle["agent_pid"]
    assert _wait_for(lambda: "RUNNING" in sky.run("queue", "ag").stdout)
    os.kill(agent_pid, signal.SIGKILL)
    assert _wait_for(
        lambda: (
            not pathlib.Path(f"/proc/{agent_pid}").exists()
            or "Z" in pathlib.Path(f"/proc/{agent_pid}/stat").read_text().split()[2]
        )
    )
    assert sky.status("ag", refresh=True) == "INIT"
    queue = sky.run("queue", "ag")
    assert queue.returncode != 0
    assert "sky start ag" in queue.stdout + queue.stderr
    # The job's `sleep 600` still runs until the cluster is torn down.
    assert _processes_mentioning(str(sky.state))
    assert sky.run("down", "-y", "ag").returncode == 0
    assert _wait_for(lambda: not _processes_mentioning(str(sky.state)), 20), _processes_mentioning(
        str(sky.state)
    )


def test_agent_killed_then_start_recovers_the_job_table(sky: Sky) -> None:
    assert sky.run("launch", "-y", "-d", "-c", "rc", "--", "sleep 600").returncode == 0
    _, handle = sky.cluster_row("rc")
    assert _wait_for(lambda: "RUNNING" in sky.run("queue", "rc").stdout)
    os.kill(handle["agent_pid"], signal.SIGKILL)
    assert sky.status("rc", refresh=True) == "INIT"
    started = sky.run("start", "-y", "rc")
    assert started.returncode == 0, started.stderr
    queue = sky.run("queue", "rc")
    assert "FAILED_DRIVER" in queue.stdout, queue.stdout


def test_twenty_concurrent_sky_processes_account_for_every_job(sky: Sky) -> None:
    assert sky.run("launch", "-y", "-c", "busy", "--", "echo first").returncode == 0

    def one(i: int) -> subprocess.CompletedProcess:
        if i % 2:
            return sky.run("exec", "-d", "busy", "--", f"echo job-{i}")
        return sky.run("launch", "-y", "-d", "-c", "busy", "--", f"echo job-{i}")

    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        results = list(pool.map(one, range(20)))
    for result in results:
        assert result.returncode == 0, result.stderr
        assert "lock" not in result.stderr.lower(), result.stderr
    assert _wait_for(lambda: "RUNNING" not in sky.run("queue", "busy").stdout, 60)
    queue = sky.run("queue", "busy")
    ids = [line.split()[0] for line in queue.stdout.splitlines() if line[:1].isdigit()]
    assert sorted(map(int, ids)) == list(range(1, 22)), queue.stdout
    assert queue.stdout.count("SUCCEEDED") == 21, queue.stdout


def test_concurrent_launches_of_new_names_and_one_name(sky: Sky) -> None:
    def launch(name: str) -> subprocess.CompletedProcess:
        return sky.run("launch", "-y", "-d", "-c", name, "--", "echo hi")

    names = ["same"] * 5 + [f"c{i}" for i in range(5)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(launch, names))
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    status = sky.run("status")
    rows = [line.split()[0] for line in status.stdout.splitlines()[1:] if line.strip()]
    assert sorted(set(rows) & set(names)) == sorted(set(names)), status.stdout
    assert rows.count("same") == 1
