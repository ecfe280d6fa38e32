"""SSH node pools with the real `sky` binary against throwaway sshd hosts
(tests/python/sshd_fixture.py): `sky check ssh`, `sky show-gpus --infra ssh`,
config errors, and a first launch on a pool (tests/python/test_ssh_launch.py
has the rest)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import tempfile

import pytest
import sshd_fixture
from sshd_fixture import SshdHosts

sshd_hosts = sshd_fixture.sshd_hosts  # the fixture, registered in this module


@pytest.fixture
def sky_env(tmp_path: pathlib.Path):
    """Environment of one isolated `sky`: its own state dir, SSH config and
    short control-socket directory."""
    state = tmp_path / "state"
    state.mkdir()
    control = pathlib.Path(tempfile.mkdtemp(prefix="skyctl"))
    env = dict(os.environ)
    env.update(
        SKYCORE_STATE_DIR=str(state),
        SKYCORE_SSH_CONFIG=str(tmp_path / "ssh_config"),
        SKYCORE_SSH_CONTROL_DIR=str(control),
        CI="true",
    )
    yield env
    sshd_fixture.remove_control_dir(control)


def sky(sky_bin: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sky_bin, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def write_pools(env: dict, text: str) -> pathlib.Path:
    path = pathlib.Path(env["SKYCORE_STATE_DIR"]) / "ssh_node_pools.yaml"
    path.write_text(text)
    return path


def host_entries(hosts: SshdHosts, env: dict) -> list[str]:
    """Pool entries for the hosts: their addresses on port 22, else aliases
    of an SSH config that gives their ports."""
    if all(h.port == 22 for h in hosts.hosts):
        return [h.address for h in hosts.hosts]
    config = "".join(
        f"Host sshd{i}\n  HostName {h.address}\n  Port {h.port}\n"
        for i, h in enumerate(hosts.hosts)
    )
    pathlib.Path(env["SKYCORE_SSH_CONFIG"]).write_text(config)
    return [f"sshd{i}" for i in range(len(hosts.hosts))]


def test_check_ssh_good_hosts(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    entries = host_entries(sshd_hosts, sky_env)
    write_pools(
        sky_env,
        f"lab:\n  user: root\n  identity_file: {sshd_hosts.user_key}\n"
        f"  hosts: [{', '.join(entries)}]\n",
    )
    result = sky(sky_bin, sky_env, "check", "ssh")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SSH: enabled" in result.stdout, result.stdout
    assert "pool 'lab': 3 of 3 hosts ready" in result.stdout, result.stdout
    assert "Linux" in result.stdout and "CPU" in result.stdout
    inventory = json.loads(
        (pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "ssh" / "inventory.json").read_text()
    )
    assert inventory["version"] == 1
    assert [h["error"] for h in inventory["hosts"]] == ["", "", ""]
    assert all(h["cpus"] >= 1 and h["memory_gib"] > 0 for h in inventory["hosts"])
    # First contact recorded the host keys (accept-new) in skycore's known_hosts.
    known_hosts = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "ssh" / "known_hosts"
    assert len(known_hosts.read_text().splitlines()) >= 3
    # A second check reuses the keys (and the shared connections).
    again = sky(sky_bin, sky_env, "check", "ssh")
    assert again.returncode == 0, again.stdout + again.stderr


def test_host_down_and_wrong_key(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    good = sshd_hosts.hosts[0]
    if good.port != 22:
        pytest.skip("needs sshd on port 22 of a loopback address")
    down = sshd_hosts.free_address()
    write_pools(
        sky_env,
        f"good:\n  identity_file: {sshd_hosts.user_key}\n  user: root\n"
        f"  hosts: [{good.address}, {down}]\n"
        f"badkey:\n  hosts:\n    - ip: {sshd_hosts.hosts[1].address}\n"
        f"      user: root\n      identity_file: {sshd_hosts.wrong_key}\n",
    )
    result = sky(sky_bin, sky_env, "check", "ssh")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr  # one host is ready
    assert "pool 'good': 1 of 2 hosts ready" in out, out
    assert f"root@{down}:22: unreachable: cannot connect to root@{down}:22" in out, out
    assert "Connection refused" in out, out
    assert "pool 'badkey': 0 of 1 host ready" in out, out
    bad = sshd_hosts.hosts[1].address
    assert "authentication failed: Permission denied (publickey) for" in out, out
    assert f"for root@{bad}:22 with key {sshd_hosts.wrong_key}" in out, out


def test_no_ready_host_disables_ssh(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    write_pools(sky_env, f"p:\n  user: root\n  hosts: [{sshd_hosts.free_address()}]\n")
    result = sky(sky_bin, sky_env, "check", "ssh")
    assert result.returncode == 1  # no infra enabled
    assert "SSH: disabled" in result.stdout, result.stdout
    assert "Reason: pool 'p': 0 of 1 host ready" in result.stdout, result.stdout


def test_host_alias_from_ssh_config(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    host = sshd_hosts.hosts[2]
    pathlib.Path(sky_env["SKYCORE_SSH_CONFIG"]).write_text(
        "Host my-box\n"
        f"  HostName {host.address}\n"
        f"  Port {host.port}\n"
        "  User root\n"
        f"  IdentityFile {sshd_hosts.user_key}\n"
    )
    # The pool's own user/key must not override the alias's.
    write_pools(sky_env, "box:\n  user: nobody\n  identity_file: /nonexistent\n  hosts: [my-box]\n")
    result = sky(sky_bin, sky_env, "check", "ssh")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"my-box (root@{host.address}:{host.port}): Linux" in result.stdout, result.stdout


def test_no_pools_file(sky_bin: str, sky_env: dict) -> None:
    result = sky(sky_bin, sky_env, "check", "ssh")
    assert result.returncode == 1
    assert "no SSH node pools: list your machines in" in result.stdout, result.stdout
    assert "ssh_node_pools.yaml" in result.stdout


def test_malformed_pools_file(sky_bin: str, sky_env: dict) -> None:
    path = write_pools(sky_env, "lab:\n  hosts: [1.2.3.4]\n  identity_fle: ~/.ssh/id\n")
    result = sky(sky_bin, sky_env, "check", "ssh")
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{path}:3:3" in result.stderr, result.stderr
    assert "lab.identity_fle" in result.stderr
    assert "identity_file" in result.stderr  # the close match
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("sshd_hosts", [["H100:2", "", "A100:1"]], indirect=True)
def test_show_gpus_and_launch(sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict) -> None:
    entries = host_entries(sshd_hosts, sky_env)
    write_pools(
        sky_env,
        f"gpus:\n  user: root\n  identity_file: {sshd_hosts.user_key}\n"
        f"  hosts: [{entries[0]}, {entries[1]}]\n"
        f"more:\n  user: root\n  identity_file: {sshd_hosts.user_key}\n  hosts: [{entries[2]}]\n",
    )
    # Before `sky check ssh`, nothing is known about the pools.
    before = sky(sky_bin, sky_env, "show-gpus", "--infra", "ssh")
    assert "H100" not in before.stdout
    check = sky(sky_bin, sky_env, "check", "ssh")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "2x H100" in check.stdout and "1x A100" in check.stdout, check.stdout

    listing = sky(sky_bin, sky_env, "show-gpus", "--infra", "ssh")
    assert listing.returncode == 0, listing.stderr
    lines = {line.split()[0]: line for line in listing.stdout.splitlines() if line.strip()}
    assert lines["H100"].split()[1:] == ["1,", "2"], listing.stdout
    assert lines["A100-80GB"].split()[1:] == ["1"], listing.stdout  # "NVIDIA A100 80GB"

    one_pool = sky(sky_bin, sky_env, "show-gpus", "H100", "--infra", "ssh/gpus")
    assert one_pool.returncode == 0, one_pool.stderr
    assert "gpus" in one_pool.stdout and "A100" not in one_pool.stdout, one_pool.stdout

    # The optimizer sees the pool; launching there is not implemented yet.
    dry = sky(sky_bin, sky_env, "launch", "--dryrun", "--gpus", "H100:1", "--", "nvidia-smi")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "gpus" in dry.stdout, dry.stdout
    # A node reserves SkyPilot's virtual instance type on its host.
    assert "4CPU--16GB--H100:1" in dry.stdout, dry.stdout
    plain = sky(sky_bin, sky_env, "launch", "--dryrun", "--", "echo", "hi")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    # At equal price (0) the local machine stays the choice for a plain task.
    rows = [line.split() for line in plain.stdout.splitlines() if "0.00" in line]
    chosen = [" ".join(row) for row in rows if row[-1] == "*"]
    assert chosen and "Local" in chosen[0], plain.stdout
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-c", "p", "--infra", "ssh/gpus", "--", "echo", "hi"
    )
    assert launch.returncode == 0, launch.stdout + launch.stderr
    assert "hi" in launch.stdout.splitlines(), launch.stdout
    assert sky(sky_bin, sky_env, "down", "-y", "p").returncode == 0
