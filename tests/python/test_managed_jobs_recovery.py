"""Managed-job recovery as SkyPilot's: restarts on errors
(`job_recovery.max_restarts_on_errors`, `recover_on_exit_codes`) on a cluster
that is still healthy, and the back-off while no capacity is left (an SSH
node pool whose only host is down after `sky check ssh` saw it ready) ending
FAILED_NO_RESOURCE, or CANCELLED when cancelled while waiting."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator

import pytest
import sshd_fixture
from sshd_fixture import SshdHosts
from test_managed_jobs import FINAL, Jobs, _preempt_local_cluster, _stop, jobs
from test_ssh_pools import host_entries

jobs = jobs  # the fixture, registered in this module
sshd_hosts = sshd_fixture.sshd_hosts


def _recoveries(row: str, status: str) -> int:
    words = row.split()
    return int(words[words.index(status) - 1])  # the #RECOVERIES column


def test_restarts_on_errors_up_to_the_limit_then_failed(jobs: Jobs) -> None:
    runs = jobs.home / "runs.txt"
    task = jobs.home / "flaky.yaml"
    task.write_text(
        "name: flaky\n"
        "resources:\n  job_recovery:\n    max_restarts_on_errors: 2\n"
        f"run: |\n  echo $SKYPILOT_TASK_ID >> {runs}\n  exit 5\n"
    )
    job = jobs.launch_detached(str(task))
    assert jobs.wait_for(job, FINAL, deadline_s=120) == "FAILED"
    row = jobs.queue_row(job)
    assert _recoveries(row, "FAILED") == 2 and "exit code 5" in row, row
    # The first run and two restarts, all with the same SKYPILOT_TASK_ID.
    ids = runs.read_text().split()
    assert len(ids) == 3 and len(set(ids)) == 1, ids
    log = jobs.ok("jobs", "logs", "--controller", "--no-follow", str(job)).stdout
    assert "restart 2 of max_restarts_on_errors 2" in log, log
    assert f"flaky-{job}" not in jobs.clusters()


def test_without_job_recovery_a_failed_task_is_not_restarted(jobs: Jobs) -> None:
    runs = jobs.home / "runs.txt"
    job = jobs.launch_detached("-n", "once", "--", f"echo run >> {runs}; exit 1")
    assert jobs.wait_for(job, FINAL, deadline_s=90) == "FAILED"
    assert _recoveries(jobs.queue_row(job), "FAILED") == 0
    assert runs.read_text().split() == ["run"]


def test_recover_on_exit_codes_restarts_without_counting(jobs: Jobs) -> None:
    runs = jobs.home / "runs.txt"
    task = jobs.home / "codes.yaml"
    # Exit 29 twice (restarted though max_restarts_on_errors is 0), then 7.
    task.write_text(
        "name: codes\n"
        "resources:\n  job_recovery:\n    recover_on_exit_codes: [29]\n"
        f"run: |\n  echo run >> {runs}\n"
        f"  if [ $(wc -l < {runs}) -lt 3 ]; then exit 29; fi\n  exit 7\n"
    )
    job = jobs.launch_detached(str(task))
    assert jobs.wait_for(job, FINAL, deadline_s=120) == "FAILED"
    row = jobs.queue_row(job)
    assert _recoveries(row, "FAILED") == 2 and "exit code 7" in row, row
    assert len(runs.read_text().split()) == 3
    log = jobs.ok("jobs", "logs", "--controller", "--no-follow", str(job)).stdout
    assert log.count("exit code 29 is in recover_on_exit_codes") == 2, log


@contextlib.contextmanager
def ssh_pool(jobs: Jobs, sshd_hosts: SshdHosts, count: int) -> Iterator[None]:
    """SSH node pool `lab` of the first `count` hosts, checked ready."""
    control = pathlib.Path(tempfile.mkdtemp(prefix="skyctl"))
    jobs.env["SKYCORE_SSH_CONFIG"] = str(jobs.home / "ssh_config")
    jobs.env["SKYCORE_SSH_CONTROL_DIR"] = str(control)
    state = jobs.home / ".sky"
    state.mkdir(exist_ok=True)
    hosts = SshdHosts(
        sshd_hosts.hosts[:count], sshd_hosts.user_key, sshd_hosts.wrong_key, sshd_hosts.root
    )
    entries = ", ".join(host_entries(hosts, jobs.env))
    (state / "ssh_node_pools.yaml").write_text(
        f"lab:\n  user: root\n  identity_file: {sshd_hosts.user_key}\n  hosts: [{entries}]\n"
    )
    jobs.ok("check", "ssh")
    try:
        yield
    finally:
        # The controller goes first (the jobs fixture would stop it after
        # the connections it holds are gone).
        pid = jobs.controller_pid()
        if pid is not None:
            _stop(pid)
        jobs.run("down", "-a", "-y")
        sshd_fixture.remove_control_dir(control)
        shutil.rmtree(control, ignore_errors=True)


@pytest.fixture
def dead_pool(jobs: Jobs, sshd_hosts: SshdHosts) -> Iterator[None]:
    """A pool of one host that `sky check ssh` saw ready and that then went
    down: prechecks pass, every launch fails."""
    with ssh_pool(jobs, sshd_hosts, 1):
        sshd_hosts.kill_host(sshd_hosts.hosts[0])
        yield


def _host_of(sshd_hosts: SshdHosts, cluster: str) -> sshd_fixture.SshdHost:
    """The host whose skycore home holds the cluster's directory."""
    found = [h for h in sshd_hosts.hosts if (h.directory / "home" / "clusters" / cluster).exists()]
    assert len(found) == 1, found
    return found[0]


