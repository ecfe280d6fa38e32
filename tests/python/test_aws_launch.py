"""AWS end to end with the real `sky` binary against the test cloud
(scripts/cloud-test-fixture: moto behind a proxy that gives every running
instance a loopback sshd node): the multi-node example on 4 and 2 nodes,
stop/start/down, autostop by the head itself, zone and region failover,
quota blocking, spot rules, `sky status -r` reconciling with the cloud, and
`kill -9` of a launch followed by `sky down` leaving nothing behind.

Every address skycore sees is loopback: the tests assert it on what `sky`
prints and on what the API answers."""

from __future__ import annotations

import ipaddress
import json
import os
import pathlib
import re
import signal
import subprocess
import time

import pytest
from cloud_fixture import (
    AwsCloud,
    assert_loopback_only,
    check_cloud,
    cloud_env,
    launch,
    node_user,
    sky,
)

REPO = pathlib.Path(__file__).resolve().parents[2]
MULTINODE = REPO / "examples" / "multi_node.yaml"
REGION = "us-east-1"


@pytest.fixture
def env(tmp_path: pathlib.Path, aws_cloud: AwsCloud, sky_bin: str):
    """One isolated `sky` pointed at the test cloud: its own state dir, a
    config that logs into the nodes as the fixture's user, and a clean cloud."""
    aws_cloud.reset()
    config = f"aws:\n  ssh_user: {node_user(aws_cloud)}\n  image_id: {aws_cloud.image_id}\n"
    with cloud_env(tmp_path, sky_bin, config, aws_cloud) as result:
        yield result


def instances(
    cloud: AwsCloud, region: str = REGION, states=("pending", "running", "stopping", "stopped")
):
    """The cluster instances the API reports in `region`, by state."""
    reservations = cloud.boto3_client("ec2", region).describe_instances(
        Filters=[
            {"Name": "tag-key", "Values": ["skypilot-cluster-name"]},
            {"Name": "instance-state-name", "Values": list(states)},
        ],
    )["Reservations"]
    return [i for r in reservations for i in r["Instances"]]


def security_groups(cloud: AwsCloud, region: str = REGION) -> list[str]:
    groups = cloud.boto3_client("ec2", region).describe_security_groups()["SecurityGroups"]
    return [g["GroupName"] for g in groups if g["GroupName"].startswith("sky-sg-")]


def zone_subnet(cloud: AwsCloud, zone: str, region: str = REGION) -> str:
    """The default VPC's subnet in `zone` (RunInstances names the zone by it)."""
    subnets = cloud.boto3_client("ec2", region).describe_subnets(
        Filters=[{"Name": "availability-zone", "Values": [zone]}]
    )["Subnets"]
    return next(s["SubnetId"] for s in subnets if s.get("DefaultForAz"))


def check_aws(sky_bin: str, env: dict) -> None:
    check_cloud(sky_bin, env, "aws", "enabled")


# ---------------------------------------------------------------- the example


def test_multinode_example_runs_unchanged(sky_bin: str, env: dict, aws_cloud: AwsCloud) -> None:
    check_aws(sky_bin, env)
    result = launch(sky_bin, env, "mn", "--infra", "aws", str(MULTINODE))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert_loopback_only(out)
    for rank in (0, 1):
        assert f"rank {rank} of 2" in out, out
    running = instances(aws_cloud, states=("running",))
    assert len(running) == 2
    tags = [{t["Key"]: t["Value"] for t in i.get("Tags", [])} for i in running]
    assert sorted(t.get("ray-node-type") for t in tags) == ["head", "worker"]
    assert all(t["skypilot-cluster-name"].startswith("mn-") for t in tags)
    for instance in running:
        assert ipaddress.ip_address(instance["PublicIpAddress"]).is_loopback
        assert ipaddress.ip_address(instance["PrivateIpAddress"]).is_loopback

    status = sky(sky_bin, env, "status")
    assert re.search(r"\bmn\b.*AWS.*UP", status.stdout), status.stdout

    ex = sky(sky_bin, env, "exec", "mn", "--num-nodes", "2", "--", "echo rank=$SKYPILOT_NODE_RANK")
    assert ex.returncode == 0, ex.stdout + ex.stderr
    assert "rank=0" in ex.stdout and "rank=1" in ex.stdout, ex.stdout

    down = sky(sky_bin, env, "down", "-y", "mn")
    assert down.returncode == 0, down.stdout + down.stderr
    assert instances(aws_cloud) == []
    assert security_groups(aws_cloud) == []
    # Idempotent: a second down says the cluster does not exist, nothing breaks.
    again = sky(sky_bin, env, "down", "-y", "mn")
    assert "does not exist" in again.stdout + again.stderr


