"""Azure end to end with the real `sky` binary against the test cloud's Azure
fake (ARM and Entra ID on loopback; every running VM a loopback sshd node):
the multi-node example, stop (deallocate) and start, failover on
AllocationFailed and SkuNotAvailable, quota blocking a region, spot eviction
seen by `sky status -r`, each credential source `sky check` reports, and
`kill -9` of a launch followed by `sky down` leaving no resource behind
(counted through the fake's API)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import stat
import subprocess
import time

import pytest
from cloud_fixture import (
    AzureCloud,
    assert_loopback_only,
    check_cloud,
    cloud_env,
    launch,
    node_user,
    sky,
)
from test_aws_launch import MULTINODE

REGION = "eastus"


@pytest.fixture
def env(tmp_path: pathlib.Path, azure_cloud: AzureCloud, sky_bin: str):
    """One isolated `sky` pointed at the Azure fake: its own state dir, a
    config that logs into the nodes as the fixture's user, no AWS."""
    config = f"azure:\n  ssh_user: {node_user(azure_cloud)}\n"
    with cloud_env(tmp_path, sky_bin, config, azure_cloud) as result:
        yield result


def check_azure(sky_bin: str, env: dict) -> str:
    return check_cloud(sky_bin, env, "azure", r"Azure.*enabled")


def vms(cloud: AzureCloud) -> list[str]:
    return [r for r in cloud.resources() if "/virtualmachines/" in r.lower()]


# ---------------------------------------------------------------- the example


def test_multinode_example_runs_unchanged(sky_bin: str, env: dict, azure_cloud: AzureCloud) -> None:
    check_azure(sky_bin, env)
    result = launch(sky_bin, env, "mn", "--infra", "azure", str(MULTINODE))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert_loopback_only(out)
    for rank in (0, 1):
        assert f"rank {rank} of 2" in out, out
    names = vms(azure_cloud)
    assert len(names) == 2, azure_cloud.resources()
    # SkyPilot's names and tags: a resource group per cluster and region.
    group = names[0].split("/")[4]
    assert group.startswith("mn-") and group.endswith(f"-{REGION}"), group
    nodes = [n for n in azure_cloud.nodes() if n["state"] == "running"]
    assert len(nodes) == 2, nodes

    status = sky(sky_bin, env, "status")
    assert re.search(r"\bmn\b.*Azure.*UP", status.stdout), status.stdout
    ex = sky(sky_bin, env, "exec", "mn", "--num-nodes", "2", "--", "echo rank=$SKYPILOT_NODE_RANK")
    assert ex.returncode == 0, ex.stdout + ex.stderr
    assert "rank=0" in ex.stdout and "rank=1" in ex.stdout, ex.stdout

    down = sky(sky_bin, env, "down", "-y", "mn")
    assert down.returncode == 0, down.stdout + down.stderr
    assert azure_cloud.resources() == []
    again = sky(sky_bin, env, "down", "-y", "mn")
    assert "does not exist" in again.stdout + again.stderr


def test_stop_deallocates_and_start_resumes(
    sky_bin: str, env: dict, azure_cloud: AzureCloud
) -> None:
    check_azure(sky_bin, env)
    result = launch(sky_bin, env, "ss", "--infra", "azure", "--", "echo data > ~/kept.txt")
    assert result.returncode == 0, result.stdout + result.stderr
    stop = sky(sky_bin, env, "stop", "-y", "ss")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert azure_cloud.count(method="POST", action="deallocate") == 1
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\bss\b.*STOPPED", status.stdout), status.stdout
    assert [n["state"] for n in azure_cloud.nodes()] == ["stopped"]

    start = sky(sky_bin, env, "start", "-y", "ss")
    assert start.returncode == 0, start.stdout + start.stderr
    ex = sky(sky_bin, env, "exec", "ss", "--", "cat ~/kept.txt")
    assert ex.returncode == 0 and "data" in ex.stdout, ex.stdout + ex.stderr
    assert len(vms(azure_cloud)) == 1


# ---------------------------------------------------------------- failover


def test_allocation_failure_fails_over_to_the_next_region(
    sky_bin: str, env: dict, azure_cloud: AzureCloud
) -> None:
    check_azure(sky_bin, env)
    azure_cloud.fault(
        "AllocationFailed", times=-1, mode="async", type="virtualMachines", location=REGION
    )
    result = launch(sky_bin, env, "fo", "--infra", "azure", "--", "echo placed")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "AllocationFailed" in out and "placed" in out, out
    # The failed VM and its network in eastus are gone; one VM elsewhere.
    left = vms(azure_cloud)
    assert len(left) == 1 and f"-{REGION}/" not in left[0].lower(), left
    assert not [r for r in azure_cloud.resources() if f"-{REGION}/" in f"{r.lower()}/"]


def test_quota_blocks_the_region_for_the_family(
    sky_bin: str, env: dict, azure_cloud: AzureCloud
) -> None:
    check_azure(sky_bin, env)
    azure_cloud.fault("QuotaExceeded", times=-1, type="virtualMachines", location=REGION)
    result = launch(sky_bin, env, "qb", "--infra", "azure", "--", "echo placed")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "QuotaExceeded" in out and "skipped in eastus from now on" in out, out
    # One refusal per VM family in the region (Standard_D2s_v5, D4s_v5, ...
    # are all "Ds_v5"): the family's other sizes there are skipped, and the
    # launch lands in another region.
    skipped = re.findall(r"\[(\S+) instances skipped in eastus from now on\]", out)
    assert skipped and len(skipped) == len(set(skipped)), skipped
    assert "Ds_v5" in skipped, skipped