def test_ssh_host_killed_recovers_on_the_other_host(jobs: Jobs, sshd_hosts: SshdHosts) -> None:
    runs = jobs.home / "runs.txt"
    with ssh_pool(jobs, sshd_hosts, 2):
        # The first run waits to be preempted; the second finishes.
        job = jobs.launch_detached(
            "-n",
            "sshjob",
            "--infra",
            "ssh/lab",
            "--",
            f"echo run >> {runs}; [ $(wc -l < {runs}) -ge 2 ] || sleep 600",
        )
        jobs.wait_for(job, {"RUNNING"})
        first = _host_of(sshd_hosts, f"sshjob-{job}")
        sshd_hosts.kill_host(first)
        assert jobs.wait_for(job, FINAL, deadline_s=120) == "SUCCEEDED"
        assert _recoveries(jobs.queue_row(job), "SUCCEEDED") == 1
        assert runs.read_text().split() == ["run", "run"]
        log = jobs.ok("jobs", "logs", "--controller", "--no-follow", str(job)).stdout
        assert "recovering job" in log, log
        assert f"sshjob-{job}" not in jobs.clusters()


def test_no_capacity_backs_off_then_failed_no_resource(jobs: Jobs, dead_pool) -> None:
    jobs.env["SKYCORE_JOBS_RETRY_GAP_S"] = "0.2"
    jobs.env["SKYCORE_JOBS_MAX_LAUNCH_ATTEMPTS"] = "3"
    job = jobs.launch_detached("-n", "nocap", "--infra", "ssh/lab", "--", "echo never")
    assert jobs.wait_for(job, FINAL, deadline_s=120) == "FAILED_NO_RESOURCE"
    row = jobs.queue_row(job)
    assert "after 3 attempts" in row, row
    log = jobs.ok("jobs", "logs", "--controller", "--no-follow", str(job)).stdout
    assert log.count("Launching cluster nocap-") == 3, log
    assert log.count("Waiting for resources (launch") == 2, log
    assert "nocap-" not in jobs.clusters()


def test_cancel_while_backing_off_is_cancelled_and_leaves_nothing(jobs: Jobs, dead_pool) -> None:
    jobs.env["SKYCORE_JOBS_RETRY_GAP_S"] = "60"
    job = jobs.launch_detached("-n", "waits", "--infra", "ssh/lab", "--", "echo never")
    deadline = time.monotonic() + 90
    row = ""
    while time.monotonic() < deadline:
        row = jobs.queue_row(job)
        if "Waiting for resources" in row:
            break
        time.sleep(0.2)
    assert "STARTING" in row and "Waiting for resources (launch 1 of 240" in row, row
    started = time.monotonic()
    jobs.ok("jobs", "cancel", "-y", str(job))
    assert jobs.wait_for(job, FINAL, deadline_s=30) == "CANCELLED"
    assert time.monotonic() - started < 10  # not after the 60 s gap
    assert "waits-" not in jobs.clusters()
    log = jobs.ok("jobs", "logs", "--controller", "--no-follow", str(job)).stdout
    assert log.count("Launching cluster waits-") == 1, log


