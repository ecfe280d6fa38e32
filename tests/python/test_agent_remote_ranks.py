"""skyletd running ranks on other hosts over ssh, against real sshd daemons.

The agent runs here with node 0 local and nodes 1 and 2 reached over ssh (the
throwaway sshd hosts of sshd_fixture.py). Jobs go in through the agent's own
protocol (JSON lines on its Unix socket). Every process of a job carries a
marker in its environment, so a scan of /proc finds what is left of it on any
"host" (they are all this machine).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest
import sshd_fixture
from sshd_fixture import SshdHosts

sshd_hosts = sshd_fixture.sshd_hosts  # the fixture, registered in this module

AWKWARD = 'it\'s "quoted" $HOME `id` \\ and\na second line'


class Agent:
    def __init__(self, socket_path: pathlib.Path, process: subprocess.Popen):
        self.socket_path = socket_path
        self.process = process

    def call(self, request: dict) -> dict:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(10)
            conn.connect(str(self.socket_path))
            conn.sendall((json.dumps({"v": 1, **request}) + "\n").encode())
            data = b""
            while not data.endswith(b"\n"):
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
        reply = json.loads(data)
        assert reply.get("ok"), reply
        return reply

    def submit(self, run: str, num_nodes: int, envs: dict[str, str]) -> int:
        spec = {"num_nodes": num_nodes, "run": run, "envs": envs, "cpus_per_node": 0.5}
        return self.call({"op": "submit", "spec": spec})["job_id"]

    def job(self, job_id: int) -> dict:
        return self.call({"op": "job_status", "job_ids": [job_id]})["jobs"][0]

    def wait_status(self, job_id: int, wanted: set[str], timeout_s: float) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            record = self.job(job_id)
            if record["status"] in wanted or time.monotonic() > deadline:
                return record
            time.sleep(0.1)


@pytest.fixture
def agent(sshd_hosts: SshdHosts, sky_bin: str, tmp_path: pathlib.Path) -> Iterator[Agent]:
    skyletd = pathlib.Path(sky_bin).parent / "skyletd"
    assert skyletd.exists(), f"skyletd not found beside {sky_bin}"
    nodes = [{"ip": "127.0.0.1", "workdir": str(tmp_path / "node0"), "cpus": 4}]
    (tmp_path / "node0").mkdir()
    for host in sshd_hosts.hosts[:2]:
        workdir = host.directory / "work dir"
        workdir.mkdir()
        nodes.append(
            {
                "ip": host.address,
                "workdir": str(workdir),
                "cpus": 4,
                "runner": {
                    "kind": "ssh",
                    "address": host.address,
                    "port": host.port,
                    "user": "root",
                    "identity_file": str(sshd_hosts.user_key),
                    "known_hosts": str(sshd_hosts.root / "known_hosts"),
                },
            }
        )
    spec = tmp_path / "nodes.json"
    spec.write_text(json.dumps({"cluster_name": "remote", "nodes": nodes}))
    socket_path = sshd_hosts.root / "agent.sock"  # short: Unix socket paths are limited
    log = open(tmp_path / "skyletd.log", "wb")
    process = subprocess.Popen(
        [
            str(skyletd),
            "--socket",
            str(socket_path),
            "--state-dir",
            str(tmp_path / "state"),
            "--node-spec",
            str(spec),
            "--log-root",
            str(tmp_path / "logs"),
            "--kill-grace-s",
            "2",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    agent = Agent(socket_path, process)
    try:
        deadline = time.monotonic() + 10
        while True:
            assert process.poll() is None, (tmp_path / "skyletd.log").read_text()
            try:
                agent.call({"op": "ping"})
                break
            except (OSError, ValueError):
                assert time.monotonic() < deadline, "skyletd did not answer within 10 s"
                time.sleep(0.05)
        yield agent
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def processes_with(marker: str) -> list[int]:
    """PIDs whose environment holds `marker` (every process of a job's ranks)."""
    needle = marker.encode()
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_no_processes(marker: str, timeout_s: float) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def task_log(record: dict, rank: int) -> str:
    name = "head" if rank == 0 else f"worker{rank}"
    path = pathlib.Path(record["log_dir"]) / "tasks" / f"{rank}-{name}.log"
    return path.read_text() if path.exists() else ""


def run_log(record: dict) -> str:
    path = pathlib.Path(record["log_dir"]) / "run.log"
    return path.read_text() if path.exists() else ""


def wait_ranks_ready(agent: Agent, job_id: int, ranks: int) -> dict:
    deadline = time.monotonic() + 20
    while True:
        record = agent.job(job_id)
        if all("ready" in task_log(record, rank) for rank in range(ranks)):
            return record
        assert record["status"] in ("PENDING", "RUNNING"), (record, run_log(record))
        assert time.monotonic() < deadline, run_log(record)
        time.sleep(0.1)


def test_ranks_run_on_their_nodes_with_rank_cwd_and_env(agent: Agent, sshd_hosts: SshdHosts):
    job_id = agent.submit(
        'echo "rank=$SKYPILOT_NODE_RANK cwd=$(pwd)"; printf "awkward=[%s]\\n" "$AWKWARD"; '
        'echo "home=${SKYCORE_HOME:-unset}"',
        num_nodes=3,
        envs={"AWKWARD": AWKWARD},
    )
    record = agent.wait_status(job_id, {"SUCCEEDED", "FAILED", "FAILED_DRIVER"}, 30)
    assert record["status"] == "SUCCEEDED", run_log(record)
    workdirs = [None] + [str(host.directory / "work dir") for host in sshd_hosts.hosts[:2]]
    for rank in range(3):
        text = task_log(record, rank)
        if rank > 0:
            assert f"rank={rank} cwd={workdirs[rank]}\n" in text, text
        else:
            assert "rank=0 cwd=" in text and text.split("cwd=")[1].split("\n")[0].endswith("node0")
        assert f"awkward=[{AWKWARD}]\n" in text, text
        # Exactly the job's environment: not the session's (sshd's SetEnv).
        assert "home=unset\n" in text, text


def test_a_script_exiting_255_is_an_ordinary_failure(agent: Agent):
    job_id = agent.submit(
        'if [ "$SKYPILOT_NODE_RANK" = 1 ]; then exit 255; fi; sleep 30',
        num_nodes=2,
        envs={},
    )
    record = agent.wait_status(job_id, {"SUCCEEDED", "FAILED", "FAILED_DRIVER"}, 20)
    assert record["status"] == "FAILED", run_log(record)
    assert record["exit_code"] == 255
    assert "Job of rank 1 exited with code 255" in run_log(record)


def test_cancel_kills_the_remote_ranks_processes(agent: Agent):
    marker = f"SKYCORE_TEST_MARKER={uuid.uuid4().hex}"
    name, value = marker.split("=")
    # The rank ignores SIGTERM and leaves a child behind: only the group KILL ends it.
    job_id = agent.submit(
        "trap '' TERM; sleep 300 & echo ready; wait", num_nodes=3, envs={name: value}
    )
    wait_ranks_ready(agent, job_id, 3)
    assert len(processes_with(marker)) >= 6  # a bash and a sleep per rank, at least
    agent.call({"op": "cancel", "job_ids": [job_id]})
    record = agent.wait_status(job_id, {"CANCELLED"}, 10)
    assert record["status"] == "CANCELLED", run_log(record)
    left = wait_no_processes(marker, 15)
    assert not left, f"rank processes survived the cancel: {left}"


def test_a_lost_node_fails_the_job_as_a_driver_failure(agent: Agent, sshd_hosts: SshdHosts):
    marker = f"SKYCORE_TEST_MARKER={uuid.uuid4().hex}"
    name, value = marker.split("=")
    job_id = agent.submit("sleep 300 & echo ready; wait", num_nodes=3, envs={name: value})
    wait_ranks_ready(agent, job_id, 3)
    lost = sshd_hosts.hosts[1]  # node 2, so rank 2
    started = time.monotonic()
    sshd_hosts.kill_host(lost)
    record = agent.wait_status(job_id, {"SUCCEEDED", "FAILED", "FAILED_DRIVER", "CANCELLED"}, 15)
    assert record["status"] == "FAILED_DRIVER", run_log(record)
    assert time.monotonic() - started < 10
    text = run_log(record)
    assert f"rank 2 lost its node {lost.address} (ssh: connection lost" in text, text
    assert "stopping the other ranks" in text
    left = wait_no_processes(marker, 15)
    assert not left, f"rank processes survived the lost node: {left}"


def test_each_fixture_host_has_its_own_skycore_home(sshd_hosts: SshdHosts):
    for host in sshd_hosts.hosts:
        result = subprocess.run(
            [
                "ssh", "-F", "/dev/null", "-T", "-i", str(sshd_hosts.user_key),
                "-p", str(host.port), "-o", "BatchMode=yes",
                "-o", "StrictHostKeyChecking=accept-new",
                "-o", f"UserKnownHostsFile={sshd_hosts.root / 'known_hosts'}",
                f"root@{host.address}", 'echo "$SKYCORE_HOME"; test -d "$SKYCORE_HOME"',
            ],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == str(host.directory / "home")
