"""Tests of the Lambda Cloud fake of the cloud test fixture (tests/fixtures/
cloud/lambda_fake.py): Lambda's own API client (lambda-ai-cloud-api-client,
whose generated models parse every answer with `from_dict`) drives it,
active instances are loopback sshd machines, and errors, capacity, quota and
the launch rate limit answer as Lambda words them."""

from __future__ import annotations

import json
import pathlib
import subprocess

import pytest
from cloud_fakes import LambdaCloud

TYPE = "gpu_1x_a10"

# Runs in the fixture's venv: the client, and `call(module, **kwargs)` that
# returns the parsed answer's class name and its to_dict() (status != 200: the
# client's typed error answer).
PRELUDE = """
import json, os
from lambda_ai_cloud_api_client import AuthenticatedClient
from lambda_ai_cloud_api_client.api.instances import (
    get_instance, launch_instance, list_instance_types, list_instances, restart_instance,
    terminate_instance)
from lambda_ai_cloud_api_client.api.ssh_keys import add_ssh_key, delete_ssh_key, list_ssh_keys
from lambda_ai_cloud_api_client.models import (
    AddSSHKeyRequest, InstanceLaunchRequest, InstanceRestartRequest, InstanceTerminateRequest)
from lambda_ai_cloud_api_client.models.public_region_code import PublicRegionCode

client = AuthenticatedClient(base_url=os.environ["LAMBDA_CLOUD_BASE_URL"],
                             token=os.environ.get("TOKEN") or os.environ["LAMBDA_API_KEY"],
                             raise_on_unexpected_status=True)

def call(module, *args, **kwargs):
    answer = module.sync_detailed(*args, client=client, **kwargs)
    parsed = answer.parsed
    inner = getattr(parsed, "error", None)
    return {"status": int(answer.status_code), "type": type(parsed).__name__,
            "error_type": type(inner).__name__ if inner is not None else None,
            "body": parsed.to_dict()}

def launch(name, region="us-east-1", itype="gpu_1x_a10", key="k1"):
    body = InstanceLaunchRequest(region_name=PublicRegionCode(region), instance_type_name=itype,
                                 ssh_key_names=[key], name=name)
    return call(launch_instance, body=body)
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


def ssh(key: pathlib.Path, address: str, port: int, user: str, command: str = "true"):
    return subprocess.run(
        ["ssh", "-F", "/dev/null", "-i", str(key), "-p", str(port),
         "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=5", f"{user}@{address}", command],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def run(cloud: LambdaCloud, script: str, **env: str) -> dict:
    return json.loads(cloud.run_python(PRELUDE + script, env=env).strip().splitlines()[-1])


def test_sdk_launch_ssh_terminate(lambda_cloud: LambdaCloud, key: pathlib.Path) -> None:
    user = lambda_cloud.env["SKYCORE_TEST_NODE_USER"]
    out = run(
        lambda_cloud,
        """
out = {"key": call(add_ssh_key, body=AddSSHKeyRequest(name="k1", public_key=os.environ["PUB"]))}
out["types"] = call(list_instance_types)
out["launch"] = launch("c1-head")
iid = out["launch"]["body"]["data"]["instance_ids"][0]
out["booting"] = call(list_instances)
out["active"] = call(get_instance, iid)
out["keys"] = call(list_ssh_keys)
print(json.dumps(out))
""",
        PUB=key.with_suffix(".pub").read_text().strip(),
    )
    assert out["key"]["type"] == "AddSSHKeyResponse200", out["key"]
    types = out["types"]["body"]["data"]
    assert types[TYPE]["instance_type"]["specs"]["gpus"] == 1
    assert {"name": "us-east-1", "description": "Virginia, USA"} in types[TYPE][
        "regions_with_capacity_available"
    ]
    assert out["launch"]["type"] == "LaunchInstanceResponse200", out["launch"]
    [booting] = out["booting"]["body"]["data"]
    assert booting["status"] == "booting" and "ip" not in booting
    active = out["active"]["body"]["data"]
    assert active["status"] == "active" and active["name"] == "c1-head"
    assert active["ip"] == active["private_ip"] and active["ip"].startswith("127.")
    assert active["ssh_key_names"] == ["k1"] and active["region"]["name"] == "us-east-1"
    node = lambda_cloud.node(active["id"])
    assert (node["address"], node["state"]) == (active["ip"], "running")
    result = ssh(key, node["address"], node["port"], user, "true")
    assert result.returncode == 0, result.stderr
    gpus = ssh(key, node["address"], node["port"], user, "nvidia-smi")
    assert "NVIDIA A10" in gpus.stdout

    out = run(
        lambda_cloud,
        f"""
iid = {active["id"]!r}
out = {{"terminate": call(terminate_instance, body=InstanceTerminateRequest(instance_ids=[iid]))}}
out["terminating"] = call(list_instances)
out["gone"] = call(list_instances)
out["missing"] = call(get_instance, iid)
print(json.dumps(out))
""",
    )
    assert out["terminate"]["type"] == "TerminateInstanceResponse200", out["terminate"]
    assert out["terminate"]["body"]["data"]["terminated_instances"][0]["status"] == "terminating"
    assert [i["status"] for i in out["terminating"]["body"]["data"]] == ["terminating"]
    assert out["gone"]["body"]["data"] == []
    assert (out["missing"]["status"], out["missing"]["body"]["error"]["code"]) == (
        404, "global/object-does-not-exist")  # fmt: skip
    assert ssh(key, node["address"], node["port"], user).returncode == 255
    assert not pathlib.Path(node["dir"]).exists()
    assert lambda_cloud.resources()["instances"] == []
    ops = [r["operation"] for r in lambda_cloud.requests(method="POST")]
    assert ops == ["POST ssh-keys", "launch", "terminate"]
    assert all(r["duration_s"] >= 0 for r in lambda_cloud.requests())


def test_capacity_quota_and_errors(lambda_cloud: LambdaCloud, key: pathlib.Path) -> None:
    lambda_cloud.capacity(TYPE, regions=["us-west-1"])
    out = run(
        lambda_cloud,
        """
