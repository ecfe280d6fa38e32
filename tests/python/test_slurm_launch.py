"""Launching on a Slurm cluster with the real `sky` binary against a throwaway
Slurm cluster reached over SSH (tests/python/slurm_fixture.py): the
multi-node example runs with the right ranks and node addresses, jobs are
srun steps inside one allocation, `sky down` cancels it, and an allocation
Slurm ends behind skycore's back is reported, not lost."""

from __future__ import annotations

import pathlib
import time

import pytest
import slurm_fixture
from slurm_fixture import SlurmCluster
from test_slurm_inventory import sky, sky_env, write_slurm_config

slurm_cluster = slurm_fixture.slurm_cluster  # the fixtures, registered in this module
sky_env = sky_env

REPO = pathlib.Path(__file__).resolve().parents[2]
MULTI_NODE = REPO / "examples" / "multi_node.yaml"


def allocations(cluster: SlurmCluster, name: str) -> list[str]:
    """States of the skycore allocations of cluster `name` Slurm still runs."""
    result = cluster.run("squeue", "-h", "-n", f"sky-{name}", "-o", "%T")
    return result.stdout.split()


def ready(sky_bin: str, cluster: SlurmCluster, env: dict) -> None:
    write_slurm_config(env, cluster.slurm_config_entry())
    check = sky(sky_bin, env, "check", "slurm")
    assert check.returncode == 0, check.stdout + check.stderr


def test_multi_node_example_runs_in_one_allocation(
    sky_bin: str, slurm_cluster: SlurmCluster, sky_env: dict
) -> None:
    ready(sky_bin, slurm_cluster, sky_env)
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-c", "sl", "--infra", "slurm/skytest", str(MULTI_NODE)
    )
    assert launch.returncode == 0, launch.stdout + launch.stderr
    # "(head, rank=0, pid=...) rank 0 of 2 on n1; node IPs: ...; head is ..."
    lines = [line.split(") ", 1)[-1] for line in launch.stdout.splitlines() if " of 2 on " in line]
    assert len(lines) == 2, launch.stdout
    addresses = sorted(slurm_cluster.nodes.values())
    for rank in (0, 1):
        (line,) = [x for x in lines if x.startswith(f"rank {rank} of 2")]
        # Each rank runs on its own node (the node's hostname) and sees both addresses.
        assert f"node IPs: {' '.join(addresses)}" in line, line
    hosts = {line.split(" on ")[1].split(";")[0] for line in lines}
    assert hosts == set(slurm_cluster.nodes), lines
    assert allocations(slurm_cluster, "sl") == ["RUNNING"]

    status = sky(sky_bin, sky_env, "status")
    assert "sl" in status.stdout and "UP" in status.stdout, status.stdout

    # A job on the UP cluster: another srun step in the same allocation.
    ex = sky(sky_bin, sky_env, "exec", "sl", "--num-nodes", "2", "--", "echo", "step-$SLURM_JOB_ID")
    assert ex.returncode == 0, ex.stdout + ex.stderr
    steps = [line.split(") ", 1)[-1] for line in ex.stdout.splitlines() if "step-" in line]
    assert len(steps) == 2 and len(set(steps)) == 1, ex.stdout

    down = sky(sky_bin, sky_env, "down", "-y", "sl")
    assert down.returncode == 0, down.stdout + down.stderr
    slurm_cluster.wait_for(lambda: allocations(slurm_cluster, "sl") == [], "the allocation to end")
    login_home = pathlib.Path(slurm_cluster.directory)
    assert not list(login_home.rglob("clusters/sl")), "the cluster's directory is left"


def test_gpus_and_unsatisfiable_requests(
    sky_bin: str, slurm_cluster: SlurmCluster, sky_env: dict
) -> None:
    ready(sky_bin, slurm_cluster, sky_env)
    gpu = sky(
        sky_bin, sky_env, "launch", "-y", "-c", "g", "--infra", "slurm/skytest", "--gpus",
        "H100:2", "--", "echo", "gpus=$CUDA_VISIBLE_DEVICES",
    )  # fmt: skip
    assert gpu.returncode == 0, gpu.stdout + gpu.stderr
    assert "gpus=0,1" in gpu.stdout, gpu.stdout
    # Every H100 of one node is held: Slurm counts them.
    used = slurm_cluster.run("sinfo", "-h", "-N", "-O", "NodeList:10,GresUsed:40").stdout
    assert "h100:2" in used, used
    assert sky(sky_bin, sky_env, "down", "-y", "g").returncode == 0
    too_many = sky(
        sky_bin, sky_env, "launch", "-y", "-c", "big", "--infra", "slurm/skytest",
        "--num-nodes", "3", "--", "true",
    )  # fmt: skip
    assert too_many.returncode != 0
    assert "2 nodes that can hold a node of this task, 3 needed" in too_many.stderr, too_many.stderr


