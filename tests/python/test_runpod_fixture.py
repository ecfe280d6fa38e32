"""Tests of the RunPod fake of the cloud test fixture (tests/fixtures/cloud/
runpod_fake.py): the runpod SDK's own GraphQL documents (its ctl_commands and
mutation generators) drive it through RUNPOD_API_BASE_URL, running pods are
loopback sshd machines reached at runtime.ports, and capacity errors, bad
keys, GraphQL validation and preemption answer as RunPod does."""

from __future__ import annotations

import base64
import json
import pathlib
import subprocess

import pytest
from cloud_fakes import RunpodCloud

GPU = "NVIDIA L4"
NO_CAPACITY = (
    "There are no longer any instances available with the requested specifications. "
    "Please refresh and try again."
)
PRELUDE = """
import json, os
import runpod
from runpod import error
from runpod.api.graphql import run_graphql_query
from runpod.api.mutations import pods as pod_mutations
runpod.api_key = os.environ.get("KEY") or os.environ["RUNPOD_API_KEY"]

def attempt(fn, *args, **kwargs):
    try:
        return {"ok": fn(*args, **kwargs)}
    except (error.QueryError, error.AuthenticationError) as e:
        return {"error": [type(e).__name__, str(e)]}
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


def run(cloud: RunpodCloud, script: str, **env: str) -> dict:
    return json.loads(cloud.run_python(PRELUDE + script, env=env).strip().splitlines()[-1])


def ssh_endpoint(pod: dict) -> tuple[str, int]:
    """Where SkyPilot reads a pod's ssh: the public port mapped to 22."""
    [port] = [p for p in pod["runtime"]["ports"] if p["isIpPublic"] and p["privatePort"] == 22]
    return port["ip"], port["publicPort"]


def test_sdk_pod_life(runpod_cloud: RunpodCloud, key: pathlib.Path) -> None:
    user = runpod_cloud.env["SKYCORE_TEST_NODE_USER"]
    out = run(
        runpod_cloud,
        """
out = {"gpus": runpod.get_gpus(), "gpu": runpod.get_gpu("NVIDIA L4")}
pod = runpod.create_pod("c1-head", "runpod/base:0.6.2", "NVIDIA L4", cloud_type="SECURE",
                        ports="22/tcp,8080/http", env={"PUBLIC_KEY": os.environ["PUB"]},
                        data_center_id="US-KS-2")
out["created"] = pod
out["starting"] = runpod.get_pod(pod["id"])
out["running"] = runpod.get_pod(pod["id"])
out["pods"] = runpod.get_pods()
print(json.dumps(out))
""",
        PUB=key.with_suffix(".pub").read_text().strip(),
    )
    assert {"id": GPU, "displayName": "L4", "memoryInGb": 24} in out["gpus"]
    assert out["gpu"]["lowestPrice"]["uninterruptablePrice"] > 0
    pod = out["created"]
    assert set(pod) == {"id", "imageName", "env", "machineId", "machine"}  # what the SDK asked
    assert pod["env"] == [f"PUBLIC_KEY={key.with_suffix('.pub').read_text().strip()}"]
    assert out["starting"]["desiredStatus"] == "RUNNING" and out["starting"]["runtime"] is None
    running = out["running"]
    assert running["machine"] == {"gpuDisplayName": "L4"} and running["gpuCount"] == 1
    address, port = ssh_endpoint(running)
    assert address.startswith("127.")
    http = [p for p in running["runtime"]["ports"] if p["privatePort"] == 8080]
    assert http == [{"ip": address, "isIpPublic": True, "privatePort": 8080, "publicPort": 8080,
                     "type": "http"}]  # fmt: skip
    assert [p["id"] for p in out["pods"]] == [pod["id"]]
    result = ssh(key, address, port, user)
    assert result.returncode == 0, result.stderr
    assert "NVIDIA L4" in ssh(key, address, port, user, "nvidia-smi").stdout

    out = run(
        runpod_cloud,
        f"""
pid = {pod["id"]!r}
out = {{"stop": runpod.stop_pod(pid), "stopped": runpod.get_pod(pid)}}
print(json.dumps(out))
""",
    )
    assert out["stop"] == {"id": pod["id"], "desiredStatus": "EXITED"}
    assert out["stopped"]["runtime"] is None
    assert ssh(key, address, port, user).returncode == 255
    node = runpod_cloud.node(pod["id"])
    assert pathlib.Path(node["dir"]).exists()  # the container disk stays

    out = run(
        runpod_cloud,
        f"""
pid = {pod["id"]!r}
out = {{"resume": runpod.resume_pod(pid, 1)}}
runpod.get_pods()
out["running"] = runpod.get_pod(pid)
runpod.terminate_pod(pid)
out["pods"] = runpod.get_pods()
out["gone"] = runpod.get_pod(pid)
print(json.dumps(out))
""",
    )
    assert out["resume"]["desiredStatus"] == "RUNNING"
    assert ssh_endpoint(out["running"]) == (address, port)
    assert out["pods"] == [] and out["gone"] is None
    assert ssh(key, address, port, user).returncode == 255
    assert not pathlib.Path(node["dir"]).exists()
    assert runpod_cloud.resources()["count"] == 0
    ops = [r["operation"] for r in runpod_cloud.requests()]
    assert ops[:3] == ["gpuTypes", "gpuTypes", "gpuTypes"]  # create_pod checks the GPU first
    assert "podFindAndDeployOnDemand" in ops and "podTerminate" in ops