call(add_ssh_key, body=AddSSHKeyRequest(name="k1", public_key=os.environ["PUB"]))
out = {"types": call(list_instance_types)["body"]["data"]["gpu_1x_a10"]}
out["no_capacity"] = launch("a", "us-east-1")
out["unknown_type"] = launch("a", itype="gpu_9x_nope")
out["unknown_key"] = launch("a", "us-west-1", key="nope")
print(json.dumps(out))
""",
        PUB=key.with_suffix(".pub").read_text().strip(),
    )
    assert [r["name"] for r in out["types"]["regions_with_capacity_available"]] == ["us-west-1"]
    capacity = out["no_capacity"]
    assert (capacity["status"], capacity["error_type"]) == (400, "ApiErrorInsufficientCapacity")
    assert capacity["body"]["error"] == {
        "code": "instance-operations/launch/insufficient-capacity",
        "message": "Not enough capacity to fulfill launch request.",
        "suggestion": capacity["body"]["error"]["suggestion"],
    }
    assert out["unknown_type"]["status"] == 404
    assert out["unknown_type"]["body"]["error"]["code"] == "global/object-does-not-exist"
    assert out["unknown_key"]["status"] == 404

    lambda_cloud.configure(quota=0)
    status, body = lambda_cloud.api(
        "POST",
        "instance-operations/launch",
        {"region_name": "us-west-1", "instance_type_name": TYPE, "ssh_key_names": ["k1"]},
    )
    assert (status, body["error"]["code"]) == (400, "global/quota-exceeded")
    lambda_cloud.configure(quota=-1, launch_interval_s=30)
    launch = {"region_name": "us-west-1", "instance_type_name": TYPE, "ssh_key_names": ["k1"],
              "quantity": 1, "name": "rl"}  # fmt: skip
    # The launch refused for quota just before counts: the limit is on requests.
    status, body = lambda_cloud.api("POST", "instance-operations/launch", launch)
    assert (status, body["error"]["code"]) == (429, "global/rate-limited")
    lambda_cloud.configure(launch_interval_s=0)
    assert lambda_cloud.api("POST", "instance-operations/launch", launch)[0] == 200

    lambda_cloud.fault(operation="launch", code="instance-operations/launch/insufficient-capacity",
                       region="us-west-1")  # fmt: skip
    status, body = lambda_cloud.api("POST", "instance-operations/launch", launch)
    assert (status, body["error"]["code"]) == (
        400, "instance-operations/launch/insufficient-capacity")  # fmt: skip
    assert lambda_cloud.api("POST", "instance-operations/launch", launch)[0] == 200
    assert len(lambda_cloud.resources()["instances"]) == 2


def test_bad_key_and_dead_machine(lambda_cloud: LambdaCloud, key: pathlib.Path) -> None:
    out = run(lambda_cloud, "print(json.dumps(call(list_instances)))", TOKEN="secret_wrong")
    assert (out["status"], out["type"]) == (401, "ListInstancesResponse401")
    assert out["body"]["error"]["code"] == "global/invalid-api-key"
    status, body = lambda_cloud.api("GET", "instances", key="nope")
    assert status == 401 and body["error"]["message"] == "API key was invalid, expired, or deleted."

    lambda_cloud.configure(boot_polls=0)
    public = key.with_suffix(".pub").read_text().strip()
    assert lambda_cloud.api("POST", "ssh-keys", {"name": "k", "public_key": public})[0] == 200
    status, body = lambda_cloud.api(
        "POST",
        "instance-operations/launch",
        {"region_name": "us-east-1", "instance_type_name": TYPE, "ssh_key_names": ["k"]},
    )
    assert status == 200, body
    [iid] = body["data"]["instance_ids"]
    user = lambda_cloud.env["SKYCORE_TEST_NODE_USER"]
    node = lambda_cloud.node(iid)
    assert ssh(key, node["address"], node["port"], user).returncode == 0
    assert lambda_cloud.kill_node(iid)["state"] == "dead"
    assert ssh(key, node["address"], node["port"], user).returncode == 255
    assert lambda_cloud.api("GET", f"instances/{iid}")[1]["data"]["status"] == "active"
    status, body = lambda_cloud.api("POST", "instance-operations/restart", {"instance_ids": [iid]})
    assert status == 200 and body["data"]["restarted_instances"][0]["id"] == iid
    assert ssh(key, lambda_cloud.node(iid)["address"], node["port"], user).returncode == 0
    keys = lambda_cloud.api("GET", "ssh-keys")[1]["data"]
    assert lambda_cloud.api("DELETE", f"ssh-keys/{keys[0]['id']}")[0] == 200
    assert pathlib.Path(lambda_cloud.env["SKYCORE_LAMBDA_KEYS_FILE"]).read_text() == (
        f"api_key = {lambda_cloud.api_key}\n"
    )
