"""Lambda Cloud end to end with the real `sky` binary against the test
cloud's Lambda fake (REST API v1 on loopback; every active instance a
loopback sshd node): the multi-node example, `sky stop` refused (Lambda
cannot stop an instance), failover on insufficient capacity, the account's
quota, ports as firewall rules, each API key source `sky check` reports, and
`kill -9` of a launch followed by `sky down` leaving no instance behind
(counted through the fake's control API)."""

from __future__ import annotations

import os
import pathlib
import re
import signal
import subprocess
import time

import pytest
from cloud_fakes import LambdaCloud
from cloud_fixture import assert_loopback_only, check_cloud, cloud_env, launch, node_user, sky
from test_aws_launch import MULTINODE

REGION = "us-east-1"
CAPACITY = "instance-operations/launch/insufficient-capacity"


@pytest.fixture
def env(tmp_path: pathlib.Path, lambda_cloud: LambdaCloud, sky_bin: str):
    """One isolated `sky` pointed at the Lambda fake: its own state dir and
    HOME, a config that logs into the nodes as the fixture's user, no AWS."""
    config = f"lambda:\n  ssh_user: {node_user(lambda_cloud)}\n"
    with cloud_env(tmp_path, sky_bin, config, lambda_cloud) as result:
        yield result


def check_lambda(sky_bin: str, env: dict) -> str:
    return check_cloud(sky_bin, env, "lambda", "Lambda: enabled")


def instances(cloud: LambdaCloud) -> list[dict]:
    status, body = cloud.api("GET", "instances")
    assert status == 200, body
    return body["data"]


# ---------------------------------------------------------------- the example


def test_multinode_example_runs_unchanged(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud
) -> None:
    check_lambda(sky_bin, env)
    result = launch(sky_bin, env, "mn", "--infra", "lambda", str(MULTINODE))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert_loopback_only(out)
    for rank in (0, 1):
        assert f"rank {rank} of 2" in out, out
    # SkyPilot's names: one head and one worker, found by name (no tags).
    names = sorted(i["name"] for i in instances(lambda_cloud))
    assert len(names) == 2 and names[0].startswith("mn-"), names
    assert names[0].endswith("-head") and names[1] == names[0][: -len("head")] + "worker", names
    # skycore's key, registered once under a name derived from it.
    keys = lambda_cloud.resources()["ssh_keys"]
    assert len(keys) == 1 and keys[0].startswith("sky-key-"), keys
    assert len([n for n in lambda_cloud.nodes() if n["state"] == "running"]) == 2

    status = sky(sky_bin, env, "status")
    assert re.search(r"\bmn\b.*Lambda.*UP", status.stdout), status.stdout
    ex = sky(sky_bin, env, "exec", "mn", "--num-nodes", "2", "--", "echo rank=$SKYPILOT_NODE_RANK")
    assert ex.returncode == 0, ex.stdout + ex.stderr
    assert "rank=0" in ex.stdout and "rank=1" in ex.stdout, ex.stdout

    down = sky(sky_bin, env, "down", "-y", "mn")
    assert down.returncode == 0, down.stdout + down.stderr
    assert lambda_cloud.resources()["instances"] == []
    again = sky(sky_bin, env, "down", "-y", "mn")
    assert "does not exist" in again.stdout + again.stderr

    # A second cluster reuses the registered key.
    result = launch(sky_bin, env, "k2", "--infra", "lambda", "--", "true")
    assert result.returncode == 0, result.stdout + result.stderr
    assert lambda_cloud.resources()["ssh_keys"] == keys


def test_stop_is_refused_and_ports_are_firewall_rules(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud, tmp_path: pathlib.Path
) -> None:
    check_lambda(sky_bin, env)
    task = tmp_path / "serve.yaml"
    task.write_text("resources:\n  ports: 8080\nrun: echo serving\n")
    result = launch(sky_bin, env, "st", "--infra", "lambda", str(task))
    assert result.returncode == 0, result.stdout + result.stderr
    status, rules = lambda_cloud.api("GET", "firewall-rules")
    assert status == 200
    assert any(r["port_range"] == [8080, 8080] and r["protocol"] == "tcp" for r in rules["data"])

    stop = sky(sky_bin, env, "stop", "-y", "st")
    assert stop.returncode != 0
    assert "Lambda Cloud does not support stopping VMs" in stop.stdout + stop.stderr
    assert "sky down" in stop.stdout + stop.stderr
    # Nothing was stopped: the cluster still runs jobs.
    assert [i["status"] for i in instances(lambda_cloud)] == ["active"]
    ex = sky(sky_bin, env, "exec", "st", "--", "echo still-here")
    assert ex.returncode == 0 and "still-here" in ex.stdout, ex.stdout + ex.stderr
    status = sky(sky_bin, env, "status")
    assert re.search(r"\bst\b.*UP", status.stdout), status.stdout

    # Autostop must tear down: a stop when idle would leave it running.
    autostop = sky(sky_bin, env, "autostop", "-y", "-i", "5", "st")
    assert autostop.returncode != 0
    assert "autostop needs --down" in autostop.stdout + autostop.stderr
    autodown = sky(sky_bin, env, "autostop", "-y", "-i", "5", "--down", "st")
    assert autodown.returncode == 0, autodown.stdout + autodown.stderr
    cancel = sky(sky_bin, env, "autostop", "-y", "--cancel", "st")
    assert cancel.returncode == 0, cancel.stdout + cancel.stderr
    relaunch = launch(sky_bin, env, "st", "-i", "5", "--", "true")
    assert relaunch.returncode != 0
    assert "autostop needs --down" in relaunch.stdout + relaunch.stderr


