"""Slurm clusters as inventory, with the real `sky` binary against a throwaway
Slurm cluster reached over SSH (tests/python/slurm_fixture.py): `sky check
slurm`, `sky show-gpus --infra slurm` with free counts that follow the jobs,
the catalog rows, and precise errors for a login node that cannot be used."""

from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import pytest
import slurm_fixture
import sshd_fixture
from slurm_fixture import SlurmCluster

slurm_cluster = slurm_fixture.slurm_cluster  # the fixture, registered in this module


@pytest.fixture
def sky_env(tmp_path: pathlib.Path):
    """Environment of one isolated `sky`: its own state dir, ~/.slurm/config
    and short control-socket directory."""
    state = tmp_path / "state"
    state.mkdir()
    control = pathlib.Path(tempfile.mkdtemp(prefix="skyctl"))
    env = dict(os.environ)
    env.pop("SLURM_CONF", None)  # sky must find the cluster through the login node
    env.update(
        SKYCORE_STATE_DIR=str(state),
        SKYCORE_SSH_CONFIG=str(tmp_path / "ssh_config"),
        SKYCORE_SLURM_CONFIG=str(tmp_path / "slurm_config"),
        SKYCORE_SSH_CONTROL_DIR=str(control),
        CI="true",
    )
    yield env
    sshd_fixture.remove_control_dir(control)


def sky(sky_bin: str, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sky_bin, *args], capture_output=True, text=True, timeout=120, env=env, check=False
    )


def write_slurm_config(env: dict, text: str) -> None:
    pathlib.Path(env["SKYCORE_SLURM_CONFIG"]).write_text(text)


def gpu_rows(stdout: str) -> dict[tuple[str, str], list[str]]:
    """Per-node rows of `sky show-gpus --infra slurm`: (partition, node) → row."""
    rows = {}
    in_nodes = False
    for line in stdout.splitlines():
        if line.startswith("Slurm per-node GPU availability"):
            in_nodes = True
            continue
        fields = line.split()
        if in_nodes and len(fields) >= 6 and fields[0] != "CLUSTER":
            rows[(fields[1], fields[2])] = fields
    return rows


def test_check_slurm_lists_nodes_and_gpus(
    sky_bin: str, slurm_cluster: SlurmCluster, sky_env: dict
) -> None:
    write_slurm_config(sky_env, slurm_cluster.slurm_config_entry())
    result = sky(sky_bin, sky_env, "check", "slurm")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Slurm: enabled" in out, out
    login = f"root@{slurm_cluster.login_address}:{slurm_cluster.login_port}"
    assert f"cluster 'skytest' ({login}): 2 nodes, 2 partitions, 4 of 4 GPUs free" in out, out
    assert "partition 'debug' (default): n1 (idle, 8 CPUs, 39 GiB, H100 2/2 free)" in out, out
    assert "n2 (idle, 8 CPUs, 39 GiB, H100 2/2 free)" in out, out
    assert "partition 'cpu': n2" in out, out

    state = pathlib.Path(sky_env["SKYCORE_STATE_DIR"])
    inventory = json.loads((state / "slurm" / "inventory.json").read_text())
    assert inventory["version"] == 1
    (cluster,) = inventory["clusters"]
    assert cluster["error"] == ""
    assert cluster["default_partition"] == "debug"
    nodes = {(n["partition"], n["name"]): n for n in cluster["nodes"]}
    assert set(nodes) == {("debug", "n1"), ("debug", "n2"), ("cpu", "n2")}
    assert nodes[("debug", "n1")]["address"] == "127.0.10.1"
    assert nodes[("debug", "n1")]["gpus"] == [{"type": "h100", "total": 2, "used": 0}]

    # The catalog has the cluster (region) and its partitions (zones), price 0.
    listing = sky(sky_bin, sky_env, "show-gpus", "H100", "--infra", "slurm", "--all-regions")
    assert listing.returncode == 0, listing.stdout + listing.stderr
    assert "8CPU--39GB--H100:2" in listing.stdout, listing.stdout
    assert "skytest" in listing.stdout, listing.stdout
    assert "$ 0.000" in listing.stdout, listing.stdout

    # The optimizer offers the partition a task names; launching is not built yet.
    dry = sky(
        sky_bin,
        sky_env,
        "launch",
        "--dryrun",
        "--infra",
        "slurm/skytest/cpu",
        "--gpus",
        "H100:1",
        "--",
        "nvidia-smi",
    )
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "Slurm (skytest, cpu)   4CPU--16GB--H100:1" in dry.stdout, dry.stdout


