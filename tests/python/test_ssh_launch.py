"""Launching on SSH node pools with the real `sky` binary against throwaway
sshd hosts (tests/python/sshd_fixture.py): placement on free hosts, the agent
on the head, multi-node jobs with the right ranks and IPs, shared pools, a
host down at launch, a wrong key, a host dying mid-job, and `sky down`
removing everything skycore put on the hosts."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest
import sshd_fixture
from sshd_fixture import SshdHosts, close_shared_connections
from test_ssh_pools import host_entries, sky, sky_env, write_pools

sshd_hosts = sshd_fixture.sshd_hosts  # the fixtures, registered in this module
sky_env = sky_env

REPO = pathlib.Path(__file__).resolve().parents[2]
MULTINODE = REPO / "examples" / "multi_node.yaml"


def launch(sky_bin: str, env: dict, name: str, *args: str) -> subprocess.CompletedProcess:
    """`sky launch -y -c NAME --infra ssh/lab ARGS`."""
    return sky(sky_bin, env, "launch", "-y", "-c", name, "--infra", "ssh/lab", *args)


def host_home(host: sshd_fixture.SshdHost) -> pathlib.Path:
    """What skycore puts on a host lives here (the host's SKYCORE_HOME)."""
    return host.directory / "home"


def setup_pool(
    sky_bin: str, hosts: SshdHosts, env: dict, *, key: pathlib.Path | None = None, extra=()
) -> list[str]:
    entries = host_entries(hosts, env)
    listed = ", ".join([*entries, *extra])
    write_pools(
        env,
        f"lab:\n  user: root\n  identity_file: {key or hosts.user_key}\n  hosts: [{listed}]\n",
    )
    check = sky(sky_bin, env, "check", "ssh")
    assert check.returncode == 0, check.stdout + check.stderr
    return entries


def cluster_dirs(hosts: SshdHosts, name: str) -> list[pathlib.Path]:
    return [
        host_home(h) / "clusters" / name
        for h in hosts.hosts
        if (host_home(h) / "clusters" / name).exists()
    ]


def test_multinode_ranks_and_down(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    setup_pool(sky_bin, sshd_hosts, sky_env)
    result = launch(sky_bin, sky_env, "mn", str(MULTINODE))
    assert result.returncode == 0, result.stdout + result.stderr
    # One line per rank, each with its rank and every node's address.
    addresses = [h.address for h in sshd_hosts.hosts[:2]]
    ranks = sorted(line for line in result.stdout.splitlines() if "rank" in line.lower())
    assert len([r for r in ranks if "of 2" in r]) == 2, result.stdout
    for rank in (0, 1):
        assert any(f"rank {rank} of 2" in line for line in ranks), result.stdout
    for address in addresses:
        assert address in result.stdout, result.stdout
    assert len(cluster_dirs(sshd_hosts, "mn")) == 2

    status = sky(sky_bin, sky_env, "status")
    assert "mn" in status.stdout and "UP" in status.stdout, status.stdout
    assert "ssh/lab" in status.stdout or "lab" in status.stdout, status.stdout

    # exec reaches the agent through the forwarded socket.
    ex = sky(
        sky_bin,
        sky_env,
        "exec",
        "mn",
        "--num-nodes",
        "2",
        "--",
        "echo",
        "exec-on-$SKYPILOT_NODE_RANK",
    )
    assert ex.returncode == 0, ex.stdout + ex.stderr
    assert "exec-on-0" in ex.stdout and "exec-on-1" in ex.stdout, ex.stdout

    # Logs come back from the head.
    home = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]).parent / "home"
    local_logs = home / "sky_logs" / "mn"
    synced = sky(sky_bin, {**sky_env, "HOME": str(home)}, "logs", "mn", "1", "--sync-down")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    assert any("rank 1 of 2" in p.read_text() for p in local_logs.rglob("*.log")), synced.stdout

    down = sky(sky_bin, sky_env, "down", "-y", "mn")
    assert down.returncode == 0, down.stdout + down.stderr
    assert cluster_dirs(sshd_hosts, "mn") == []
    assert "mn" not in sky(sky_bin, sky_env, "status").stdout
    # Idempotent: a second down names the cluster that does not exist.
    again = sky(sky_bin, sky_env, "down", "-y", "mn")
    assert again.returncode != 0 and "does not exist" in again.stderr


