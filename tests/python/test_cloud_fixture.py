"""Tests of the AWS test cloud itself (scripts/cloud-test-fixture): machines
follow the instances' states, addresses are loopback only, faults, spot
interruptions, SigV4 checking, two fixtures at once, and `down`."""

from __future__ import annotations

import pathlib
import re
import subprocess
import time

import cloud_fixture
import pytest
from cloud_fixture import AwsCloud, AwsError

IPV4 = re.compile(r"(?<![\d.])(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})(?![\d.])")

# Runs in the fixture's venv: the raw XML of every EC2 answer, to check that no
# address outside 127.0.0.0/8 reaches the client.
RAW_BODIES = """
import json, os, boto3
ec2 = boto3.client("ec2", region_name=os.environ["REGION"])
bodies = []
ec2.meta.events.register(
    "after-call.ec2.*", lambda http_response, **_: bodies.append(http_response.text))
ec2.describe_instances()
ec2.describe_network_interfaces()
print(json.dumps(bodies))
"""


@pytest.fixture
def key(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "key"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )
    return path


def ssh(key: pathlib.Path, node: dict, command: str = "echo ok") -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            "ssh",
            "-F",
            "/dev/null",
            "-i",
            str(key),
            "-p",
            str(node["port"]),
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=5",
            f"root@{node['address']}",
            command,
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def launch(cloud: AwsCloud, key: pathlib.Path, region: str, count: int, **extra) -> list[dict]:
    """Imports the key pair and launches `count` instances; their descriptions."""
    ec2 = cloud.boto3_client("ec2", region)
    ec2.import_key_pair(KeyName="k", PublicKeyMaterial=key.with_suffix(".pub").read_text())
    reply = ec2.run_instances(
        ImageId=cloud.image_id,
        MinCount=count,
        MaxCount=count,
        InstanceType="m6i.large",
        KeyName="k",
        **extra,
    )
    return reply["Instances"]


def describe(cloud: AwsCloud, region: str, ids: list[str]) -> dict[str, dict]:
    reply = cloud.boto3_client("ec2", region).describe_instances(InstanceIds=ids)
    return {i["InstanceId"]: i for r in reply["Reservations"] for i in r["Instances"]}


def node_of(cloud: AwsCloud, instance_id: str) -> dict:
    return next(n for n in cloud.nodes() if n["instance_id"] == instance_id)


def assert_loopback_only(cloud: AwsCloud, region: str) -> None:
    bodies = cloud.run_python(RAW_BODIES, env={"REGION": region})
    addresses = set(IPV4.findall(bodies))
    assert addresses, "the answers named no address at all"
    assert all(a.startswith("127.") for a in addresses), addresses