def _signal_host(host: sshd_fixture.SshdHost, sig: int) -> None:
    """Stops (SIGSTOP) or resumes (SIGCONT) the host's sshd and its sessions:
    a host that stops answering, then comes back."""
    for pid in sshd_fixture._tree(host.pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def test_cancel_during_starting_leaves_nothing(jobs: Jobs, sshd_hosts: SshdHosts) -> None:
    host = sshd_hosts.hosts[0]
    with ssh_pool(jobs, sshd_hosts, 1):
        _signal_host(host, signal.SIGSTOP)
        try:
            job = jobs.launch_detached("-n", "stuck", "--infra", "ssh/lab", "--", "sleep 600")
            controller_log = jobs.jobs_dir / f"{job}.controller.log"
            deadline = time.monotonic() + 30
            while "Launching cluster" not in (
                controller_log.read_text() if controller_log.exists() else ""
            ):
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert jobs.statuses()[job] == "STARTING"
            jobs.ok("jobs", "cancel", "-y", str(job))
            # The launch is stuck on the host: the cancel is under way.
            assert jobs.statuses()[job] == "CANCELLING"
        finally:
            _signal_host(host, signal.SIGCONT)
        assert jobs.wait_for(job, FINAL, deadline_s=120) == "CANCELLED"
        assert f"stuck-{job}" not in jobs.clusters()
        assert not (host.directory / "home" / "clusters" / f"stuck-{job}").exists()


def test_cancel_during_recovering_leaves_nothing(jobs: Jobs, sshd_hosts: SshdHosts) -> None:
    jobs.env["SKYCORE_JOBS_RETRY_GAP_S"] = "60"
    with ssh_pool(jobs, sshd_hosts, 2):
        job = jobs.launch_detached("-n", "lost", "--infra", "ssh/lab", "--", "sleep 600")
        jobs.wait_for(job, {"RUNNING"})
        first = _host_of(sshd_hosts, f"lost-{job}")
        # No host is left for the recovery: it waits for resources.
        for host in sshd_hosts.hosts[:2]:
            if host is not first:
                sshd_hosts.kill_host(host)
        sshd_hosts.kill_host(first)
        deadline = time.monotonic() + 90
        row = ""
        while time.monotonic() < deadline:
            row = jobs.queue_row(job)
            if "Waiting for resources" in row:
                break
            time.sleep(0.2)
        assert "RECOVERING" in row and "Waiting for resources" in row, row
        jobs.ok("jobs", "cancel", "-y", str(job))
        assert jobs.wait_for(job, FINAL, deadline_s=30) == "CANCELLED"
        assert _recoveries(jobs.queue_row(job), "CANCELLED") == 1
        assert f"lost-{job}" not in jobs.clusters()


def test_local_agent_exit_is_reported_by_the_infra_and_recovered(jobs: Jobs) -> None:
    runs = jobs.home / "runs.txt"
    job = jobs.launch_detached(
        "-n", "watched", "--", f"echo run >> {runs}; [ $(wc -l < {runs}) -ge 2 ] || sleep 600"
    )
    jobs.wait_for(job, {"RUNNING"})
    _preempt_local_cluster(jobs.home / ".sky", f"watched-{job}")
    assert jobs.wait_for(job, FINAL, deadline_s=90) == "SUCCEEDED"
    assert _recoveries(jobs.queue_row(job), "SUCCEEDED") == 1
    log = jobs.ok("jobs", "logs", "--controller", "--no-follow", str(job)).stdout
    # The backend's watch (the agent's pidfd), not the broken log stream.
    assert re.search(rf"Cluster watched-{job} lost a node: the agent process \d+ exited", log), log