def test_clusters_share_a_pool_until_full(
    sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict
) -> None:
    setup_pool(sky_bin, sshd_hosts, sky_env)
    # 3 hosts of 2 CPUs: a 2-node and a 1-node cluster of SkyPilot's default
    # node (2CPU--2GB, reserved on its host) fit, one node per host ...
    first = launch(
        sky_bin,
        sky_env,
        "a",
        "-d",
        "--num-nodes",
        "2",
        "--",
        "true",
    )
    assert first.returncode == 0, first.stdout + first.stderr
    second = launch(sky_bin, sky_env, "b", "-d", "--", "true")
    assert second.returncode == 0, second.stdout + second.stderr
    status = sky(sky_bin, sky_env, "status")
    [row] = [line for line in status.stdout.splitlines() if line.startswith("b ")]
    assert "2CPU--2GB" in row, status.stdout
    # ... and then every CPU is held: a third cluster is refused, saying why.
    full = launch(sky_bin, sky_env, "c", "--", "true")
    assert full.returncode != 0, full.stdout
    assert "0 of 2 CPUs free, 2 asked" in full.stderr, full.stderr
    # GPUs are reserved too: the fixture's hosts have none, so asking fails clearly.
    gpus = launch(sky_bin, sky_env, "g", "--gpus", "H100:1", "--", "true")
    assert gpus.returncode != 0
    assert "H100" in gpus.stderr, gpus.stderr
    for name in ("a", "b"):
        assert sky(sky_bin, sky_env, "down", "-y", name).returncode == 0
    assert cluster_dirs(sshd_hosts, "a") == [] and cluster_dirs(sshd_hosts, "b") == []