def test_instances_are_loopback_machines(aws_cloud: AwsCloud, key: pathlib.Path) -> None:
    region = "us-west-2"  # not the default: the proxy keeps the request's region
    launched = launch(aws_cloud, key, region, 2)
    ids = [i["InstanceId"] for i in launched]
    for instance in launched:  # RunInstances' own answer is rewritten too
        assert instance["PrivateIpAddress"].startswith("127.")
    described = describe(aws_cloud, region, ids)
    addresses = {described[i]["PublicIpAddress"] for i in ids}
    assert len(addresses) == 2 and all(a.startswith("127.") for a in addresses)
    for i in ids:
        assert described[i]["PrivateIpAddress"] == described[i]["PublicIpAddress"]
        assert described[i]["PublicDnsName"] == described[i]["PublicIpAddress"]
    assert_loopback_only(aws_cloud, region)

    nodes = {n["instance_id"]: n for n in aws_cloud.nodes()}
    assert {nodes[i]["region"] for i in ids} == {region}
    first = nodes[ids[0]]
    # Each machine has its own SKYCORE_HOME, and sees its own address.
    result = ssh(key, first, "echo $SKYCORE_HOME; echo $SSH_CONNECTION")
    assert result.returncode == 0, result.stderr
    home, connection = result.stdout.split("\n")[:2]
    assert home == f"{first['dir']}/home"
    assert connection.split()[2] == first["address"]
    assert ssh(key.parent / "nokey", first).returncode != 0  # only the launch key

    ec2 = aws_cloud.boto3_client("ec2", region)
    ec2.stop_instances(InstanceIds=[ids[0]])
    assert ssh(key, first).returncode == 255
    stopped = describe(aws_cloud, region, ids)[ids[0]]
    assert stopped["State"]["Name"] in ("stopping", "stopped")
    assert "PublicIpAddress" not in stopped
    assert_loopback_only(aws_cloud, region)

    ec2.start_instances(InstanceIds=[ids[0]])
    restarted = node_of(aws_cloud, ids[0])
    assert restarted["address"] == first["address"] and restarted["state"] == "running"
    assert ssh(key, restarted).stdout == "ok\n"

    # A machine that dies stays dead while moto still says running.
    aws_cloud.kill_node(ids[1])
    assert describe(aws_cloud, region, [ids[1]])[ids[1]]["State"]["Name"] == "running"
    assert node_of(aws_cloud, ids[1])["state"] == "dead"
    assert ssh(key, nodes[ids[1]]).returncode == 255

    ec2.terminate_instances(InstanceIds=ids)
    assert ssh(key, restarted).returncode == 255
    assert not pathlib.Path(first["dir"]).exists()
    states = {i["State"]["Name"] for i in describe(aws_cloud, region, ids).values()}
    assert states <= {"shutting-down", "terminated"}
    assert {n["state"] for n in aws_cloud.nodes()} == {"terminated"}


def test_capacity_fault_in_one_zone(aws_cloud: AwsCloud, key: pathlib.Path) -> None:
    aws_cloud.fault(
        "RunInstances",
        "InsufficientInstanceCapacity",
        "We currently do not have sufficient m6i.large capacity in us-east-1a.",
        http_status=500,
        times=2,
        match={"Placement.AvailabilityZone": "us-east-1a", "region": "us-east-1"},
    )
    no_retry = {"retries": {"total_max_attempts": 1, "mode": "standard"}}
    ec2 = aws_cloud.boto3_client("ec2", "us-east-1", **no_retry)
    ec2.import_key_pair(KeyName="k", PublicKeyMaterial=key.with_suffix(".pub").read_text())
    run = {
        "ImageId": aws_cloud.image_id,
        "MinCount": 1,
        "MaxCount": 1,
        "InstanceType": "m6i.large",
        "KeyName": "k",
    }
    zone_a = {**run, "Placement": {"AvailabilityZone": "us-east-1a"}}
    zone_b = {**run, "Placement": {"AvailabilityZone": "us-east-1b"}}
    calls = [
        ("ec2", "us-east-1", "run_instances", zone_b),  # another zone: not matched
        ("ec2", "us-east-1", "run_instances", zone_a),
        ("ec2", "us-east-1", "run_instances", zone_a),
        ("ec2", "us-east-1", "run_instances", zone_a),
    ]
    results = aws_cloud.boto3_calls(calls, config=no_retry, stop_on_error=False)
    assert not isinstance(results[0], AwsError)
    for error in results[1:3]:
        assert isinstance(error, AwsError)
        assert (error.code, error.status) == ("InsufficientInstanceCapacity", 500)
    assert not isinstance(results[3], AwsError)
    attempts = aws_cloud.requests("RunInstances")
    assert [a.get("fault") for a in attempts] == [None, *["InsufficientInstanceCapacity"] * 2, None]
    assert len(aws_cloud.nodes()) == 2  # the two launches that passed


