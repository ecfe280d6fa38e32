"""Failover across clouds: with AWS and Azure both enabled (the test cloud's
moto and Azure fake), `sky launch --gpus H100:8` and no infra takes the
cheapest place, and when that cloud says it has no capacity anywhere, the
next cloud's; the output shows every attempt, and nothing is left on the
cloud that refused."""

from __future__ import annotations

import pathlib
import re

import pytest
from cloud_fixture import AwsCloud, AzureCloud, cloud_env, node_user, sky
from test_aws_launch import instances


@pytest.fixture
def env(tmp_path: pathlib.Path, aws_cloud: AwsCloud, azure_cloud: AzureCloud, sky_bin: str):
    aws_cloud.reset()
    user = node_user(aws_cloud)
    config = (
        f"aws:\n  ssh_user: {user}\n  image_id: {aws_cloud.image_id}\nazure:\n  ssh_user: {user}\n"
    )
    with cloud_env(tmp_path, sky_bin, config, aws_cloud, azure_cloud) as result:
        yield result


def test_no_capacity_on_one_cloud_fails_over_to_the_next(
    sky_bin: str, env: dict, aws_cloud: AwsCloud, azure_cloud: AzureCloud
) -> None:
    for cloud in ("aws", "azure"):
        check = sky(sky_bin, env, "check", cloud)
        assert check.returncode == 0, check.stdout + check.stderr
    plan = sky(sky_bin, env, "launch", "--dryrun", "--gpus", "H100:8", "--", "true")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    assert "AWS" in plan.stdout and "Azure" in plan.stdout, plan.stdout

    # Neither cloud has H100s in its first choice: AWS none anywhere, Azure
    # none in eastus.
    aws_cloud.fault("RunInstances", "InsufficientInstanceCapacity", http_status=500, times=-1)
    azure_cloud.fault(
        "AllocationFailed", times=-1, mode="async", type="virtualMachines", location="eastus"
    )
    result = sky(sky_bin, env, "launch", "-y", "-c", "gp", "--gpus", "H100:8", "--", "echo ran")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "ran" in out, out
    assert "InsufficientInstanceCapacity" in out and "AllocationFailed" in out, out
    status = sky(sky_bin, env, "status")
    assert "Azure" in status.stdout, status.stdout
    vms = [r for r in azure_cloud.resources() if "/virtualmachines/" in r.lower()]
    assert len(vms) == 1 and "-eastus/" not in vms[0].lower(), vms
    assert instances(aws_cloud) == []


# ---------------------------------------------------------------- all five clouds

CLOUDS = ("AWS", "GCP", "Azure", "Lambda", "RunPod")


@pytest.fixture
def every_cloud(
    tmp_path: pathlib.Path,
    aws_cloud: AwsCloud,
    azure_cloud: AzureCloud,
    gcp_cloud,
    lambda_cloud,
    runpod_cloud,
    sky_bin: str,
):
    """One `sky` with all five test clouds enabled (each one's fake)."""
    aws_cloud.reset()
    user = node_user(aws_cloud)
    config = f"aws:\n  ssh_user: {user}\n  image_id: {aws_cloud.image_id}\n" + "".join(
        f"{cloud}:\n  ssh_user: {user}\n" for cloud in ("gcp", "azure", "lambda", "runpod")
    )
    clouds = (aws_cloud, azure_cloud, gcp_cloud, lambda_cloud, runpod_cloud)
    with cloud_env(tmp_path, sky_bin, config, *clouds, down_timeout=180) as result:
        yield result


def test_the_cheapest_of_five_clouds_then_the_next(
    sky_bin: str,
    every_cloud: dict,
    aws_cloud: AwsCloud,
    azure_cloud: AzureCloud,
    gcp_cloud,
    lambda_cloud,
    runpod_cloud,
) -> None:
    env = every_cloud
    check = sky(sky_bin, env, "check")
    assert check.returncode == 0, check.stdout + check.stderr
    for name in CLOUDS:
        assert re.search(rf"{name}\b.*enabled", check.stdout), check.stdout
    plan = sky(sky_bin, env, "launch", "--dryrun", "--gpus", "H100:8", "--", "true")
    assert plan.returncode == 0, plan.stdout + plan.stderr
    # The table lists the cheapest place of each cloud, cheapest first.
    order = [
        line.split()[0]
        for line in plan.stdout.splitlines()
        if line.split() and line.split()[0] in CLOUDS
    ]
    assert sorted(order) == sorted(CLOUDS), plan.stdout
    refuse = {
        "AWS": lambda: aws_cloud.fault(
            "RunInstances", "InsufficientInstanceCapacity", http_status=500, times=-1
        ),
        "GCP": lambda: gcp_cloud.fault(
            "ZONE_RESOURCE_POOL_EXHAUSTED", times=-1, method="instances.insert"
        ),
        "Azure": lambda: azure_cloud.fault(
            "AllocationFailed", times=-1, mode="async", type="virtualMachines"
        ),
        "Lambda": lambda: lambda_cloud.fault(
            code="instance-operations/launch/insufficient-capacity",
            operation="launch",
            times=-1,
        ),
        "RunPod": lambda: runpod_cloud.fault(operation="podFindAndDeployOnDemand", times=-1),
    }
    # The two cheapest clouds have no H100s anywhere: the third gets the job.
    for name in order[:2]:
        refuse[name]()
    result = sky(
        sky_bin, env, "launch", "-y", "-c", "h8", "--gpus", "H100:8", "--", "echo ran", timeout=300
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "ran" in out, out
    for name in order[:2]:
        assert re.search(rf"Failed to provision on {name.lower()}/", out), (name, out)
    status = sky(sky_bin, env, "status")
    assert re.search(rf"\bh8\b.*{order[2]}", status.stdout), (order, status.stdout)