@pytest.mark.parametrize("sshd_hosts", [["H100:2", "H100:2", ""]], indirect=True)
def test_gpu_reservations(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    setup_pool(sky_bin, sshd_hosts, sky_env)
    a = launch(
        sky_bin,
        sky_env,
        "ga",
        "--gpus",
        "H100:2",
        # SkyPilot's default for 2 GPUs (32 GB) is more than this machine has.
        "--memory",
        "4",
        "--num-nodes",
        "2",
        "--",
        "echo",
        "dev=$CUDA_VISIBLE_DEVICES",
    )
    assert a.returncode == 0, a.stdout + a.stderr
    assert a.stdout.count("dev=0,1") == 2, a.stdout
    # Every H100 is held by `ga` now: show-gpus says so per host.
    listing = sky(sky_bin, sky_env, "show-gpus", "--infra", "ssh/lab")
    assert listing.returncode == 0, listing.stderr
    per_host = listing.stdout.split("per-host GPU availability")[1].splitlines()
    held = [line.split() for line in per_host if "H100" in line]
    assert len(held) == 2 and all(row[3:] == ["0", "2"] for row in held), listing.stdout
    b = launch(sky_bin, sky_env, "gb", "--gpus", "H100:1", "--", "true")
    assert b.returncode != 0, b.stdout
    assert "0 of 2 H100 free" in b.stderr, b.stderr
    assert sky(sky_bin, sky_env, "down", "-y", "ga").returncode == 0
    c = launch(sky_bin, sky_env, "gb", "--gpus", "H100:1", "--", "true")
    assert c.returncode == 0, c.stdout + c.stderr
    assert sky(sky_bin, sky_env, "down", "-y", "gb").returncode == 0


def test_host_down_at_launch_uses_next(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    setup_pool(sky_bin, sshd_hosts, sky_env)
    # The first host goes down after `sky check` saw it ready.
    sshd_hosts.kill_host(sshd_hosts.hosts[0])
    result = launch(
        sky_bin,
        sky_env,
        "hd",
        "--num-nodes",
        "2",
        "--",
        "echo",
        "up-$SKYPILOT_NODE_RANK",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed" in result.stdout and "using" in result.stdout, result.stdout
    assert "up-0" in result.stdout and "up-1" in result.stdout
    assert sky(sky_bin, sky_env, "down", "-y", "hd").returncode == 0
    # With no spare left, a 3-node launch fails naming the dead host.
    full = launch(sky_bin, sky_env, "hd3", "--num-nodes", "3", "--", "true")
    assert full.returncode != 0
    assert sshd_hosts.hosts[0].address in full.stderr, full.stderr
    assert sky(sky_bin, sky_env, "down", "-y", "hd3").returncode == 0


def test_wrong_key_names_host_and_user(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    entries = host_entries(sshd_hosts, sky_env)
    pool = "lab:\n  user: root\n  identity_file: {}\n  hosts: [{}]\n"
    write_pools(sky_env, pool.format(sshd_hosts.wrong_key, entries[0]))
    check = sky(sky_bin, sky_env, "check", "ssh")
    assert "Permission denied" in check.stdout + check.stderr
    assert f"root@{sshd_hosts.hosts[0].address}" in check.stdout + check.stderr
    # A key that changes after `sky check` saw the host ready: launch says why.
    write_pools(sky_env, pool.format(sshd_hosts.user_key, entries[0]))
    assert sky(sky_bin, sky_env, "check", "ssh").returncode == 0
    write_pools(sky_env, pool.format(sshd_hosts.wrong_key, entries[0]))
    # (A shared connection still open would not authenticate again.)
    close_shared_connections(pathlib.Path(sky_env["SKYCORE_SSH_CONTROL_DIR"]))
    result = launch(sky_bin, sky_env, "wk", "--", "true")
    assert result.returncode != 0
    assert f"root@{sshd_hosts.hosts[0].address}" in result.stderr, result.stderr
    assert "Permission denied" in result.stderr, result.stderr
    assert sky(sky_bin, sky_env, "down", "-y", "wk").returncode == 0


def test_host_dies_mid_job(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    setup_pool(sky_bin, sshd_hosts, sky_env)
    result = launch(
        sky_bin,
        sky_env,
        "hx",
        "-d",
        "--num-nodes",
        "2",
        "--",
        "sleep 300 # skycore-mid-job-marker",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    deadline = time.monotonic() + 30
    while "RUNNING" not in sky(sky_bin, sky_env, "queue", "hx").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # The worker host dies: its sshd and everything it started are killed.
    sshd_hosts.kill_host(sshd_hosts.hosts[1])
    deadline = time.monotonic() + 30
    while True:
        queue = sky(sky_bin, sky_env, "queue", "hx").stdout
        if "FAILED_DRIVER" in queue:
            break
        assert time.monotonic() < deadline, queue
        time.sleep(0.5)
    logs = sky(sky_bin, sky_env, "logs", "hx", "1", "--no-follow")
    assert "lost" in logs.stdout, logs.stdout
    # The head's rank was stopped too.
    assert not marker_processes("skycore-mid-job-marker")
    down = sky(sky_bin, sky_env, "down", "-y", "hx")
    assert down.returncode == 0, down.stdout + down.stderr


def test_killed_launch_leaves_nothing_down_cannot_remove(
    sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict
) -> None:
    setup_pool(sky_bin, sshd_hosts, sky_env)
    process = subprocess.Popen(
        [
            sky_bin,
            "launch",
            "-y",
            "-c",
            "k9",
            "--infra",
            "ssh/lab",
            "--num-nodes",
            "2",
            "--",
            "sleep 300 # skycore-k9-marker",
        ],
        env=sky_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # Kill it once it has touched the hosts.
    deadline = time.monotonic() + 30
    while not cluster_dirs(sshd_hosts, "k9") and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    down = sky(sky_bin, sky_env, "down", "-y", "k9")
    assert down.returncode == 0, down.stdout + down.stderr
    assert cluster_dirs(sshd_hosts, "k9") == []
    assert not marker_processes("skycore-k9-marker")


def marker_processes(marker: str) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if marker.encode() in cmdline and b"pytest" not in cmdline:
            found.append(int(entry.name))
    return found


def test_ssh_up_down_and_allowed_pools(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    entries = host_entries(sshd_hosts, sky_env)
    write_pools(
        sky_env,
        f"lab:\n  user: root\n  identity_file: {sshd_hosts.user_key}\n"
        f"  hosts: [{entries[0]}, {entries[1]}]\n"
        f"other:\n  user: root\n  identity_file: {sshd_hosts.user_key}\n  hosts: [{entries[2]}]\n",
    )
    state = pathlib.Path(sky_env["SKYCORE_STATE_DIR"])
    (state / "config.yaml").write_text("ssh:\n  allowed_node_pools: [lab]\n")
    check = sky(sky_bin, sky_env, "check", "ssh")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "pool 'other': skipped (not in ssh.allowed_node_pools" in check.stdout, check.stdout
    other = sky(sky_bin, sky_env, "launch", "-y", "-c", "o", "--infra", "ssh/other", "--", "true")
    assert other.returncode != 0, other.stdout

    typo = sky(sky_bin, sky_env, "ssh", "up", "--infra", "lba")
    assert typo.returncode != 0 and "lab" in typo.stderr, typo.stderr
    up = sky(sky_bin, sky_env, "ssh", "up")
    assert up.returncode == 0, up.stdout + up.stderr
    assert up.stdout.count("ready") == 2, up.stdout
    for host in sshd_hosts.hosts[:2]:
        assert list((host_home(host) / "bin").glob("skyletd-*")), host
    assert not (host_home(sshd_hosts.hosts[2]) / "bin").exists()
    again = sky(sky_bin, sky_env, "ssh", "up")
    assert again.returncode == 0 and "already installed" in again.stdout, again.stdout

    # The agent is there already: the launch does not install it.
    result = launch(sky_bin, sky_env, "u", "--", "echo", "hi")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Installing the agent" not in result.stdout + result.stderr
    busy = sky(sky_bin, sky_env, "ssh", "down")
    assert busy.returncode != 0 and "'u'" in busy.stderr, busy.stderr
    assert sky(sky_bin, sky_env, "down", "-y", "u").returncode == 0
    down = sky(sky_bin, sky_env, "ssh", "down", "--infra", "ssh/lab")
    assert down.returncode == 0, down.stdout + down.stderr
    for host in sshd_hosts.hosts[:2]:
        assert not host_home(host).exists() or not any(host_home(host).iterdir()), host


def test_python_sdk_on_a_pool(sshd_hosts: SshdHosts, sky_env: dict, sky_bin: str) -> None:
    """`import sky` drives the same pool: ssh_up, launch with infra, down."""
    entries = host_entries(sshd_hosts, sky_env)
    write_pools(
        sky_env,
        f"lab:\n  user: root\n  identity_file: {sshd_hosts.user_key}\n"
        f"  hosts: [{entries[0]}, {entries[1]}]\n",
    )
    script = (
        "import sky\n"
        "hosts = sky.get(sky.ssh_up(infra='lab'))\n"
        "assert [h['ok'] for h in hosts] == [True, True], hosts\n"
        "task = sky.Task(run='echo sdk-rank-$SKYPILOT_NODE_RANK', num_nodes=2)\n"
        "task.set_resources(sky.Resources(infra='ssh/lab'))\n"
        "job_id, handle = sky.stream_and_get(sky.launch(task, cluster_name='py'))\n"
        "print('job', job_id)\n"
        "(record,) = sky.get(sky.status(['py']))\n"
        "print('status', record['status'])\n"
        "sky.get(sky.down('py'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=sky_env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "sdk-rank-0" in result.stdout and "sdk-rank-1" in result.stdout, result.stdout
    assert "status ClusterStatus.UP" in result.stdout or "status UP" in result.stdout, result.stdout
    assert cluster_dirs(sshd_hosts, "py") == []