def test_show_gpus_free_counts_follow_jobs(
    sky_bin: str, slurm_cluster: SlurmCluster, sky_env: dict
) -> None:
    write_slurm_config(sky_env, slurm_cluster.slurm_config_entry())
    idle = sky(sky_bin, sky_env, "show-gpus", "--infra", "slurm")
    assert idle.returncode == 0, idle.stdout + idle.stderr
    assert "skytest  debug      H100  1, 2" in idle.stdout, idle.stdout
    assert "4 of 4 free" in idle.stdout, idle.stdout
    rows = gpu_rows(idle.stdout)
    assert rows[("debug", "n1")][3:] == ["idle", "H100", "2", "of", "2", "free"], idle.stdout
    assert rows[("cpu", "n2")][3:] == ["idle", "H100", "2", "of", "2", "free"], idle.stdout

    job = slurm_cluster.sbatch("-p", "cpu", "--gpus-per-node=h100:1", "--wrap", "sleep 30")
    slurm_cluster.wait_for(lambda: slurm_cluster.job_state(job) == "RUNNING", f"job {job} running")
    busy = sky(sky_bin, sky_env, "show-gpus", "--infra", "slurm/skytest")
    assert busy.returncode == 0, busy.stdout + busy.stderr
    rows = gpu_rows(busy.stdout)
    assert rows[("debug", "n1")][3:] == ["idle", "H100", "2", "of", "2", "free"], busy.stdout
    assert rows[("debug", "n2")][3:] == ["mixed", "H100", "1", "of", "2", "free"], busy.stdout
    assert rows[("cpu", "n2")][3:] == ["mixed", "H100", "1", "of", "2", "free"], busy.stdout
    assert "3 of 4 free" in busy.stdout, busy.stdout

    one_partition = sky(sky_bin, sky_env, "show-gpus", "--infra", "slurm/skytest/cpu")
    assert one_partition.returncode == 0, one_partition.stdout + one_partition.stderr
    assert set(gpu_rows(one_partition.stdout)) == {("cpu", "n2")}, one_partition.stdout
    no_partition = sky(sky_bin, sky_env, "show-gpus", "--infra", "slurm/skytest/gpus")
    assert no_partition.returncode != 0
    assert "no partition 'gpus' in Slurm cluster 'skytest'" in no_partition.stderr

    unknown = sky(sky_bin, sky_env, "show-gpus", "--infra", "slurm/skytset")
    assert unknown.returncode != 0
    assert "no Slurm cluster 'skytset'" in unknown.stderr, unknown.stderr
    assert "skytest" in unknown.stderr  # the close match


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_unusable_login_nodes_are_reported(
    sky_bin: str, slurm_cluster: SlurmCluster, sky_env: dict
) -> None:
    # A second cluster whose login node is down, and a third with a wrong key.
    port = free_port()
    write_slurm_config(
        sky_env,
        slurm_cluster.slurm_config_entry()
        + f"Host downcluster\n  HostName 127.0.0.1\n  Port {port}\n  User root\n"
        + slurm_cluster.slurm_config_entry("badkey", slurm_cluster.wrong_key),
    )
    result = sky(sky_bin, sky_env, "check", "slurm")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr  # skytest is usable
    assert "cluster 'skytest'" in out and "4 of 4 GPUs free" in out, out
    assert (
        f"cluster 'downcluster' (root@127.0.0.1:{port}): login node unreachable: "
        f"cannot connect to root@127.0.0.1:{port}"
    ) in out, out
    login = f"root@{slurm_cluster.login_address}:{slurm_cluster.login_port}"
    assert (
        f"cluster 'badkey' ({login}): authentication failed: Permission denied (publickey) for "
        f"{login} with key {slurm_cluster.wrong_key}"
    ) in out, out

    # Only the down cluster: Slurm is disabled and show-gpus fails, saying why.
    write_slurm_config(sky_env, f"Host downcluster\n  HostName 127.0.0.1\n  Port {port}\n")
    alone = sky(sky_bin, sky_env, "check", "slurm")
    assert alone.returncode == 1, alone.stdout + alone.stderr
    assert "Slurm: disabled" in alone.stdout, alone.stdout
    gpus = sky(sky_bin, sky_env, "show-gpus", "--infra", "slurm")
    assert gpus.returncode == 1, gpus.stdout + gpus.stderr
    assert "cluster 'downcluster': login node unreachable" in gpus.stderr, gpus.stderr