def test_an_unhealthy_instance_reads_init(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud
) -> None:
    """As SkyPilot maps Lambda's `unhealthy`: there, but not UP."""
    check_lambda(sky_bin, env)
    result = launch(sky_bin, env, "uh", "--infra", "lambda", "--", "true")
    assert result.returncode == 0, result.stdout + result.stderr
    lambda_cloud.kill_node(instances(lambda_cloud)[0]["id"], unhealthy=True)
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\buh\b.*INIT", status.stdout), status.stdout
    down = sky(sky_bin, env, "down", "-y", "uh")
    assert down.returncode == 0, down.stdout + down.stderr
    assert lambda_cloud.resources()["instances"] == []


# ---------------------------------------------------------------- failover


def planned_region(sky_bin: str, env: dict, *args: str) -> str:
    """The region the optimizer tries first (equal prices: any of them)."""
    plan = sky(sky_bin, env, "launch", "--dryrun", "--infra", "lambda", *args, "--", "true")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    found = re.search(r"Lambda \(([a-z0-9-]+)\).*\*\s*$", plan.stdout, re.M)
    assert found, plan.stdout
    return found.group(1)


def test_insufficient_capacity_fails_over_to_the_next_region(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud
) -> None:
    check_lambda(sky_bin, env)
    region = planned_region(sky_bin, env)
    lambda_cloud.fault(code=CAPACITY, operation="launch", region=region, times=-1)
    result = launch(sky_bin, env, "fo", "--infra", "lambda", "--", "echo placed")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert CAPACITY in out and "placed" in out, out
    left = instances(lambda_cloud)
    assert len(left) == 1 and left[0]["region"]["name"] != region, left


def test_no_capacity_in_the_list_costs_no_launch_request(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud
) -> None:
    """Like SkyPilot: /instance-types says a region has no capacity before a
    launch request (rate limited) is spent on it."""
    check_lambda(sky_bin, env)
    region = planned_region(sky_bin, env, "--gpus", "A10:1")
    # Gone after `sky check` saw it: the plan still offers the region.
    lambda_cloud.capacity("gpu_1x_a10", region=region, available=False)
    result = launch(sky_bin, env, "nc", "--infra", "lambda", "--gpus", "A10:1", "--", "true")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert CAPACITY in out and region in out, out
    assert len(lambda_cloud.requests(operation="launch")) == 1
    left = instances(lambda_cloud)
    assert len(left) == 1 and left[0]["region"]["name"] != region, left


def test_the_plan_uses_the_live_capacity_and_prices_sky_check_saw(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud
) -> None:
    """`sky check lambda` keeps what /instance-types says; the optimizer then
    plans with it instead of the static catalog: a region without capacity
    is not offered at all, a type without capacity anywhere neither."""
    lambda_cloud.capacity("gpu_1x_a10", region=REGION, available=False)
    lambda_cloud.capacity("gpu_1x_a6000", available=False)
    check_lambda(sky_bin, env)
    plan = sky(
        sky_bin, env, "launch", "--dryrun", "--infra", "lambda", "--gpus", "A10:1", "--", "true"
    )
    assert plan.returncode == 0, plan.stdout + plan.stderr
    chosen = [line for line in plan.stdout.splitlines() if line.rstrip().endswith("*")]
    assert chosen and "gpu_1x_a10" in chosen[0] and REGION not in chosen[0], plan.stdout
    gone = sky(
        sky_bin, env, "launch", "--dryrun", "--infra", "lambda", "--gpus", "A6000:1", "--", "true"
    )
    assert gone.returncode != 0, gone.stdout
    assert "A6000" in gone.stdout + gone.stderr, gone.stdout + gone.stderr
    # Capacity back, checked again: the region is offered again.
    lambda_cloud.capacity("gpu_1x_a10", region=REGION, available=True)
    check_lambda(sky_bin, env)
    again = sky(
        sky_bin,
        env,
        "launch",
        "--dryrun",
        "--infra",
        f"lambda/{REGION}",
        "--gpus",
        "A10:1",
        "--",
        "true",
    )
    assert again.returncode == 0, again.stdout + again.stderr