def test_forever_fault_and_unreachable(aws_cloud: AwsCloud) -> None:
    aws_cloud.fault("DescribeRegions", "RequestLimitExceeded", http_status=503, times=-1)
    no_retry = {"retries": {"total_max_attempts": 1, "mode": "standard"}}
    ec2 = aws_cloud.boto3_client("ec2", "eu-west-1", **no_retry)
    for _ in range(3):
        with pytest.raises(AwsError) as error:
            ec2.describe_regions()
        assert (error.value.code, error.value.status) == ("RequestLimitExceeded", 503)
    aws_cloud.clear_faults()
    assert ec2.describe_regions()["Regions"]

    aws_cloud.unreachable(times=1, action="DescribeAvailabilityZones")
    results = aws_cloud.boto3_calls(
        [("ec2", "eu-west-1", "describe_availability_zones", {})] * 2,
        config=no_retry,
        stop_on_error=False,
    )
    assert isinstance(results[0], AwsError) and results[0].status is None  # no answer
    assert results[1]["AvailabilityZones"]


def test_spot_interruption(aws_cloud: AwsCloud, key: pathlib.Path) -> None:
    spot = {"InstanceMarketOptions": {"MarketType": "spot"}}
    [instance] = launch(aws_cloud, key, "us-east-1", 1, **spot)
    node = node_of(aws_cloud, instance["InstanceId"])
    # A process started on the machine dies with it.
    assert ssh(key, node, "nohup sleep 300 >/dev/null 2>&1 & echo $!").returncode == 0
    assert aws_cloud.spot_interrupt(instance["InstanceId"])["state"] == "terminated"
    described = describe(aws_cloud, "us-east-1", [instance["InstanceId"]])[instance["InstanceId"]]
    assert described["State"]["Name"] == "terminated"
    assert described["StateReason"]["Code"] == "Server.SpotInstanceTermination"
    assert ssh(key, node).returncode == 255
    assert _processes_mentioning(node["dir"]) == []


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            blob = (entry / "environ").read_bytes() + (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in blob:
            found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def test_sigv4_second_fixture_and_down(aws_cloud: AwsCloud, key: pathlib.Path) -> None:
    """A second fixture (SigV4 checked) beside the session's: other ports, other
    addresses, other instances; a wrong secret is refused; `down` leaves nothing."""
    with cloud_fixture.running_cloud("--sigv4") as signed:
        assert signed.endpoint != aws_cloud.endpoint
        assert signed.env["AWS_ACCESS_KEY_ID"] != "testing"
        sts = signed.boto3_client("sts", "us-east-1")
        assert sts.get_caller_identity()["Arn"].endswith(":user/skycore-test")
        wrong = {"AWS_SECRET_ACCESS_KEY": signed.env["AWS_SECRET_ACCESS_KEY"][:-1] + "x"}
        [refused] = signed.boto3_calls(
            [("ec2", "us-east-1", "describe_instances", {})], env=wrong, stop_on_error=False
        )
        assert isinstance(refused, AwsError)
        assert refused.code in ("AuthFailure", "SignatureDoesNotMatch")
        # After a reset the exported keys still work.
        signed.reset()
        assert sts.get_caller_identity()["Account"]

        [mine] = launch(aws_cloud, key, "us-east-1", 1)
        [theirs] = launch(signed, key, "us-east-1", 1)
        assert mine["PrivateIpAddress"].split(".")[:2] != theirs["PrivateIpAddress"].split(".")[:2]
        assert [n["instance_id"] for n in signed.nodes()] == [theirs["InstanceId"]]
        node = node_of(signed, theirs["InstanceId"])
        assert ssh(key, node, "nohup sleep 300 >/dev/null 2>&1 &").returncode == 0

        recorded = (signed.directory / "pids").read_text().split()
        pids = [int(p) for p in recorded if p.isdigit()]
        before = _processes_mentioning(str(signed.directory))
        assert pids and before
    # running_cloud ran `down`: nothing it started is left.
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids + before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [p for p in pids + before if _alive(p)] == []
    # The session's fixture is untouched.
    assert ssh(key, node_of(aws_cloud, mine["InstanceId"])).stdout == "ok\n"