@pytest.fixture
def broken_login_nodes(slurm_cluster: SlurmCluster) -> Iterator[dict[str, int]]:
    """Two more login nodes of the cluster's host: one without Slurm on its
    PATH, one whose slurm.conf names no controller. Name → port."""
    bad_conf = slurm_cluster.directory / "etc" / "nowhere.conf"
    bad_conf.write_text("ClusterName=nowhere\n")
    variants = {
        "nosinfo": {"PATH": "/nonexistent"},
        "noctld": {"SLURM_CONF": str(bad_conf)},
    }
    started, ports = [], {}
    try:
        for name, env in variants.items():
            ports[name] = free_port()
            process, _ = sshd_fixture.start_sshd(
                slurm_cluster.directory,
                name,
                "127.0.0.1",
                ports[name],
                slurm_cluster.user_key.with_suffix(".pub"),
                extra_env=env,
            )
            started.append(process)
        yield ports
    finally:
        for process in started:
            sshd_fixture._kill_tree(process.pid)
            process.wait()


def test_sinfo_missing_or_failing(
    sky_bin: str, slurm_cluster: SlurmCluster, broken_login_nodes: dict, sky_env: dict
) -> None:
    key = slurm_cluster.user_key
    write_slurm_config(
        sky_env,
        "".join(
            f"Host {name}\n  HostName 127.0.0.1\n  Port {port}\n  User root\n  IdentityFile {key}\n"
            for name, port in broken_login_nodes.items()
        ),
    )
    result = sky(sky_bin, sky_env, "check", "slurm")
    out = result.stdout
    assert result.returncode == 1, out + result.stderr
    nosinfo = f"root@127.0.0.1:{broken_login_nodes['nosinfo']}"
    assert f"cluster 'nosinfo' ({nosinfo}): sinfo not found on login node {nosinfo}" in out, out
    noctld = f"root@127.0.0.1:{broken_login_nodes['noctld']}"
    assert f"cluster 'noctld' ({noctld}): sinfo failed (exit 1) on login node {noctld}: " in out
    assert "sinfo: " in out.split("cluster 'noctld'")[1], out  # sinfo's own words


def test_allowed_clusters_and_missing_config(
    sky_bin: str, slurm_cluster: SlurmCluster, sky_env: dict
) -> None:
    nothing = sky(sky_bin, sky_env, "check", "slurm")
    assert nothing.returncode == 1
    assert "no Slurm clusters: name each cluster's login node in" in nothing.stdout, nothing.stdout
    assert sky_env["SKYCORE_SLURM_CONFIG"] in nothing.stdout

    write_slurm_config(sky_env, slurm_cluster.slurm_config_entry())
    config = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text("slurm:\n  allowed_clusters: [other]\n")
    none_allowed = sky(sky_bin, sky_env, "check", "slurm")
    assert none_allowed.returncode == 1
    assert "cluster 'other' (in slurm.allowed_clusters): no `Host other` in" in (
        none_allowed.stdout
    ), none_allowed.stdout

    config.write_text("slurm:\n  allowed_clusters: [skytest]\n  provision_timeout: 60\n")
    allowed = sky(sky_bin, sky_env, "check", "slurm")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "cluster 'skytest'" in allowed.stdout

    config.write_text("slurm:\n  allowed_clusters: skytest\n")
    bad = sky(sky_bin, sky_env, "check", "slurm")
    assert "slurm.allowed_clusters must be a list of cluster names" in bad.stdout + bad.stderr
