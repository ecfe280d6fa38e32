"""The cluster life cycle through the native `sky` command, on the local infra.

Every test runs the real binary with its own HOME and SKYCORE_STATE_DIR, and
tears down whatever it launched (`sky down -a -y`), even when it fails.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
COMMAND_TIMEOUT_S = 180


def _find_sky() -> str | None:
    """$SKYCORE_SKY_BIN, else the installed `sky`, else a build tree's."""
    if os.environ.get("SKYCORE_SKY_BIN"):
        return os.environ["SKYCORE_SKY_BIN"]
    installed = pathlib.Path(sysconfig.get_path("scripts")) / "sky"
    if installed.exists():
        return str(installed)
    built = sorted(REPO.glob("build/*/sky"), key=lambda p: p.stat().st_mtime, reverse=True)
    return str(built[0]) if built else None


class Sky:
    """Runs `sky` in an isolated HOME and state directory."""

    def __init__(self, binary: str, home: pathlib.Path) -> None:
        self.binary = binary
        self.home = home
        self.env = dict(os.environ)
        self.env.update(
            HOME=str(home),
            SKYCORE_STATE_DIR=str(home / ".sky"),
            CI="1",  # plain, stable output
            USER="tester",
        )

    def run(
        self, *args: str, timeout: float = COMMAND_TIMEOUT_S, cwd=None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=cwd or self.home,
            env=self.env,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def ok(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        result = self.run(*args, **kwargs)
        assert result.returncode == 0, _describe(result)
        return result

    def popen(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [self.binary, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
            cwd=self.home,
            env=self.env,
        )

    def job_status(self, cluster: str, job_id: int) -> str:
        result = self.run("logs", "--status", cluster, str(job_id), timeout=60)
        for line in result.stdout.splitlines():
            if line.startswith(f"Job {job_id}: "):
                return line.split(": ", 1)[1].strip()
        return ""

    def wait_for_job(self, cluster: str, job_id: int, statuses: set[str], deadline_s=60) -> str:
        deadline = time.monotonic() + deadline_s
        status = ""
        while time.monotonic() < deadline:
            status = self.job_status(cluster, job_id)
            if status in statuses:
                return status
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} on {cluster} stayed {status!r}, not in {statuses}")


def _describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@pytest.fixture
def sky(tmp_path: pathlib.Path) -> Iterator[Sky]:
    binary = _find_sky()
    if binary is None:
        pytest.skip("no `sky` binary: set SKYCORE_SKY_BIN, pip install ., or build it")
    home = tmp_path / "home"
    home.mkdir()
    runner = Sky(binary, home)
    try:
        yield runner
    finally:
        # Whatever a test launched goes, so no agent outlives the test.
        down = runner.run("down", "-a", "-y", timeout=COMMAND_TIMEOUT_S)
        if down.returncode != 0:
            print(_describe(down), file=sys.stderr)


def _write(path: pathlib.Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _rows(table_output: str, name: str) -> list[str]:
    return [line for line in table_output.splitlines() if line.split()[:1] == [name]]


# ----------------------------------------------------------------- launch


def test_launch_exec_queue_logs(sky: Sky) -> None:
    task = _write(
        sky.home / "task.yaml",
        "name: greet\n"
        "envs:\n  GREETING: hello\n"
        'run: |\n  echo "$GREETING from rank $SKYPILOT_NODE_RANK"\n',
    )
    # No -y and no terminal on stdin: SkyPilot proceeds without asking.
    launch = sky.run("launch", "-c", "c1", task, "--env", "GREETING=bonjour")
    assert launch.returncode == 0, _describe(launch)
    assert "bonjour from rank 0" in launch.stdout
    assert "Proceed?" not in launch.stderr
    assert "📋 Useful Commands" in launch.stdout
    assert "Job ID: 1" in launch.stdout
    assert "sky logs c1 1" in launch.stdout
    assert "sky queue c1" in launch.stdout
    assert "sky down c1" in launch.stdout

    exec_ = sky.run("exec", "c1", "--", "echo", "second-job")
    assert exec_.returncode == 0, _describe(exec_)
    assert "second-job" in exec_.stdout

    queue = sky.ok("queue", "c1")
    assert "Job queue of current user on cluster c1" in queue.stdout
    for column in ("ID", "NAME", "USER", "SUBMITTED", "STARTED", "DURATION", "STATUS", "LOG"):
        assert column in queue.stdout
    rows = [line for line in queue.stdout.splitlines() if line.split()[:1] in (["1"], ["2"])]
    assert len(rows) == 2, queue.stdout
    assert all("SUCCEEDED" in row for row in rows), queue.stdout

    status = sky.run("logs", "--status", "c1", "1")
    assert status.returncode == 0, _describe(status)
    assert "Job 1: SUCCEEDED" in status.stdout

    logs = sky.ok("logs", "--no-follow", "c1", "1")
    assert "bonjour from rank 0" in logs.stdout


def test_a_secret_without_a_value_stops_launch_and_exec(sky: Sky) -> None:
    # A null secret loads (SkyPilot 0.14.1 takes it as a reference filled at
    # launch); launching without a value fails before any cluster exists.
    task = _write(
        sky.home / "task.yaml", 'secrets:\n  API_TOKEN: null\nrun: echo "len=${#API_TOKEN}"\n'
    )
    refused = sky.run("launch", "-y", "-c", "nosecret", task)
    assert refused.returncode == 2, _describe(refused)
    assert "API_TOKEN" in refused.stderr and "--secret API_TOKEN=" in refused.stderr
    assert "nosecret" not in sky.ok("status").stdout
    # `--secret NAME` alone takes the value from the environment, as SkyPilot's.
    sky.env["API_TOKEN"] = "from-the-environment"
    launched = sky.ok("launch", "-y", "-c", "nosecret", task, "--secret", "API_TOKEN")
    assert "len=20" in launched.stdout
    refused = sky.run("exec", "nosecret", task)
    assert refused.returncode == 2, _describe(refused)
    assert "--secret API_TOKEN=" in refused.stderr
    for result in (launched, refused):
        assert "from-the-environment" not in result.stdout + result.stderr


def test_job_exit_code_is_the_exit_code_of_sky_launch(sky: Sky) -> None:
    launch = sky.run("launch", "-c", "c2", "-y", "--", "exit 3")
    assert launch.returncode == 3, _describe(launch)
    status = sky.run("logs", "--status", "c2")
    assert status.returncode == 100, _describe(status)
    assert "FAILED" in status.stdout
    # exec propagates too.
    exec_ = sky.run("exec", "c2", "--", "exit 7")
    assert exec_.returncode == 7, _describe(exec_)


def test_failed_setup_shows_its_output_and_fails(sky: Sky) -> None:
    task = _write(
        sky.home / "bad_setup.yaml",
        "setup: |\n  echo preparing-env\n  exit 1\nrun: echo never-runs\n",
    )
    launch = sky.run("launch", "-c", "c3", "-y", task)
    assert launch.returncode != 0, _describe(launch)
    assert "preparing-env" in launch.stdout + launch.stderr
    assert "never-runs" not in launch.stdout
    assert "FAILED_SETUP" in launch.stdout + launch.stderr
    assert sky.job_status("c3", 1) == "FAILED_SETUP"


def test_two_nodes_run_every_rank(sky: Sky) -> None:
    task = _write(
        sky.home / "two.yaml",
        'num_nodes: 2\nrun: echo "rank-$SKYPILOT_NODE_RANK of $SKYPILOT_NUM_NODES"\n',
    )
    launch = sky.run("launch", "-c", "c4", "-y", task)
    assert launch.returncode == 0, _describe(launch)
    assert "rank-0 of 2" in launch.stdout
    assert "rank-1 of 2" in launch.stdout
    status = sky.ok("status", "c4")
    (row,) = _rows(status.stdout, "c4")
    assert "2x" in row and "UP" in row


# ------------------------------------------------------------ jobs, Ctrl-C


def test_cancel_a_detached_job(sky: Sky) -> None:
    launch = sky.run("launch", "-c", "c5", "-y", "-d", "--", "sleep", "600")
    assert launch.returncode == 0, _describe(launch)
    assert "Job ID: 1" in launch.stdout
    sky.wait_for_job("c5", 1, {"RUNNING"})
    cancel = sky.run("cancel", "-y", "c5", "1")
    assert cancel.returncode == 0, _describe(cancel)
    assert sky.wait_for_job("c5", 1, {"CANCELLED"}) == "CANCELLED"
    assert sky.run("logs", "--status", "c5", "1").returncode == 103
    running_only = sky.ok("queue", "-s", "c5")
    assert not [line for line in running_only.stdout.splitlines() if line.startswith("1 ")]


def test_ctrl_c_stops_following_and_the_job_keeps_running(sky: Sky) -> None:
    process = sky.popen("launch", "-c", "c6", "-y", "--", "echo started; sleep 600")
    try:
        try:
            sky.wait_for_job("c6", 1, {"RUNNING"}, deadline_s=COMMAND_TIMEOUT_S)
        except AssertionError as error:
            process.kill()
            out, err = process.communicate()
            raise AssertionError(
                f"{error}\n--- launch stdout\n{out}\n--- launch stderr\n{err}"
            ) from error
        time.sleep(0.5)  # let the command reach log following
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, f"{process.returncode}\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr
    assert "sky cancel c6 1" in stderr
    assert sky.job_status("c6", 1) == "RUNNING"
    sky.ok("cancel", "-y", "c6", "1")
    sky.wait_for_job("c6", 1, {"CANCELLED"})


def test_ctrl_c_stops_sky_logs(sky: Sky) -> None:
    sky.ok("launch", "-c", "c8", "-y", "-d", "--", "sleep", "600")
    sky.wait_for_job("c8", 1, {"RUNNING"})
    process = sky.popen("logs", "c8", "1")
    try:
        time.sleep(1.0)  # let it reach log following
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, f"{process.returncode}\n{stdout}\n{stderr}"
    assert "Traceback" not in stderr
    assert sky.job_status("c8", 1) == "RUNNING"
    # --no-follow of a running job prints what there is and reports "not finished".
    assert sky.run("logs", "--no-follow", "c8", "1").returncode == 101


def test_launch_without_a_name_generates_one(sky: Sky) -> None:
    launch = sky.ok("launch", "-y", "--", "echo", "anonymous")
    assert "anonymous" in launch.stdout
    rows = [line for line in sky.ok("status").stdout.splitlines() if line.startswith("sky-")]
    assert len(rows) == 1 and rows[0].split()[0].endswith("-tester"), rows
    assert "Cluster name: sky-" in launch.stdout


# ------------------------------------------------------- cluster life cycle


def test_stop_start_down_and_cost_report(sky: Sky) -> None:
    sky.ok("launch", "-c", "c7", "-y", "--", "echo", "hi")
    status = sky.ok("status")
    for column in ("NAME", "INFRA", "RESOURCES", "STATUS", "AUTOSTOP", "LAUNCHED"):
        assert column in status.stdout
    (row,) = _rows(status.stdout, "c7")
    assert "UP" in row and ("ago" in row or "< 1 sec" in row)
    assert sky.ok("status", "--ip", "c7").stdout == "127.0.0.1\n"  # the local head
    (record,) = json.loads(sky.ok("status", "-o", "json", "c7").stdout)
    assert (record["name"], record["status"], record["num_nodes"]) == ("c7", "UP", 1)
    assert "handle" not in record  # as SkyPilot's: no handles or credentials
    jobs = json.loads(sky.ok("queue", "--output", "JSON", "c7").stdout)
    assert [job["job_id"] for job in jobs["c7"]] == [1]
    assert jobs["c7"][0]["status"] in ("PENDING", "RUNNING", "SUCCEEDED")

    autostop = sky.ok("autostop", "-y", "c7", "-i", "30")
    assert "30 minutes" in autostop.stdout
    (row,) = _rows(sky.ok("status", "c7").stdout, "c7")
    assert "30m" in row
    # SkyPilot's --wait-for: jobs (the default) and none; SSH sessions are not counted.
    sky.ok("autostop", "-y", "c7", "-i", "30", "--wait-for", "none")
    ssh = sky.run("autostop", "-y", "c7", "-i", "30", "--wait-for", "jobs_and_ssh")
    assert ssh.returncode == 2 and "not supported" in ssh.stderr
    sky.ok("autostop", "-y", "c7", "--cancel")
    (row,) = _rows(sky.ok("status", "c7").stdout, "c7")
    assert "30m" not in row

    stop = sky.ok("stop", "-y", "c7")
    assert "sky start c7" in stop.stdout
    (row,) = _rows(sky.ok("status", "c7").stdout, "c7")
    assert "STOPPED" in row
    stopped_ip = sky.run("status", "--ip", "c7")
    assert stopped_ip.returncode != 0 and "not in UP status" in stopped_ip.stderr
    assert sky.run("exec", "c7", "--", "echo", "x").returncode != 0

    start = sky.ok("start", "-y", "c7")
    assert "Cluster c7 started." in start.stdout
    (row,) = _rows(sky.ok("status", "c7").stdout, "c7")
    assert "UP" in row

    down = sky.ok("down", "-y", "c7")
    assert "Terminating cluster c7...done." in down.stdout
    after = sky.ok("status", "c7")
    assert "Cluster 'c7' not found." in after.stdout
    assert "No existing clusters." in sky.ok("status").stdout

    report = sky.ok("cost-report")
    for column in ("NAME", "LAUNCHED", "DURATION", "RESOURCES", "STATUS", "COST"):
        assert column in report.stdout
    (row,) = _rows(report.stdout, "c7")
    assert "TERMINATED" in row
    assert "Total Cost: $" in report.stdout


def test_launch_and_start_with_wait_for(sky: Sky) -> None:
    sky.ok("launch", "-c", "c9", "-y", "-i", "30", "--wait-for", "none", "--", "echo", "hi")
    (row,) = _rows(sky.ok("status", "c9").stdout, "c9")
    assert "30m" in row
    sky.ok("stop", "-y", "c9")
    sky.ok("start", "-y", "c9", "-i", "20", "--wait-for", "jobs")
    (row,) = _rows(sky.ok("status", "c9").stdout, "c9")
    assert "20m" in row
    sky.ok("down", "-y", "c9")


def test_down_of_an_unknown_cluster_is_an_error(sky: Sky) -> None:
    down = sky.run("down", "-y", "no-such-cluster")
    assert down.returncode != 0
    assert "no-such-cluster" in down.stderr
    assert down.stderr.startswith("sky: error: ")
    assert "Traceback" not in down.stderr
    for command in (["stop", "-y"], ["start", "-y"], ["queue"], ["logs", "--status"]):
        result = sky.run(*command, "no-such-cluster")
        assert result.returncode != 0, (command, _describe(result))
        assert "no-such-cluster" in result.stdout + result.stderr


def test_status_with_globs(sky: Sky) -> None:
    assert "No existing clusters." in sky.ok("status").stdout
    sky.ok("launch", "-c", "dev-a", "-y")  # no task: only the cluster
    sky.ok("launch", "-c", "dev-b", "-y")
    sky.ok("launch", "-c", "prod", "-y")
    dev = sky.ok("status", "dev-*")
    assert _rows(dev.stdout, "dev-a") and _rows(dev.stdout, "dev-b")
    assert not _rows(dev.stdout, "prod")
    sky.ok("down", "-y", "dev-*")
    rest = sky.ok("status")
    assert not _rows(rest.stdout, "dev-a") and _rows(rest.stdout, "prod")


def test_usage_errors_exit_2(sky: Sky) -> None:
    assert sky.run("down", "-y").returncode == 2  # neither names nor --all
    assert sky.run("start", "--down", "x").returncode == 2  # --down needs -i
    assert sky.run("logs", "c", "1", "2").returncode == 2  # several ids need -s
    assert sky.run("autostop", "x", "-i", "5", "--cancel").returncode == 2


def test_every_command_has_help(sky: Sky) -> None:
    for command in (
        "launch",
        "exec",
        "status",
        "queue",
        "logs",
        "cancel",
        "stop",
        "start",
        "down",
        "autostop",
        "cost-report",
        "check",
    ):
        result = sky.run(command, "--help")
        assert result.returncode == 0, (command, _describe(result))
        assert "--help" in result.stdout
    launch = sky.ok("launch", "--help").stdout
    for flag in ("--detach-run", "--yes", "--idle-minutes-to-autostop", "--down", "--fast"):
        assert flag in launch


def test_check_lists_local(sky: Sky) -> None:
    check = sky.ok("check")
    assert "Checking credentials to enable infra for SkyPilot." in check.stdout
    assert "Local: enabled" in check.stdout