def test_no_capacity_anywhere_lists_every_attempt(
    sky_bin: str, env: dict, azure_cloud: AzureCloud
) -> None:
    check_azure(sky_bin, env)
    azure_cloud.fault("SkuNotAvailable", times=-1, type="virtualMachines")
    result = launch(sky_bin, env, "nf", "--infra", f"azure/{REGION}", "--", "true")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "SkuNotAvailable" in out, out
    assert azure_cloud.resources() == []


# ---------------------------------------------------------------- spot, crash


def test_spot_eviction_is_reported(sky_bin: str, env: dict, azure_cloud: AzureCloud) -> None:
    check_azure(sky_bin, env)
    result = launch(sky_bin, env, "sp", "--infra", f"azure/{REGION}", "--use-spot", "--", "true")
    assert result.returncode == 0, result.stdout + result.stderr
    stop = sky(sky_bin, env, "stop", "-y", "sp")
    assert stop.returncode != 0
    assert "Stopping spot instances is currently not supported" in stop.stdout + stop.stderr
    vm = vms(azure_cloud)[0].rsplit("/", 1)[1]
    azure_cloud.evict(vm)
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\bsp\b.*STOPPED", status.stdout), status.stdout
    assert "evicted" in status.stdout, status.stdout


def test_kill_during_launch_then_down_leaves_nothing(
    sky_bin: str, env: dict, azure_cloud: AzureCloud
) -> None:
    check_azure(sky_bin, env)
    # Slow operations, so the launch is caught halfway.
    azure_cloud.configure(lro_polls=3, retry_after="1")
    process = subprocess.Popen(
        [sky_bin, "launch", "-y", "-c", "kd", "--infra", "azure", "--num-nodes", "2", "--", "true"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any(
        "/networkinterfaces/" in r.lower() for r in azure_cloud.resources()
    ):
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert azure_cloud.resources(), "the launch was killed before it made anything"
    azure_cloud.configure(lro_polls=1, retry_after="0")
    down = sky(sky_bin, env, "down", "-y", "kd")
    assert down.returncode == 0, down.stdout + down.stderr
    assert azure_cloud.resources() == []


# ---------------------------------------------------------------- credentials


def test_wrong_secret_is_named_with_its_source(
    sky_bin: str, env: dict, azure_cloud: AzureCloud
) -> None:
    env = {**env, "AZURE_CLIENT_SECRET": "not-the-secret"}
    check = sky(sky_bin, env, "check", "azure")
    assert "AADSTS7000215" in check.stdout, check.stdout
    assert "AZURE_CLIENT_SECRET" in check.stdout, check.stdout
    result = launch(sky_bin, env, "bc", "--infra", "azure", "--", "true")
    assert result.returncode != 0
    assert "Azure" in result.stdout + result.stderr
    assert azure_cloud.resources() == []


def test_workload_identity_and_certificate(
    sky_bin: str, env: dict, azure_cloud: AzureCloud
) -> None:
    base = {k: v for k, v in env.items() if k != "AZURE_CLIENT_SECRET"}
    federated = {**base, "AZURE_FEDERATED_TOKEN_FILE": env["SKYCORE_AZURE_FEDERATED_TOKEN_FILE"]}
    assert "workload identity" in check_azure(sky_bin, federated)
    certificate = {**base, "AZURE_CLIENT_CERTIFICATE_PATH": env["SKYCORE_AZURE_CLIENT_CERT"]}
    assert "AZURE_CLIENT_CERTIFICATE_PATH" in check_azure(sky_bin, certificate)
    missing = {**base, "AZURE_FEDERATED_TOKEN_FILE": "/nonexistent/token"}
    check = sky(sky_bin, missing, "check", "azure")
    assert "AZURE_FEDERATED_TOKEN_FILE=/nonexistent/token" in check.stdout, check.stdout


def test_azure_cli_login_is_used_and_cached(
    sky_bin: str, env: dict, azure_cloud: AzureCloud, tmp_path: pathlib.Path
) -> None:
    """Without a service principal, `az account get-access-token` is run (a
    stand-in `az` that gets a real token from the fake's Entra ID)."""
    token = azure_cloud.token()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "az-calls"
    answer = {
        "accessToken": token,
        "expires_on": int(time.time()) + 3600,
        "subscription": azure_cloud.subscription,
        "tenant": azure_cloud.tenant,
        "tokenType": "Bearer",
    }
    az = bin_dir / "az"
    az.write_text(
        f"#!/bin/sh\necho \"$@\" >> {calls}\necho 'WARNING: a warning' >&2\n"
        f"echo '{json.dumps(answer)}'\n"
    )
    az.chmod(az.stat().st_mode | stat.S_IEXEC)
    cli = {
        k: v
        for k, v in env.items()
        if k not in ("AZURE_CLIENT_SECRET", "AZURE_CLIENT_ID", "AZURE_SUBSCRIPTION_ID")
    }
    cli["PATH"] = f"{bin_dir}:{env['PATH']}"
    out = check_azure(sky_bin, cli)
    assert "Azure CLI" in out and azure_cloud.subscription in out, out
    assert "get-access-token" in calls.read_text()