def test_stop_start_keeps_disks(sky_bin: str, env: dict, aws_cloud: AwsCloud) -> None:
    check_aws(sky_bin, env)
    result = launch(
        sky_bin, env, "ss", "--infra", "aws", "--", "echo data > ~/kept.txt; echo launched"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    stop = sky(sky_bin, env, "stop", "-y", "ss")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert [i["State"]["Name"] for i in instances(aws_cloud)] == ["stopped"]
    status = sky(sky_bin, env, "status")
    assert re.search(r"\bss\b.*STOPPED", status.stdout), status.stdout
    # A stopped node answers nothing.
    node = aws_cloud.nodes()[0]
    assert node["state"] == "stopped", node

    start = sky(sky_bin, env, "start", "-y", "ss")
    assert start.returncode == 0, start.stdout + start.stderr
    ex = sky(sky_bin, env, "exec", "ss", "--", "cat ~/kept.txt")
    assert ex.returncode == 0 and "data" in ex.stdout, ex.stdout + ex.stderr
    assert [i["State"]["Name"] for i in instances(aws_cloud)] == ["running"]


def test_spot_cluster_refuses_stop(sky_bin: str, env: dict, aws_cloud: AwsCloud) -> None:
    check_aws(sky_bin, env)
    result = launch(sky_bin, env, "sp", "--infra", f"aws/{REGION}", "--use-spot", "--", "echo spot")
    assert result.returncode == 0, result.stdout + result.stderr
    running = instances(aws_cloud, states=("running",))
    assert running and running[0].get("InstanceLifecycle") == "spot", running
    stop = sky(sky_bin, env, "stop", "-y", "sp")
    assert stop.returncode != 0
    assert "Stopping spot instances is currently not supported" in stop.stdout + stop.stderr
    assert [i["State"]["Name"] for i in instances(aws_cloud)] == ["running"]


# ---------------------------------------------------------------- failover


def test_zone_failover_then_success(sky_bin: str, env: dict, aws_cloud: AwsCloud) -> None:
    check_aws(sky_bin, env)
    plan = sky(sky_bin, env, "launch", "--dryrun", "--infra", f"aws/{REGION}", "--", "true")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    for zone in ("us-east-1a", "us-east-1b", "us-east-1c"):
        aws_cloud.fault(
            "RunInstances",
            "InsufficientInstanceCapacity",
            message=f"We currently do not have sufficient capacity in {zone}.",
            match={"SubnetId": zone_subnet(aws_cloud, zone)},
            http_status=500,
            times=-1,
        )
    result = launch(sky_bin, env, "fo", "--infra", f"aws/{REGION}", "--", "echo placed")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert out.count("InsufficientInstanceCapacity") >= 3, out
    running = instances(aws_cloud, states=("running",))
    assert len(running) == 1
    assert running[0]["Placement"]["AvailabilityZone"] not in (
        "us-east-1a",
        "us-east-1b",
        "us-east-1c",
    )
    # Nothing of the failed attempts is left.
    assert len(instances(aws_cloud)) == 1


def test_quota_blocks_the_region(sky_bin: str, env: dict, aws_cloud: AwsCloud) -> None:
    check_aws(sky_bin, env)
    aws_cloud.fault(
        "RunInstances",
        "VcpuLimitExceeded",
        message="You have requested more vCPU capacity than your current vCPU limit allows.",
        match={"region": REGION},
        http_status=400,
        times=-1,
    )
    result = launch(sky_bin, env, "qb", "--infra", "aws", "--", "echo placed")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    # One refusal per instance family in the region: the family's other
    # zones there are skipped, and the launch lands in another region.
    attempts = [r for r in aws_cloud.requests("RunInstances") if r["region"] == REGION]
    families = [r["params"]["InstanceType"].split(".")[0] for r in attempts]
    assert attempts and len(families) == len(set(families)), families
    assert "skipped in us-east-1 from now on" in out, out
    assert instances(aws_cloud, REGION) == []
    assert "VcpuLimitExceeded" in out, out


def test_everything_fails_lists_every_attempt(sky_bin: str, env: dict, aws_cloud: AwsCloud) -> None:
    check_aws(sky_bin, env)
    aws_cloud.fault("RunInstances", "InsufficientInstanceCapacity", http_status=500, times=-1)
    result = launch(sky_bin, env, "nf", "--infra", f"aws/{REGION}", "--", "true")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "could not be provisioned" in out, out
    attempts = [line for line in out.splitlines() if "InsufficientInstanceCapacity" in line]
    assert len(attempts) >= 3, out
    assert instances(aws_cloud) == []
    status = sky(sky_bin, env, "status")
    assert "nf" not in status.stdout.split("Clusters", 1)[1] or "INIT" in status.stdout


# ---------------------------------------------------------------- reconcile


def test_status_refresh_reconciles_with_the_cloud(
    sky_bin: str, env: dict, aws_cloud: AwsCloud
) -> None:
    check_aws(sky_bin, env)
    assert (
        launch(sky_bin, env, "rc", "--infra", "aws", "--num-nodes", "2", "--", "true").returncode
        == 0
    )
    ids = sorted(i["InstanceId"] for i in instances(aws_cloud, states=("running",)))
    head = next(
        i["InstanceId"]
        for i in instances(aws_cloud, states=("running",))
        if {"Key": "ray-node-type", "Value": "head"} in i.get("Tags", [])
    )
    worker = next(i for i in ids if i != head)
    # One worker gone behind skycore's back: INIT, and the reason is shown.
    aws_cloud.boto3_client("ec2", REGION).terminate_instances(InstanceIds=[worker])
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\brc\b.*INIT", status.stdout), status.stdout
    assert worker in status.stdout, status.stdout
    # Stopped from the console: STOPPED.
    aws_cloud.boto3_client("ec2", REGION).stop_instances(InstanceIds=[head])
    aws_cloud.boto3_client("ec2", REGION).describe_instances(InstanceIds=[head])
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\brc\b.*STOPPED", status.stdout), status.stdout
    # Terminated: gone, and its security group with it.
    aws_cloud.boto3_client("ec2", REGION).terminate_instances(InstanceIds=[head])
    status = sky(sky_bin, env, "status", "-r")
    assert not re.search(r"\brc\b", status.stdout.split("Clusters", 1)[1]), status.stdout
    assert security_groups(aws_cloud) == []


def test_spot_interruption_of_a_worker_fails_the_job(
    sky_bin: str, env: dict, aws_cloud: AwsCloud
) -> None:
    check_aws(sky_bin, env)
    result = launch(
        sky_bin,
        env,
        "si",
        "--infra",
        f"aws/{REGION}",
        "--use-spot",
        "--num-nodes",
        "2",
        "-d",
        "--",
        "echo started; sleep 120",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    worker = next(
        i["InstanceId"]
        for i in instances(aws_cloud, states=("running",))
        if {"Key": "ray-node-type", "Value": "worker"} in i.get("Tags", [])
    )
    aws_cloud.spot_interrupt(worker)
    deadline = time.monotonic() + 60
    queue = ""
    while time.monotonic() < deadline:
        queue = sky(sky_bin, env, "queue", "si").stdout
        if "FAILED" in queue:
            break
        time.sleep(0.5)
    assert "FAILED_DRIVER" in queue, queue
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\bsi\b.*INIT", status.stdout), status.stdout
    assert worker in status.stdout and "terminated" in status.stdout, status.stdout
    assert "Server.SpotInstanceTermination" in status.stdout, status.stdout


# ---------------------------------------------------------------- crashes


@pytest.mark.parametrize("kill_after_s", [0.3, 1.0, 2.0])
def test_kill9_during_launch_then_down_leaves_nothing(
    sky_bin: str, env: dict, aws_cloud: AwsCloud, kill_after_s: float
) -> None:
    check_aws(sky_bin, env)
    process = subprocess.Popen(
        [
            sky_bin,
            "launch",
            "-y",
            "-c",
            "k9",
            "--infra",
            "aws",
            "--num-nodes",
            "2",
            "--",
            "sleep 30",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    time.sleep(kill_after_s)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    down = sky(sky_bin, env, "down", "-y", "k9")
    assert down.returncode == 0 or "does not exist" in down.stdout + down.stderr, down.stderr
    assert instances(aws_cloud) == [], "instances left"
    assert security_groups(aws_cloud) == [], "security groups left"


# ---------------------------------------------------------------- autostop


def test_autostop_down_by_the_head(sky_bin: str, env: dict, aws_cloud: AwsCloud) -> None:
    check_aws(sky_bin, env)
    env = dict(env, SKYCORE_AUTOSTOP_MINUTE_S="0.5")
    result = launch(sky_bin, env, "as", "--infra", "aws", "-i", "1", "--down", "--", "echo hi")
    assert result.returncode == 0, result.stdout + result.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and instances(aws_cloud):
        time.sleep(0.5)
    assert instances(aws_cloud) == [], "the head did not terminate its cluster"
    status = sky(sky_bin, env, "status", "-r")
    assert not re.search(r"\bas\b", status.stdout.split("Clusters", 1)[1]), status.stdout
    assert security_groups(aws_cloud) == []


# ---------------------------------------------------------------- bad input


def test_no_credentials_says_what_was_tried(sky_bin: str, env: dict) -> None:
    bare = {k: v for k, v in env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    check = sky(sky_bin, bare, "check", "aws")
    out = check.stdout + check.stderr
    assert "environment" in out.lower() and "credentials" in out.lower(), out
    assert "169.254.169.254" not in out or "disabled" in out.lower(), out


def test_unknown_region_is_a_clear_error(sky_bin: str, env: dict) -> None:
    check_aws(sky_bin, env)
    result = launch(sky_bin, env, "ur", "--infra", "aws/us-east-9", "--", "true")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "us-east-9" in out and "Traceback" not in out, out


def test_image_not_found_names_image_and_region(
    sky_bin: str, env: dict, aws_cloud: AwsCloud, tmp_path: pathlib.Path
) -> None:
    check_aws(sky_bin, env)
    task = tmp_path / "task.yaml"
    task.write_text(
        "resources:\n  infra: aws/us-east-1\n  image_id: ami-0123456789abcdef0\nrun: echo hi\n"
    )
    result = launch(sky_bin, env, "im", str(task))
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "ami-0123456789abcdef0" in out and "us-east-1" in out, out
    assert instances(aws_cloud) == []


def test_throttling_storm_is_bounded(sky_bin: str, env: dict, aws_cloud: AwsCloud) -> None:
    check_aws(sky_bin, env)
    aws_cloud.fault("RunInstances", "RequestLimitExceeded", http_status=503, times=-1)
    start = time.monotonic()
    result = launch(sky_bin, env, "th", "--infra", f"aws/{REGION}/us-east-1a", "--", "true")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "RequestLimitExceeded" in out, out
    assert time.monotonic() - start < 120
    sent = len(aws_cloud.requests("RunInstances"))
    assert 1 < sent <= 10, sent
    assert instances(aws_cloud) == []


def test_statuses_are_json_serialisable_for_the_sdk(
    sky_bin: str, env: dict, aws_cloud: AwsCloud
) -> None:
    check_aws(sky_bin, env)
    assert launch(sky_bin, env, "js", "--infra", "aws", "--", "true").returncode == 0
    status = sky(sky_bin, env, "status", "--endpoints", "js")
    assert status.returncode == 0 or "no ports" in (status.stdout + status.stderr).lower()
    json.dumps(aws_cloud.nodes())


# ---------------------------------------------------------------- what is created


def test_ports_labels_disk_and_endpoints(
    sky_bin: str, env: dict, aws_cloud: AwsCloud, tmp_path: pathlib.Path
) -> None:
    check_aws(sky_bin, env)
    task = tmp_path / "task.yaml"
    task.write_text(
        "resources:\n"
        "  infra: aws/us-east-1\n"
        "  ports: [8080, 9000-9001]\n"
        "  disk_size: 64\n"
        "  labels: {team: vision, project: demo}\n"
        "run: echo up\n"
    )
    result = launch(sky_bin, env, "pt", str(task))
    assert result.returncode == 0, result.stdout + result.stderr
    (instance,) = instances(aws_cloud, states=("running",))
    tags = {t["Key"]: t["Value"] for t in instance["Tags"]}
    assert tags["team"] == "vision" and tags["project"] == "demo", tags
    ec2 = aws_cloud.boto3_client("ec2", REGION)
    volumes = ec2.describe_volumes(
        Filters=[{"Name": "attachment.instance-id", "Values": [instance["InstanceId"]]}]
    )["Volumes"]
    assert [v["Size"] for v in volumes] == [64], volumes
    (group,) = [
        g
        for g in ec2.describe_security_groups()["SecurityGroups"]
        if g["GroupName"].startswith("sky-sg-pt-")
    ]
    opened = sorted((p["FromPort"], p["ToPort"]) for p in group["IpPermissions"])
    assert (22, 22) in opened and (8080, 8080) in opened, opened
    assert (9000, 9001) in opened, opened  # a range is one rule

    endpoints = sky(sky_bin, env, "status", "--endpoints", "pt")
    assert endpoints.returncode == 0, endpoints.stdout + endpoints.stderr
    head = instance["PublicIpAddress"]
    for port in (8080, 9000, 9001):
        assert f"{head}:{port}" in endpoints.stdout, endpoints.stdout
    assert_loopback_only(endpoints.stdout)


def test_ports_out_of_range_are_refused_before_anything_is_made(
    sky_bin: str, env: dict, aws_cloud: AwsCloud, tmp_path: pathlib.Path
) -> None:
    check_aws(sky_bin, env)
    task = tmp_path / "task.yaml"
    task.write_text("resources:\n  infra: aws\n  ports: 70000\nrun: true\n")
    result = launch(sky_bin, env, "po", str(task))
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "70000" in out and "Traceback" not in out, out
    assert aws_cloud.count("RunInstances") == 0


# ---------------------------------------------------------------- the cloud goes away


def test_cloud_unreachable_mid_launch_then_down(
    sky_bin: str, env: dict, aws_cloud: AwsCloud
) -> None:
    check_aws(sky_bin, env)
    # Everything after the instances were asked for gets no answer.
    aws_cloud.unreachable(seconds=600, action="DescribeInstances")
    start = time.monotonic()
    result = launch(sky_bin, env, "un", "--infra", f"aws/{REGION}", "--", "true")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "Traceback" not in out and "DescribeInstances" in out, out
    assert time.monotonic() - start < 120, "the launch did not give up in bounded time"
    aws_cloud.clear_faults()
    down = sky(sky_bin, env, "down", "-y", "un")
    assert down.returncode == 0, down.stdout + down.stderr
    assert instances(aws_cloud) == []
    assert security_groups(aws_cloud) == []


def test_autostop_stop_by_the_head_then_start(sky_bin: str, env: dict, aws_cloud: AwsCloud) -> None:
    check_aws(sky_bin, env)
    env = dict(env, SKYCORE_AUTOSTOP_MINUTE_S="0.5")
    result = launch(sky_bin, env, "ast", "--infra", f"aws/{REGION}", "-i", "1", "--", "echo hi")
    assert result.returncode == 0, result.stdout + result.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if [i["State"]["Name"] for i in instances(aws_cloud)] == ["stopped"]:
            break
        time.sleep(0.5)
    assert [i["State"]["Name"] for i in instances(aws_cloud)] == ["stopped"]
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\bast\b.*STOPPED", status.stdout), status.stdout
    start = sky(sky_bin, env, "start", "-y", "ast")
    assert start.returncode == 0, start.stdout + start.stderr
    ex = sky(sky_bin, env, "exec", "ast", "--", "echo back")
    assert ex.returncode == 0 and "back" in ex.stdout, ex.stdout + ex.stderr
