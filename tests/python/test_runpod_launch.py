"""RunPod end to end with the real `sky` binary against the test cloud's RunPod
fake (GraphQL on loopback; every running pod a loopback sshd machine reached
at its runtime.ports): the multi-node example on L4 pods, stop (podStop) and
start (podResume), a spot pod's preemption and its resume (podBidResume),
autostop by the head itself, failover when RunPod has no instances left, each source
of the API key `sky check` reports and a refused key, and `kill -9` of a
launch followed by `sky down` leaving no pod behind (counted through the
fake's control API)."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import time

import pytest
from cloud_fakes import RunpodCloud
from cloud_fixture import assert_loopback_only, check_cloud, cloud_env, node_user, sky
from test_aws_launch import MULTINODE

# The catalog's RunPod rows are all GPU pods; L4 is the cheapest the fake serves.
GPU = "L4:1"
GPU_TYPE = "NVIDIA L4"
NO_CAPACITY = "There are no longer any instances available with the requested specifications."
PODS = "query { myself { pods { id name desiredStatus podType ports env } } }"


@pytest.fixture
def env(tmp_path: pathlib.Path, runpod_cloud: RunpodCloud, sky_bin: str):
    """One isolated `sky` pointed at the RunPod fake: its own state dir and
    HOME, a config that logs into the pods as the fixture's user, the key in
    RUNPOD_API_KEY."""
    config = f"runpod:\n  ssh_user: {node_user(runpod_cloud)}\n"
    with cloud_env(tmp_path, sky_bin, config, runpod_cloud) as result:
        yield result


def check_runpod(sky_bin: str, env: dict) -> str:
    return check_cloud(sky_bin, env, "runpod", r"RunPod.*enabled")


def pods(cloud: RunpodCloud) -> list[dict]:
    status, body = cloud.graphql(PODS)
    assert status == 200, body
    return body["data"]["myself"]["pods"]


def launch(sky_bin: str, env: dict, name: str, *args: str) -> subprocess.CompletedProcess:
    return sky(sky_bin, env, "launch", "-y", "-c", name, "--infra", "runpod", *args)


# ---------------------------------------------------------------- the example


def test_multinode_example_runs_unchanged(
    sky_bin: str, env: dict, runpod_cloud: RunpodCloud
) -> None:
    check_runpod(sky_bin, env)
    # No --gpus: RunPod sells GPU pods only, so the example's `cpus: 1+` gets
    # the cheapest pod that fits.
    result = launch(sky_bin, env, "mn", str(MULTINODE))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert_loopback_only(out)
    for rank in (0, 1):
        assert f"rank {rank} of 2" in out, out
    # SkyPilot's names: <name on cloud>-head and -worker; the key in PUBLIC_KEY.
    listed = pods(runpod_cloud)
    names = sorted(p["name"] for p in listed)
    assert len(names) == 2 and re.fullmatch(r"mn-[0-9a-f]{4}-head", names[0]), names
    assert names[1] == names[0].replace("-head", "-worker"), names
    for pod in listed:
        assert pod["ports"].split(",")[0] == "22/tcp", pod
        assert pod["podType"] == "RESERVED", pod
        assert [e.split("=", 1)[0] for e in pod["env"]] == ["PUBLIC_KEY"], pod
    deploys = runpod_cloud.requests(operation="podFindAndDeployOnDemand")
    assert len(deploys) == 2 and all(r["status"] == 200 for r in deploys), deploys
    assert len([n for n in runpod_cloud.nodes() if n["state"] == "running"]) == 2

    status = sky(sky_bin, env, "status")
    assert re.search(r"\bmn\b.*RunPod.*UP", status.stdout), status.stdout
    ex = sky(sky_bin, env, "exec", "mn", "--num-nodes", "2", "--", "echo rank=$SKYPILOT_NODE_RANK")
    assert ex.returncode == 0, ex.stdout + ex.stderr
    assert "rank=0" in ex.stdout and "rank=1" in ex.stdout, ex.stdout

    down = sky(sky_bin, env, "down", "-y", "mn")
    assert down.returncode == 0, down.stdout + down.stderr
    assert runpod_cloud.resources()["count"] == 0
    assert runpod_cloud.nodes() == []
    again = sky(sky_bin, env, "down", "-y", "mn")
    assert "does not exist" in again.stdout + again.stderr


def test_stop_and_start_keep_the_disk(sky_bin: str, env: dict, runpod_cloud: RunpodCloud) -> None:
    check_runpod(sky_bin, env)
    result = launch(sky_bin, env, "ss", "--gpus", GPU, "--", "echo data > ~/kept.txt")
    assert result.returncode == 0, result.stdout + result.stderr
    stop = sky(sky_bin, env, "stop", "-y", "ss")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert len(runpod_cloud.requests(operation="podStop")) == 1
    assert [p["desiredStatus"] for p in pods(runpod_cloud)] == ["EXITED"]
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\bss\b.*STOPPED", status.stdout), status.stdout

    start = sky(sky_bin, env, "start", "-y", "ss")
    assert start.returncode == 0, start.stdout + start.stderr
    assert len(runpod_cloud.requests(operation="podResume")) == 1
    ex = sky(sky_bin, env, "exec", "ss", "--", "cat ~/kept.txt")
    assert ex.returncode == 0 and "data" in ex.stdout, ex.stdout + ex.stderr
    assert len(pods(runpod_cloud)) == 1
    assert len(runpod_cloud.requests(operation="podFindAndDeployOnDemand")) == 1


# ---------------------------------------------------------------- failover


def test_no_capacity_fails_over_to_the_next_zone(
    sky_bin: str, env: dict, runpod_cloud: RunpodCloud
) -> None:
    check_runpod(sky_bin, env)
    runpod_cloud.fault(operation="podFindAndDeployOnDemand", gpu_type=GPU_TYPE)
    result = launch(sky_bin, env, "fo", "--gpus", GPU, "--", "echo placed")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert NO_CAPACITY in out and "placed" in out, out
    deploys = runpod_cloud.requests(operation="podFindAndDeployOnDemand")
    assert len(deploys) == 2 and deploys[0]["error"].startswith("There are no longer"), deploys
    assert len(runpod_cloud.resources()["pods"]) == 1


def test_no_capacity_anywhere_lists_every_attempt(
    sky_bin: str, env: dict, runpod_cloud: RunpodCloud
) -> None:
    check_runpod(sky_bin, env)
    runpod_cloud.capacity(GPU_TYPE, 0)
    result = launch(sky_bin, env, "nf", "--gpus", GPU, "--", "true")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert NO_CAPACITY in out, out
    assert len(runpod_cloud.requests(operation="podFindAndDeployOnDemand")) > 1
    assert runpod_cloud.resources()["count"] == 0


def test_a_half_made_cluster_is_removed_before_the_next_attempt(
    sky_bin: str, env: dict, runpod_cloud: RunpodCloud
) -> None:
    check_runpod(sky_bin, env)
    # One L4 left anywhere: each attempt makes its head and fails its worker.
    runpod_cloud.capacity(GPU_TYPE, 1)
    result = launch(sky_bin, env, "hm", "--gpus", GPU, "--num-nodes", "2", "--", "true")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert NO_CAPACITY in out, out
    made = [r for r in runpod_cloud.requests(operation="podFindAndDeployOnDemand") if r["status"]]
    assert len([r for r in made if "error" not in r]) >= 1, made
    assert runpod_cloud.resources()["count"] == 0
    assert runpod_cloud.nodes() == []


def test_new_ports_on_a_running_cluster_are_refused(
    sky_bin: str, env: dict, runpod_cloud: RunpodCloud, tmp_path: pathlib.Path
) -> None:
    check_runpod(sky_bin, env)

    def task(port: int) -> str:
        path = tmp_path / f"ports-{port}.yaml"
        path.write_text(f"resources:\n  accelerators: {GPU}\n  ports: {port}\nrun: echo up\n")
        return str(path)

    result = launch(sky_bin, env, "pt", task(8080))
    assert result.returncode == 0, result.stdout + result.stderr
    assert pods(runpod_cloud)[0]["ports"] == "22/tcp,8080/tcp"
    assert launch(sky_bin, env, "pt", task(8080)).returncode == 0
    more = launch(sky_bin, env, "pt", task(9090))
    assert more.returncode != 0
    assert "ports are fixed when it is created" in more.stdout + more.stderr


# ---------------------------------------------------------------- spot, autostop


def test_spot_preemption_is_reported_and_start_bids_again(
    sky_bin: str, env: dict, runpod_cloud: RunpodCloud
) -> None:
    check_runpod(sky_bin, env)
    # L4 has no spot price in the catalog; L40S does.
    result = launch(sky_bin, env, "sp", "--gpus", "L40S:1", "--use-spot", "--", "true")
    assert result.returncode == 0, result.stdout + result.stderr
    [pod] = pods(runpod_cloud)
    assert pod["podType"] == "INTERRUPTABLE", pod
    stop = sky(sky_bin, env, "stop", "-y", "sp")
    assert stop.returncode != 0
    assert "Stopping spot instances is currently not supported" in stop.stdout + stop.stderr
    runpod_cloud.preempt(pod["id"])
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\bsp\b.*STOPPED", status.stdout), status.stdout
    assert "preempted by RunPod" in status.stdout, status.stdout
    start = sky(sky_bin, env, "start", "-y", "sp")
    assert start.returncode == 0, start.stdout + start.stderr
    assert len(runpod_cloud.requests(operation="podBidResume")) == 1
    assert [p["id"] for p in pods(runpod_cloud)] == [pod["id"]]


def test_autostop_stop_by_the_head_then_start(
    sky_bin: str, env: dict, runpod_cloud: RunpodCloud
) -> None:
    check_runpod(sky_bin, env)
    env = dict(env, SKYCORE_AUTOSTOP_MINUTE_S="0.5")
    result = launch(sky_bin, env, "ast", "--gpus", GPU, "-i", "1", "--", "echo hi")
    assert result.returncode == 0, result.stdout + result.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if [p["desiredStatus"] for p in pods(runpod_cloud)] == ["EXITED"]:
            break
        time.sleep(0.5)
    assert [p["desiredStatus"] for p in pods(runpod_cloud)] == ["EXITED"]
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\bast\b.*STOPPED", status.stdout), status.stdout
    start = sky(sky_bin, env, "start", "-y", "ast")
    assert start.returncode == 0, start.stdout + start.stderr
    ex = sky(sky_bin, env, "exec", "ast", "--", "echo back")
    assert ex.returncode == 0 and "back" in ex.stdout, ex.stdout + ex.stderr


def test_autostop_down_by_the_head(sky_bin: str, env: dict, runpod_cloud: RunpodCloud) -> None:
    check_runpod(sky_bin, env)
    env = dict(env, SKYCORE_AUTOSTOP_MINUTE_S="0.5")
    result = launch(sky_bin, env, "ad", "--gpus", GPU, "-i", "1", "--down", "--", "echo hi")
    assert result.returncode == 0, result.stdout + result.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and runpod_cloud.resources()["count"]:
        time.sleep(0.5)
    assert runpod_cloud.resources()["count"] == 0, "the head did not terminate its cluster"
    status = sky(sky_bin, env, "status", "-r")
    assert not re.search(r"\bad\b", status.stdout.split("Clusters", 1)[1]), status.stdout


# ---------------------------------------------------------------- crash


def test_kill_during_launch_then_down_leaves_nothing(
    sky_bin: str, env: dict, runpod_cloud: RunpodCloud
) -> None:
    check_runpod(sky_bin, env)
    # Pods that take long to start, so the launch is caught halfway.
    runpod_cloud.configure(start_polls=1000)
    process = subprocess.Popen(
        [sky_bin, "launch", "-y", "-c", "kd", "--infra", "runpod", "--gpus", GPU,
         "--num-nodes", "2", "--", "true"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(runpod_cloud.resources()["pods"]) < 2:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert len(runpod_cloud.resources()["pods"]) == 2, "the launch was killed too early"
    runpod_cloud.configure(start_polls=1)
    down = sky(sky_bin, env, "down", "-y", "kd")
    assert down.returncode == 0, down.stdout + down.stderr
    assert runpod_cloud.resources()["count"] == 0
    assert runpod_cloud.nodes() == []


# ---------------------------------------------------------------- credentials


def test_each_key_source_is_named(
    sky_bin: str, env: dict, runpod_cloud: RunpodCloud, tmp_path: pathlib.Path
) -> None:
    assert "API key from RUNPOD_API_KEY" in check_runpod(sky_bin, env)
    file_only = {k: v for k, v in env.items() if k != "RUNPOD_API_KEY"}
    config = env["SKYCORE_RUNPOD_CONFIG_FILE"]
    assert f"API key from {config}" in check_runpod(sky_bin, file_only)
    # What `runpod config` leaves in the home directory.
    home = {k: v for k, v in file_only.items() if k != "SKYCORE_RUNPOD_CONFIG_FILE"}
    dot = pathlib.Path(home["HOME"]) / ".runpod"
    dot.mkdir()
    (dot / "config.toml").write_text(pathlib.Path(config).read_text())
    assert f"API key from {dot / 'config.toml'}" in check_runpod(sky_bin, home)
    (dot / "config.toml").unlink()
    check = sky(sky_bin, home, "check", "runpod")
    assert "does not exist" in check.stdout and "RUNPOD_API_KEY" in check.stdout, check.stdout


def test_refused_key_is_named_with_its_source(
    sky_bin: str, env: dict, runpod_cloud: RunpodCloud
) -> None:
    env = {**env, "RUNPOD_API_KEY": "rpa_WRONG"}
    check = sky(sky_bin, env, "check", "runpod")
    assert "Unauthorized" in check.stdout and "RUNPOD_API_KEY" in check.stdout, check.stdout
    assert not re.search(r"RunPod.*: enabled", check.stdout), check.stdout
    result = launch(sky_bin, env, "bk", "--gpus", GPU, "--", "true")
    assert result.returncode != 0
    assert "RunPod refused the API key" in result.stdout + result.stderr
    assert runpod_cloud.resources()["count"] == 0


def test_unknown_config_key_is_named(sky_bin: str, env: dict, runpod_cloud: RunpodCloud) -> None:
    state = pathlib.Path(env["SKYCORE_STATE_DIR"])
    (state / "config.yaml").write_text("runpod:\n  ssh_usr: root\n")
    check = sky(sky_bin, env, "check", "runpod")
    assert "runpod.ssh_usr" in check.stdout and "ssh_user" in check.stdout, check.stdout