def test_capacity_bad_key_and_validation(runpod_cloud: RunpodCloud) -> None:
    runpod_cloud.fault(operation="podFindAndDeployOnDemand", gpu_type=GPU)
    runpod_cloud.capacity("NVIDIA H100 PCIe", 0)
    out = run(
        runpod_cloud,
        """
create = lambda **kw: runpod.create_pod("p", "runpod/base:0.6.2", **kw)
out = {"fault": attempt(create, gpu_type_id="NVIDIA L4"),
       "community": attempt(create, gpu_type_id="NVIDIA L4", cloud_type="COMMUNITY"),
       "sold_out": attempt(create, gpu_type_id="NVIDIA H100 PCIe")}
try:
    runpod.get_gpu("NVIDIA Nope")
except ValueError as e:
    out["unknown_gpu"] = str(e)
runpod.api_key = "rpa_WRONG"
out["bad_key"] = attempt(runpod.get_pods)
print(json.dumps(out))
""",
    )
    for case in ("fault", "community", "sold_out"):
        assert out[case] == {"error": ["QueryError", NO_CAPACITY]}, case
    assert out["bad_key"] == {
        "error": ["AuthenticationError", "Unauthorized request, please check your API key."]
    }
    assert out["unknown_gpu"].startswith("No GPU found with the specified ID")
    assert runpod_cloud.resources()["pods"] == []

    status, body = runpod_cloud.graphql("query { myself { pods { id bogus } } }")
    assert status == 400
    assert body["errors"][0]["message"] == 'Cannot query field "bogus" on type "Pod".'
    assert body["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    status, body = runpod_cloud.graphql("query { myself { pods { id } }")
    assert (status, body["errors"][0]["extensions"]["code"]) == (400, "GRAPHQL_PARSE_FAILED")
    status, body = runpod_cloud.graphql(
        "query Pod($id: String!) { pod(input: {podId: $id}) { id } }", {"id": "nope"}
    )
    assert (status, body) == (200, {"data": {"pod": None}})


def spot_mutation(name: str, public_key: str, bid: float) -> str:
    """podRentInterruptable as SkyPilot sends it: the key inside a base64
    start-up script in dockerArgs, not in env."""
    script = f'mkdir -p ~/.ssh; echo "{public_key}" >> ~/.ssh/authorized_keys; sleep infinity'
    encoded = base64.b64encode(script.encode()).decode()
    docker_args = f"bash -c 'echo {encoded} | base64 --decode > init.sh; bash init.sh'"
    return f"""
    mutation {{
      podRentInterruptable(
        input: {{
          name: "{name}", imageName: "runpod/base:0.6.2", gpuTypeId: "{GPU}",
          bidPerGpu: {bid}, volumeMountPath: "/runpod-volume", cloudType: SECURE,
          startSsh: true, supportPublicIp: true, gpuCount: 1, minMemoryInGb: 24,
          minVcpuCount: 4, containerDiskInGb: 50, volumeInGb: 0,
          ports: "22/tcp,8265/http", dockerArgs: "{docker_args}", countryCode: "US"
        }}
      ) {{
        id desiredStatus imageName env machineId machine {{ podHostId }}
      }}
    }}
    """


# SkyPilot's pod listing: the SDK's fields plus containerRegistryAuthId.
SKY_PODS = """
query myPods { myself { pods { id containerRegistryAuthId desiredStatus name podType
  vcpuCount runtime { ports { ip isIpPublic privatePort publicPort type } } } } }
"""


def test_spot_pod_preemption(runpod_cloud: RunpodCloud, key: pathlib.Path) -> None:
    user = runpod_cloud.env["SKYCORE_TEST_NODE_USER"]
    public = key.with_suffix(".pub").read_text().strip()
    status, body = runpod_cloud.graphql(spot_mutation("s-head", public, 0.01))
    assert status == 200 and body["data"] == {"podRentInterruptable": None}
    assert "minimum bid price" in body["errors"][0]["message"]

    runpod_cloud.configure(start_polls=0)
    status, body = runpod_cloud.graphql(spot_mutation("s-head", public, 5.0))
    assert status == 200, body
    pod = body["data"]["podRentInterruptable"]
    assert pod["desiredStatus"] == "RUNNING" and pod["env"] == []
    [listed] = runpod_cloud.graphql(SKY_PODS)[1]["data"]["myself"]["pods"]
    assert listed["podType"] == "INTERRUPTABLE" and listed["containerRegistryAuthId"] is None
    private = [p for p in listed["runtime"]["ports"] if not p["isIpPublic"]]
    address, port = ssh_endpoint(listed)
    assert private[0]["ip"] == address  # SkyPilot's internal_ip
    assert ssh(key, address, port, user).returncode == 0

    assert runpod_cloud.preempt(pod["id"]) == {"id": pod["id"], "desiredStatus": "EXITED"}
    [listed] = runpod_cloud.graphql(SKY_PODS)[1]["data"]["myself"]["pods"]
    assert (listed["desiredStatus"], listed["runtime"]) == ("EXITED", None)
    assert ssh(key, address, port, user).returncode == 255

    resume = f'mutation {{ podBidResume(input: {{podId: "{pod["id"]}", bidPerGpu: 5.0, gpuCount: 1}}) {{ id desiredStatus }} }}'  # noqa: E501
    assert runpod_cloud.graphql(resume)[1]["data"]["podBidResume"]["desiredStatus"] == "RUNNING"
    assert ssh(key, address, port, user).returncode == 0
    assert runpod_cloud.kill_node(pod["id"])["state"] == "dead"
    assert ssh(key, address, port, user).returncode == 255
    runpod_cloud.preempt(pod["id"], terminate=True)
    assert runpod_cloud.graphql(SKY_PODS)[1]["data"]["myself"]["pods"] == []
    assert runpod_cloud.nodes() == []
    config = pathlib.Path(runpod_cloud.env["SKYCORE_RUNPOD_CONFIG_FILE"]).read_text()
    assert config == f'[default]\napi_key = "{runpod_cloud.api_key}"\n'
