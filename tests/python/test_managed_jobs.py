"""Managed jobs end to end through the native `sky` command, on the local infra.

Every test has its own HOME and state directory. The controller daemon that
`sky jobs launch` starts is stopped by its pid (from its pid file) when the
test ends, and every cluster left is torn down.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import re
import signal
import sqlite3
import sys
import time
from collections.abc import Iterator

import pytest
from test_cli_lifecycle import COMMAND_TIMEOUT_S, Sky, _describe, _find_sky

FINAL = {
    "SUCCEEDED",
    "CANCELLED",
    "FAILED",
    "FAILED_SETUP",
    "FAILED_PRECHECKS",
    "FAILED_NO_RESOURCE",
    "FAILED_CONTROLLER",
}
ALL = FINAL | {"PENDING", "STARTING", "RUNNING", "RECOVERING", "CANCELLING"}


class Jobs(Sky):
    @property
    def jobs_dir(self) -> pathlib.Path:
        return self.home / ".sky" / "managed_jobs"

    def controller_pid(self) -> int | None:
        try:
            return int((self.jobs_dir / "controller.pid").read_text())
        except (OSError, ValueError):
            return None

    def statuses(self) -> dict[int, str]:
        """Job id → status, from `sky jobs queue`."""
        result = self.ok("jobs", "queue", timeout=60)
        found = {}
        for line in result.stdout.splitlines():
            words = line.split()
            if words and words[0].isdigit():
                found[int(words[0])] = next(w for w in words if w in ALL)
        return found

    def queue_row(self, job_id: int) -> str:
        for line in self.ok("jobs", "queue", timeout=60).stdout.splitlines():
            if line.split()[:1] == [str(job_id)]:
                return line
        raise AssertionError(f"job {job_id} not in the queue")

    def wait_for(self, job_id: int, wanted: set[str], deadline_s: float = 90) -> str:
        deadline = time.monotonic() + deadline_s
        status = ""
        while time.monotonic() < deadline:
            status = self.statuses().get(job_id, "")
            if status in wanted:
                return status
            if status in FINAL:
                break
            time.sleep(0.2)
        raise AssertionError(
            f"managed job {job_id} is {status!r}, not in {wanted}\n"
            + self.run("jobs", "logs", "--controller", "--no-follow", str(job_id)).stdout
        )

    def launch_detached(self, *args: str) -> int:
        result = self.ok("jobs", "launch", "-y", "-d", *args)
        match = re.search(r"Managed job ID: (\d+)", result.stdout)
        assert match, _describe(result)
        return int(match.group(1))

    def clusters(self) -> str:
        return self.ok("status").stdout


@pytest.fixture
def jobs(tmp_path: pathlib.Path) -> Iterator[Jobs]:
    binary = _find_sky()
    if binary is None:
        pytest.skip("no `sky` binary: set SKYCORE_SKY_BIN, pip install ., or build it")
    home = tmp_path / "home"
    home.mkdir()
    runner = Jobs(binary, home)
    # SkyPilot waits 5 s before telling a failed task from a lost cluster.
    runner.env["SKYCORE_JOBS_FAILURE_GRACE_S"] = "0.2"
    try:
        yield runner
    finally:
        pid = runner.controller_pid()
        if pid is not None:
            _stop(pid)
        down = runner.run("down", "-a", "-y", timeout=COMMAND_TIMEOUT_S)
        if down.returncode != 0:
            print(_describe(down), file=sys.stderr)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purposes.
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _stop(pid: int, sig: int = signal.SIGTERM, deadline_s: float = 20) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + deadline_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def test_job_succeeds_with_skypilots_envs_and_its_cluster_goes(jobs: Jobs) -> None:
    result = jobs.run(
        "jobs",
        "launch",
        "-y",
        "-n",
        "hello",
        "--",
        "echo task=$SKYPILOT_TASK_ID job=$SKYPILOT_MANAGED_JOB_ID",
    )
    assert result.returncode == 0, _describe(result)
    assert "Managed job ID: 1" in result.stdout
    assert re.search(r"task=sky-managed-\d{4}-\d\d-\d\d-[\d-]+_hello_1-0 job=1", result.stdout), (
        result.stdout
    )
    row = jobs.queue_row(1)
    assert "SUCCEEDED" in row and "hello" in row, row
    assert "hello-1" not in jobs.clusters()
    # The controller stays up, for the next job.
    assert jobs.controller_pid() is not None and _alive(jobs.controller_pid())
    logs = jobs.ok("jobs", "logs", "1")
    assert "task=sky-managed-" in logs.stdout
    controller_log = jobs.ok("jobs", "logs", "--controller", "--no-follow", "1").stdout
    assert "Launching cluster hello-1" in controller_log
    assert "Tearing down cluster hello-1" in controller_log


def test_failing_run_is_failed_with_its_exit_code(jobs: Jobs) -> None:
    result = jobs.run("jobs", "launch", "-y", "-n", "broken", "--", "echo about to fail; exit 3")
    assert result.returncode == 100, _describe(result)
    row = jobs.queue_row(1)
    assert " FAILED " in f"{row} " and "exit code 3" in row, row
    assert "broken-1" not in jobs.clusters()

    task = jobs.home / "setup.yaml"
    task.write_text("name: setupfail\nsetup: exit 4\nrun: echo never\n")
    result = jobs.run("jobs", "launch", "-y", str(task))
    assert result.returncode == 100, _describe(result)
    row = jobs.queue_row(2)
    assert "FAILED_SETUP" in row and "exit code 4" in row, row


def test_cancel_pending_never_launches_and_cancel_running_cleans_up(jobs: Jobs) -> None:
    jobs.env["SKYCORE_JOBS_MAX_ACTIVE"] = "1"
    running = jobs.launch_detached("-n", "sleeper", "--", "sleep 120")
    jobs.wait_for(running, {"RUNNING"})
    pending = jobs.launch_detached("-n", "waiter", "--", "echo never")
    assert jobs.statuses()[pending] == "PENDING"

    assert "cancelled" in jobs.ok("jobs", "cancel", "-y", str(pending)).stdout
    assert jobs.statuses()[pending] == "CANCELLED"
    jobs.ok("jobs", "cancel", "-y", "-n", "sleeper")
    jobs.wait_for(running, {"CANCELLED"}, deadline_s=60)
    clusters = jobs.clusters()
    assert "sleeper-1" not in clusters and "waiter-2" not in clusters, clusters
    # The cancelled PENDING job never got a cluster.
    assert "waiter" not in (jobs.jobs_dir / "controller.log").read_text()
    assert not (jobs.jobs_dir / f"{pending}.controller.log").exists()


def test_start_order_is_priority_then_fifo_with_one_slot(jobs: Jobs) -> None:
    jobs.env["SKYCORE_JOBS_MAX_ACTIVE"] = "1"
    order = jobs.home / "order.txt"
    release = jobs.home / "release"
    # The first job holds the only slot until the others are queued.
    blocker = jobs.launch_detached(
        "-n",
        "blocker",
        "--",
        f"for i in $(seq 600); do [ -e {release} ] && exit 0; sleep 0.1; done",
    )
    jobs.wait_for(blocker, {"RUNNING"})
    queued = [("low-a", 0), ("high-a", 10), ("low-b", 0), ("high-b", 10), ("mid", 5)]
    for name, priority in queued:
        jobs.launch_detached(
            "-n", name, "--priority", str(priority), "--", f"echo {name} >> {order}"
        )
    release.touch()
    last = blocker + len(queued)
    for job_id in range(blocker, last + 1):
        jobs.wait_for(job_id, {"SUCCEEDED"}, deadline_s=120)
    assert order.read_text().split() == ["high-a", "high-b", "mid", "low-a", "low-b"]


def test_controller_killed_mid_job_is_restarted_and_adopts_it(jobs: Jobs) -> None:
    marker = jobs.home / "runs.txt"
    job = jobs.launch_detached(
        "-n", "survivor", "--", f"echo started >> {marker}; sleep 4; echo finished"
    )
    jobs.wait_for(job, {"RUNNING"})
    pid = jobs.controller_pid()
    assert pid is not None
    _stop(pid, signal.SIGKILL)
    assert not _alive(pid)
    # The job goes on on its cluster; the row still says RUNNING.
    assert jobs.statuses()[job] == "RUNNING"
    jobs.ok("jobs", "queue", "--refresh")  # starts the controller again
    new_pid = jobs.controller_pid()
    assert new_pid is not None and new_pid != pid
    jobs.wait_for(job, {"SUCCEEDED"}, deadline_s=60)
    # Launched and run once.
    assert marker.read_text().split() == ["started"]
    controller_log = jobs.ok("jobs", "logs", "--controller", "--no-follow", str(job)).stdout
    assert controller_log.count("Launching cluster survivor-1") == 1, controller_log
    assert "Following job" in controller_log
    assert jobs.ok("jobs", "logs", "--no-follow", str(job)).stdout.count("finished") == 1
    assert "survivor-1" not in jobs.clusters()


def test_invalid_task_fails_prechecks_with_sky_launchs_error(jobs: Jobs) -> None:
    bad = jobs.home / "bad.yaml"
    bad.write_text("resources:\n  cpus: lots\nrun: echo hi\n")
    launch = jobs.run("launch", "-y", "--dryrun", str(bad))
    managed = jobs.run("jobs", "launch", "-y", str(bad))
    assert launch.returncode == managed.returncode == 2, _describe(managed)
    error = [line for line in launch.stderr.splitlines() if line.startswith("sky: error:")]
    assert error and error[0] in managed.stderr.splitlines(), _describe(managed)
    row = jobs.queue_row(1)
    assert "FAILED_PRECHECKS" in row and "bad" in row, row

    # Resources no enabled infra has: the optimizer's error, at once.
    infeasible = jobs.run(
        "jobs", "launch", "-y", "--infra", "local", "--gpus", "H100:8", "--", "true"
    )
    direct = jobs.run("launch", "-y", "--infra", "local", "--gpus", "H100:8", "--", "true")
    assert infeasible.returncode == direct.returncode != 0, _describe(infeasible)
    direct_error = [line for line in direct.stderr.splitlines() if line.startswith("sky: error:")]
    assert direct_error and direct_error[0] in infeasible.stderr.splitlines(), _describe(infeasible)
    assert "FAILED_PRECHECKS" in jobs.queue_row(2)
    assert jobs.controller_pid() is None  # nothing to drive: no controller started


def test_python_sdk_launch_queue_tail_logs_and_cancel(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sky
    from sky import _sdk, exceptions

    binary = _find_sky()
    if binary is None:
        pytest.skip("no `sky` binary: set SKYCORE_SKY_BIN, pip install ., or build it")
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("SKYCORE_STATE_DIR", str(home / ".sky"))
    monkeypatch.setenv("USER", "tester")
    runner = Jobs(binary, home)
    previous = _sdk.set_context(_sdk.Context.from_environment())
    try:
        task = sky.Task(name="sdk-job", run="echo from-sdk $SKYPILOT_MANAGED_JOB_ID")
        job_ids, handle = sky.get(sky.jobs.launch(task))
        assert job_ids == [1] and handle is None
        out = io.StringIO()
        assert sky.jobs.tail_logs(job_id=1, output_stream=out) == 0
        assert "from-sdk 1" in out.getvalue()
        records = sky.get(sky.jobs.queue(refresh=False))
        assert [r["job_id"] for r in records] == [1]
        assert records[0]["status"] == sky.jobs.ManagedJobStatus.SUCCEEDED
        assert records[0]["job_name"] == "sdk-job" and records[0]["recovery_count"] == 0

        (long_id,), _ = sky.get(sky.jobs.launch(sky.Task(name="long", run="sleep 120")))
        runner.wait_for(long_id, {"RUNNING"})
        assert sky.get(sky.jobs.cancel(job_ids=[long_id])) is None
        assert sky.jobs.tail_logs(job_id=long_id, output_stream=io.StringIO()) == 103
        assert "long-2" not in runner.clusters()

        gpus = sky.Task(run="true", resources=sky.Resources(infra="local", accelerators="H100:8"))
        with pytest.raises(exceptions.ResourcesUnavailableError):
            sky.get(sky.jobs.launch(gpus))
        newest = sky.get(sky.jobs.queue(refresh=False, job_ids=[3]))
        assert newest[0]["status"] == sky.jobs.ManagedJobStatus.FAILED_PRECHECKS
        assert newest[0]["failure_reason"]
    finally:
        _sdk.set_context(previous)
        pid = runner.controller_pid()
        if pid is not None:
            _stop(pid)
        runner.run("down", "-a", "-y", timeout=COMMAND_TIMEOUT_S)


def _agent_pid(state_dir: pathlib.Path, cluster: str) -> int | None:
    with sqlite3.connect(f"file:{state_dir / 'state.db'}?mode=ro", uri=True, timeout=30) as db:
        row = db.execute("SELECT handle FROM clusters WHERE name = ?", (cluster,)).fetchone()
    if not row or not row[0]:
        return None
    return json.loads(row[0]).get("agent_pid") or None


def _preempt_local_cluster(state_dir: pathlib.Path, cluster: str) -> None:
    """Kills the cluster's agent and every process running in its directory,
    as losing the machine would."""
    agent = _agent_pid(state_dir, cluster)
    assert agent is not None, f"no agent recorded for {cluster}"
    os.kill(agent, signal.SIGKILL)
    cluster_dir = str(state_dir / "clusters" / cluster)
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue
        if cwd.startswith(cluster_dir):
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def test_checkpointing_job_survives_two_preemptions(jobs: Jobs, repo: pathlib.Path) -> None:
    checkpoints = jobs.home / "checkpoints"
    job = jobs.launch_detached(
        str(repo / "examples" / "managed_job.yaml"),
        "--env",
        "TOTAL_STEPS=10",
        "--env",
        f"CHECKPOINT_DIR={checkpoints}",
    )
    cluster = f"train-steps-{job}"
    for recovery in (1, 2):
        jobs.wait_for(job, {"RUNNING"})
        # Let it make progress past the last checkpoint before taking its cluster.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            steps = list(checkpoints.glob("*/step"))
            if steps and int(steps[0].read_text() or 0) >= 3 * recovery:
                break
            time.sleep(0.1)
        _preempt_local_cluster(jobs.home / ".sky", cluster)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            row = jobs.queue_row(job).split()
            if row[row.index("RUNNING") - 1 if "RUNNING" in row else 0] == str(recovery):
                break
            time.sleep(0.2)
    jobs.wait_for(job, {"SUCCEEDED"}, deadline_s=120)
    row = jobs.queue_row(job).split()
    assert row[row.index("SUCCEEDED") - 1] == "2", row  # #RECOVERIES
    # One checkpoint directory: SKYPILOT_TASK_ID stayed the same.
    assert [p.read_text().strip() for p in checkpoints.glob("*/step")] == ["10"]
    output = jobs.ok("jobs", "logs", "--no-follow", str(job)).stdout
    resumed = re.search(r"resumes at step (\d+) of 10", output)
    assert resumed and int(resumed.group(1)) >= 6, output  # the last run resumed
    assert "training finished after 10 steps" in output
    assert cluster not in jobs.clusters()


def test_twenty_concurrent_launches_lose_nothing_and_start_one_controller(jobs: Jobs) -> None:
    launches = [
        jobs.popen("jobs", "launch", "-y", "-d", "-n", f"burst-{i}", "--", "true")
        for i in range(20)
    ]
    ids = []
    try:
        for launch in launches:
            out, err = launch.communicate(timeout=COMMAND_TIMEOUT_S)
            assert launch.returncode == 0, err
            ids.append(int(re.search(r"Managed job ID: (\d+)", out).group(1)))
    finally:
        for launch in launches:
            if launch.poll() is None:
                launch.kill()
                launch.wait()
    assert sorted(ids) == list(range(1, 21))
    state_dir = str(jobs.home / ".sky")
    controllers = []
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                words = (proc / "cmdline").read_bytes().split(b"\0")
                if b"controller" in words and state_dir.encode() in words:
                    controllers.append(int(proc.name))
    assert controllers == [jobs.controller_pid()], controllers
    for job_id in ids:
        jobs.wait_for(job_id, {"SUCCEEDED"}, deadline_s=120)