def test_the_launch_rate_limit_is_waited_out_and_said(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud
) -> None:
    """Two launch requests (head, then the worker) within Lambda's rate
    limit: the second is asked again after a wait the output announces."""
    check_lambda(sky_bin, env)
    lambda_cloud.configure(launch_interval_s=2)
    result = launch(sky_bin, env, "rl", "--infra", "lambda", str(MULTINODE))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "Lambda Cloud is rate-limiting requests" in out, out
    assert "rank 1 of 2" in out, out
    refused = [r for r in lambda_cloud.requests(operation="launch") if r.get("status") == 429]
    assert refused, lambda_cloud.requests(operation="launch")
    lambda_cloud.configure(launch_interval_s=0)


def test_quota_is_named_and_nothing_is_left(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud
) -> None:
    check_lambda(sky_bin, env)
    lambda_cloud.configure(quota=0)
    result = launch(
        sky_bin, env, "qe", "--infra", f"lambda/{REGION}", "--gpus", "A10:1", "--", "true"
    )
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "global/quota-exceeded" in out, out
    assert lambda_cloud.resources()["instances"] == []


# ---------------------------------------------------------------- crash


def test_kill_during_launch_then_down_leaves_nothing(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud
) -> None:
    check_lambda(sky_bin, env)
    # Instances that stay booting, so the launch is caught waiting for them.
    lambda_cloud.configure(boot_polls=100000)
    command = ["launch", "-y", "-c", "kd", "--infra", "lambda", "--num-nodes", "2", "--", "true"]
    process = subprocess.Popen(
        [sky_bin, *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(lambda_cloud.resources()["instances"]) < 2:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert len(lambda_cloud.resources()["instances"]) == 2, "the launch was killed too early"
    down = sky(sky_bin, env, "down", "-y", "kd")
    assert down.returncode == 0, down.stdout + down.stderr
    assert lambda_cloud.resources()["instances"] == []


# ---------------------------------------------------------------- credentials


def test_each_key_source_is_named(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud, tmp_path: pathlib.Path
) -> None:
    assert "LAMBDA_API_KEY" in check_lambda(sky_bin, env)
    keys_file = env["SKYCORE_LAMBDA_KEYS_FILE"]
    no_env = {k: v for k, v in env.items() if k != "LAMBDA_API_KEY"}
    assert f"SKYCORE_LAMBDA_KEYS_FILE={keys_file}" in check_lambda(sky_bin, no_env)

    # SkyPilot's own file, in HOME.
    home_only = {k: v for k, v in no_env.items() if k != "SKYCORE_LAMBDA_KEYS_FILE"}
    missing = sky(sky_bin, home_only, "check", "lambda")
    assert "Lambda: disabled" in missing.stdout, missing.stdout
    assert "no Lambda Cloud API key" in missing.stdout, missing.stdout
    lambda_keys = pathlib.Path(env["HOME"]) / ".lambda_cloud" / "lambda_keys"
    lambda_keys.parent.mkdir()
    lambda_keys.write_text(f"api_key = {lambda_cloud.api_key}\n")
    assert str(lambda_keys) in check_lambda(sky_bin, home_only)

    empty = tmp_path / "empty_keys"
    empty.write_text("# nothing\n")
    named = {**no_env, "SKYCORE_LAMBDA_KEYS_FILE": str(empty)}
    check = sky(sky_bin, named, "check", "lambda")
    assert f"{empty}" in check.stdout and "api_key" in check.stdout, check.stdout


def test_a_wrong_key_is_refused_with_its_source(
    sky_bin: str, env: dict, lambda_cloud: LambdaCloud
) -> None:
    wrong = {**env, "LAMBDA_API_KEY": "secret_not-the-key"}
    check = sky(sky_bin, wrong, "check", "lambda")
    assert "Lambda: disabled" in check.stdout, check.stdout
    assert "global/invalid-api-key" in check.stdout, check.stdout
    assert "LAMBDA_API_KEY" in check.stdout, check.stdout
    # A key revoked after the last check: the launch names Lambda's refusal.
    check_lambda(sky_bin, env)
    result = launch(sky_bin, wrong, "bk", "--infra", "lambda", "--", "true")
    assert result.returncode != 0
    assert "global/invalid-api-key" in result.stdout + result.stderr
    assert lambda_cloud.resources()["count"] == 0


def test_unknown_config_key_says_what_was_meant(sky_bin: str, env: dict) -> None:
    config = pathlib.Path(env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text("lambda:\n  ssh_usr: ubuntu\n")
    check = sky(sky_bin, env, "check", "lambda")
    assert "lambda.ssh_usr" in check.stdout and "ssh_user" in check.stdout, check.stdout