def test_fractional_cpus_show_the_whole_cpus_slurm_reserved(
    sky_bin: str, slurm_cluster: SlurmCluster, sky_env: dict
) -> None:
    ready(sky_bin, slurm_cluster, sky_env)
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-c", "frac", "--infra", "slurm/skytest", "--cpus",
        "1.5+", "--", "true",
    )  # fmt: skip
    try:
        assert launch.returncode == 0, launch.stdout + launch.stderr
        # --cpus-per-task takes whole CPUs: the allocation holds 2, and so
        # does the shape `sky status` shows (with where it runs).
        cpus = slurm_cluster.run("squeue", "-h", "-n", "sky-frac", "-o", "%C").stdout
        assert cpus.split() == ["2"], cpus
        status = sky(sky_bin, sky_env, "status")
        [row] = [line for line in status.stdout.splitlines() if line.startswith("frac ")]
        assert "cpus=2," in row and "Slurm (skytest, " in row, status.stdout
    finally:
        assert sky(sky_bin, sky_env, "down", "-y", "frac").returncode == 0


# What an allocation asks Slurm for, as SkyPilot 0.14.1 asks on the same
# cluster: its virtual instance type (2 CPUs and 1 GB per CPU by default; with
# GPUs 4 CPUs per device and 4 GB per CPU), which `sky status` names.
# (resources, type, squeue's CPUs and minimum memory, GPUs held)
SLURM_ASKS = [
    ("{}", "2CPU--2GB", "2 2G", ""),
    ("{accelerators: H100:1}", "4CPU--16GB--H100:1", "4 16G", "h100:1"),
    ("{instance_type: 4CPU--8GB}", "4CPU--8GB", "4 8G", ""),
]


@pytest.mark.parametrize(("resources", "instance_type", "asked", "gres"), SLURM_ASKS)
def test_allocation_asks_for_the_virtual_instance_type(
    sky_bin: str,
    slurm_cluster: SlurmCluster,
    sky_env: dict,
    tmp_path: pathlib.Path,
    resources: str,
    instance_type: str,
    asked: str,
    gres: str,
) -> None:
    ready(sky_bin, slurm_cluster, sky_env)
    name = f"va{SLURM_ASKS.index((resources, instance_type, asked, gres))}"
    task = tmp_path / "task.yaml"
    task.write_text(f"resources: {resources}\nrun: echo ok\n")
    dry = sky(sky_bin, sky_env, "launch", "--dryrun", "--infra", "slurm/skytest", str(task))
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert instance_type in dry.stdout, dry.stdout
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-c", name, "--infra", "slurm/skytest", str(task)
    )  # fmt: skip
    try:
        assert launch.returncode == 0, launch.stdout + launch.stderr
        held = slurm_cluster.run("squeue", "-h", "-n", f"sky-{name}", "-o", "%C %m %b").stdout
        assert held.split()[:2] == asked.split(), held
        if gres:
            assert gres in held, held
        status = sky(sky_bin, sky_env, "status")
        [row] = [line for line in status.stdout.splitlines() if line.startswith(name + " ")]
        assert instance_type in row, status.stdout
    finally:
        assert sky(sky_bin, sky_env, "down", "-y", name).returncode == 0


def test_allocation_ended_by_slurm_is_reported(
    sky_bin: str, slurm_cluster: SlurmCluster, sky_env: dict
) -> None:
    ready(sky_bin, slurm_cluster, sky_env)
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-d", "-c", "gone", "--infra", "slurm/skytest",
        "--", "sleep 300",
    )  # fmt: skip
    assert launch.returncode == 0, launch.stdout + launch.stderr
    deadline = time.monotonic() + 30
    while "RUNNING" not in sky(sky_bin, sky_env, "queue", "gone").stdout:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    # Slurm ends the allocation (as a time limit or node failure would): the
    # agent goes with it, and says so on the way out.
    (job_id,) = slurm_cluster.run("squeue", "-h", "-n", "sky-gone", "-o", "%i").stdout.split()
    slurm_cluster.run("scancel", job_id)
    slurm_cluster.wait_for(
        lambda: allocations(slurm_cluster, "gone") == [], "the allocation to end"
    )
    queue = sky(sky_bin, sky_env, "queue", "gone")
    assert queue.returncode != 0, queue.stdout
    said = queue.stdout + queue.stderr
    assert f"Slurm allocation {job_id}" in said and "does not answer" in said, said
    refreshed = sky(sky_bin, sky_env, "status", "-r", "gone")
    assert "INIT" in refreshed.stdout, refreshed.stdout
    # Launching again asks Slurm for a new allocation.
    again = sky(sky_bin, sky_env, "launch", "-y", "-c", "gone", "--", "echo", "back")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "back" in again.stdout.splitlines(), again.stdout
    # The new allocation's agent took over the job table: the job the old
    # one ran is reported, not lost.
    old = sky(sky_bin, sky_env, "queue", "gone").stdout
    assert any(
        line.split()[:1] == ["1"] and "FAILED_DRIVER" in line for line in old.splitlines()
    ), old
    assert sky(sky_bin, sky_env, "down", "-y", "gone").returncode == 0
