"""GCP end to end with the real `sky` binary against the test cloud's GCP
fake (the OAuth token endpoint and Compute Engine on loopback; every running
instance a loopback sshd node): the multi-node example, stop and start,
failover on a zone's stockout, quota blocking a region, Spot preemption seen
by `sky status -r`, the ports' firewall rule, `sky check gcp` with each
credential source, and `kill -9` of a launch followed by `sky down` leaving
nothing behind (counted through the fake's API)."""

from __future__ import annotations

import json
import os
import pathlib
import re
import signal
import subprocess
import time

import pytest
from cloud_fixture import assert_loopback_only, check_cloud, cloud_env, launch, node_user, sky
from gcp_cloud import GcpCloud
from test_aws_launch import MULTINODE


@pytest.fixture
def env(tmp_path: pathlib.Path, gcp_cloud: GcpCloud, sky_bin: str):
    """One isolated `sky` pointed at the GCP fake: its own state dir, a
    config that logs into the nodes as the fixture's user, no other cloud."""
    config = f"gcp:\n  ssh_user: {node_user(gcp_cloud)}\n"
    with cloud_env(tmp_path, sky_bin, config, gcp_cloud) as result:
        yield result


def check_gcp(sky_bin: str, env: dict) -> str:
    return check_cloud(sky_bin, env, "gcp", r"GCP.*enabled")


def instances(cloud: GcpCloud) -> list[str]:
    return list(cloud.resources()["instances"])


def zone_of(link: str) -> str:
    return link.split("/zones/")[1].split("/")[0]


# ---------------------------------------------------------------- the example


def test_multinode_example_runs_unchanged(sky_bin: str, env: dict, gcp_cloud: GcpCloud) -> None:
    check_gcp(sky_bin, env)
    result = launch(sky_bin, env, "mn", "--infra", "gcp", str(MULTINODE))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert_loopback_only(out)
    for rank in (0, 1):
        assert f"rank {rank} of 2" in out, out
    links = instances(gcp_cloud)
    assert len(links) == 2, gcp_cloud.resources()
    # SkyPilot's names and labels: <name on cloud>-<hex>-head|worker.
    names = sorted(link.rsplit("/", 1)[1] for link in links)
    assert all(name.startswith("mn-") for name in names), names
    assert sorted(name.rsplit("-", 1)[1] for name in names) == ["head", "worker"], names
    head = gcp_cloud.call("GET", links[0].split("/compute/v1/", 1)[1]).body
    assert head["labels"]["skypilot-cluster-name"].startswith("mn-"), head["labels"]
    assert gcp_cloud.resources()["firewalls"] == []
    assert gcp_cloud.control("GET", "health")["schema_drift"] == []

    status = sky(sky_bin, env, "status")
    assert re.search(r"\bmn\b.*GCP.*UP", status.stdout), status.stdout
    ex = sky(sky_bin, env, "exec", "mn", "--num-nodes", "2", "--", "echo rank=$SKYPILOT_NODE_RANK")
    assert ex.returncode == 0, ex.stdout + ex.stderr
    assert "rank=0" in ex.stdout and "rank=1" in ex.stdout, ex.stdout

    down = sky(sky_bin, env, "down", "-y", "mn")
    assert down.returncode == 0, down.stdout + down.stderr
    assert gcp_cloud.resources()["count"] == 0, gcp_cloud.resources()
    again = sky(sky_bin, env, "down", "-y", "mn")
    assert "does not exist" in again.stdout + again.stderr


def test_stop_and_start_keep_the_disk(sky_bin: str, env: dict, gcp_cloud: GcpCloud) -> None:
    check_gcp(sky_bin, env)
    result = launch(sky_bin, env, "ss", "--infra", "gcp", "--", "echo data > ~/kept.txt")
    assert result.returncode == 0, result.stdout + result.stderr
    stop = sky(sky_bin, env, "stop", "-y", "ss")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    assert gcp_cloud.count(operation="instances.stop") == 1
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\bss\b.*STOPPED", status.stdout), status.stdout
    assert [n["state"] for n in gcp_cloud.nodes()] == ["stopped"]

    start = sky(sky_bin, env, "start", "-y", "ss")
    assert start.returncode == 0, start.stdout + start.stderr
    ex = sky(sky_bin, env, "exec", "ss", "--", "cat ~/kept.txt")
    assert ex.returncode == 0 and "data" in ex.stdout, ex.stdout + ex.stderr
    assert len(instances(gcp_cloud)) == 1


def test_ports_and_labels(
    sky_bin: str, env: dict, gcp_cloud: GcpCloud, tmp_path: pathlib.Path
) -> None:
    check_gcp(sky_bin, env)
    task = tmp_path / "ports.yaml"
    task.write_text(
        "resources:\n"
        "  infra: gcp\n"
        "  ports: [8080, 9000-9001]\n"
        "  labels: {team: vision}\n"
        "run: echo served\n"
    )
    result = launch(sky_bin, env, "pt", str(task))
    assert result.returncode == 0, result.stdout + result.stderr
    firewalls = gcp_cloud.resources()["firewalls"]
    assert len(firewalls) == 1 and "/user-ports-pt-" in firewalls[0], firewalls
    rule = gcp_cloud.call("GET", firewalls[0].split("/compute/v1/", 1)[1]).body
    assert rule["allowed"] == [{"IPProtocol": "tcp", "ports": ["8080", "9000", "9001"]}], rule
    instance = gcp_cloud.call("GET", instances(gcp_cloud)[0].split("/compute/v1/", 1)[1]).body
    assert rule["targetTags"] == instance["tags"]["items"], (rule, instance["tags"])
    assert instance["labels"]["team"] == "vision", instance["labels"]
    down = sky(sky_bin, env, "down", "-y", "pt")
    assert down.returncode == 0, down.stdout + down.stderr
    assert gcp_cloud.resources()["count"] == 0, gcp_cloud.resources()


# ---------------------------------------------------------------- failover


def planned_zone(sky_bin: str, env: dict) -> str:
    """The zone the optimizer tries first for a one-CPU task."""
    gcp_cloud_probe = launch(sky_bin, env, "probe", "--infra", "gcp", "--", "true")
    assert gcp_cloud_probe.returncode == 0, gcp_cloud_probe.stdout + gcp_cloud_probe.stderr
    found = re.search(r"GCP \([a-z0-9-]+, ([a-z0-9-]+)\)", gcp_cloud_probe.stdout)
    assert found, gcp_cloud_probe.stdout
    down = sky(sky_bin, env, "down", "-y", "probe")
    assert down.returncode == 0, down.stdout + down.stderr
    return found.group(1)


def test_stockout_fails_over_to_the_next_zone(sky_bin: str, env: dict, gcp_cloud: GcpCloud) -> None:
    check_gcp(sky_bin, env)
    zone = planned_zone(sky_bin, env)
    gcp_cloud.fault("ZONE_RESOURCE_POOL_EXHAUSTED", times=-1, method="instances.insert", zone=zone)
    result = launch(sky_bin, env, "fo", "--infra", "gcp", "--", "echo placed")
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "ZONE_RESOURCE_POOL_EXHAUSTED" in out and "placed" in out, out
    left = instances(gcp_cloud)
    assert len(left) == 1 and zone_of(left[0]) != zone, left


def test_quota_blocks_the_region(sky_bin: str, env: dict, gcp_cloud: GcpCloud) -> None:
    check_gcp(sky_bin, env)
    zone = planned_zone(sky_bin, env)
    region = zone.rsplit("-", 1)[0]
    gcp_cloud.fault("QUOTA_EXCEEDED", times=-1, method="instances.insert")
    gcp_cloud.control("DELETE", "requests")  # the probe's insert
    result = launch(sky_bin, env, "qb", "--infra", f"gcp/{region}", "--", "true")
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert "QUOTA_EXCEEDED" in out and f"skipped in {region} from now on" in out, out
    # One refusal per machine series in the region (e2, n1, n2, ...), not
    # one per zone or machine type.
    inserts = gcp_cloud.count(operation="instances.insert")
    skipped = set(re.findall(rf"\[(\S+) instances skipped in {region} from now on\]", out))
    assert inserts == len(skipped) and "e2" in skipped, (inserts, skipped)
    assert gcp_cloud.resources()["count"] == 0, gcp_cloud.resources()


# ---------------------------------------------------------------- spot, crash


def test_spot_preemption_is_reported(sky_bin: str, env: dict, gcp_cloud: GcpCloud) -> None:
    check_gcp(sky_bin, env)
    result = launch(sky_bin, env, "sp", "--infra", "gcp", "--use-spot", "--", "true")
    assert result.returncode == 0, result.stdout + result.stderr
    link = instances(gcp_cloud)[0]
    gcp_cloud.preempt(link.rsplit("/", 1)[1], zone_of(link))
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\bsp\b.*STOPPED", status.stdout), status.stdout
    assert "preempted" in status.stdout, status.stdout


def test_kill_during_launch_then_down_leaves_nothing(
    sky_bin: str, env: dict, gcp_cloud: GcpCloud
) -> None:
    check_gcp(sky_bin, env)
    # Operations that end only when polled, and no blocking wait: the
    # launch is caught with instances half made.
    gcp_cloud.configure(op_polls=50, wait_finishes=False)
    process = subprocess.Popen(
        [sky_bin, "launch", "-y", "-c", "kd", "--infra", "gcp", "--num-nodes", "2", "--", "true"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(instances(gcp_cloud)) < 2:
        time.sleep(0.1)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert instances(gcp_cloud), "the launch was killed before it made anything"
    gcp_cloud.configure(op_polls=1, wait_finishes=True)
    down = sky(sky_bin, env, "down", "-y", "kd")
    assert down.returncode == 0, down.stdout + down.stderr
    assert gcp_cloud.resources()["count"] == 0, gcp_cloud.resources()


# ---------------------------------------------------------------- credentials


def test_adc_login_and_bad_key_are_named(
    sky_bin: str, env: dict, gcp_cloud: GcpCloud, tmp_path: pathlib.Path
) -> None:
    # gcloud's application-default login in $CLOUDSDK_CONFIG.
    config = tmp_path / "gcloud"
    config.mkdir()
    (config / "application_default_credentials.json").write_text(gcp_cloud.adc_file.read_text())
    login = {k: v for k, v in env.items() if k != "GOOGLE_APPLICATION_CREDENTIALS"}
    login["CLOUDSDK_CONFIG"] = str(config)
    assert "application-default login" in check_gcp(sky_bin, login)

    key = json.loads(pathlib.Path(env["GOOGLE_APPLICATION_CREDENTIALS"]).read_text())
    key["client_email"] = "nobody@elsewhere.iam.gserviceaccount.com"
    wrong = tmp_path / "wrong-key.json"
    wrong.write_text(json.dumps(key))
    bad = {**env, "GOOGLE_APPLICATION_CREDENTIALS": str(wrong)}
    check = sky(sky_bin, bad, "check", "gcp")
    assert "account not found" in check.stdout, check.stdout
    assert str(wrong) in check.stdout, check.stdout
    result = launch(sky_bin, bad, "bc", "--infra", "gcp", "--", "true")
    assert result.returncode != 0
    assert gcp_cloud.resources()["count"] == 0


def test_unknown_config_key_is_reported_with_a_close_match(
    sky_bin: str, env: dict, gcp_cloud: GcpCloud
) -> None:
    config = pathlib.Path(env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text(config.read_text() + "  vpc_nmae: default\n")
    check = sky(sky_bin, env, "check", "gcp")
    assert "vpc_nmae" in check.stdout and "vpc_name" in check.stdout, check.stdout
    assert "config.yaml:3" in check.stdout, check.stdout


# ---------------------------------------------------------------- autostop, bad input


def test_autostop_down_by_the_head_with_the_travelling_key(
    sky_bin: str, env: dict, gcp_cloud: GcpCloud
) -> None:
    """The head signs its own tokens with the service-account key it was
    given, deletes its cluster and the ports' firewall rule."""
    check_gcp(sky_bin, env)
    env = dict(env, SKYCORE_AUTOSTOP_MINUTE_S="0.5")
    result = launch(sky_bin, env, "as", "--infra", "gcp", "-i", "1", "--down", "--", "echo hi")
    assert result.returncode == 0, result.stdout + result.stderr
    path = instances(gcp_cloud)[0].split("/compute/v1/", 1)[1]
    deadline = time.monotonic() + 60
    # The fake moves an operation on when its instance is read (GCE on its
    # own): a GET each time, until the instance is gone.
    while time.monotonic() < deadline and gcp_cloud.call("GET", path).status != 404:
        time.sleep(0.5)
    assert instances(gcp_cloud) == [], "the head did not delete its cluster"
    assert gcp_cloud.count(operation="oauth2.token") >= 2  # this machine's and the head's
    status = sky(sky_bin, env, "status", "-r")
    assert not re.search(r"\bas\b", status.stdout.split("Clusters", 1)[1]), status.stdout


def test_unknown_region_is_a_clear_error(sky_bin: str, env: dict, gcp_cloud: GcpCloud) -> None:
    check_gcp(sky_bin, env)
    result = launch(sky_bin, env, "ur", "--infra", "gcp/us-central9", "--", "true")
    out = result.stdout + result.stderr
    assert result.returncode != 0
    assert "us-central9" in out and "Traceback" not in out, out
    assert gcp_cloud.resources()["count"] == 0


# ---------------------------------------------------------------- TPU VMs


def test_tpu_vm_launch_stop_start_and_down(
    sky_bin: str, env: dict, gcp_cloud: GcpCloud, tmp_path: pathlib.Path
) -> None:
    check_gcp(sky_bin, env)
    task = tmp_path / "tpu.yaml"
    task.write_text("resources:\n  accelerators: tpu-v5litepod-8\nrun: echo on a tpu\n")
    result = launch(sky_bin, env, "tp", "--infra", "gcp", str(task))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "TPU-VM" in out and "on a tpu" in out, out
    assert_loopback_only(out)
    nodes = gcp_cloud.resources()["tpu_nodes"]
    assert len(nodes) == 1 and "/locations/us-central1-a/nodes/tp-" in nodes[0], nodes
    assert instances(gcp_cloud) == []  # no GCE instance: the TPU VM is the node

    stop = sky(sky_bin, env, "stop", "-y", "tp")
    assert stop.returncode == 0, stop.stdout + stop.stderr
    status = sky(sky_bin, env, "status", "-r")
    assert re.search(r"\btp\b.*STOPPED", status.stdout), status.stdout
    start = sky(sky_bin, env, "start", "-y", "tp")
    assert start.returncode == 0, start.stdout + start.stderr
    ex = sky(sky_bin, env, "exec", "tp", "--", "echo back")
    assert ex.returncode == 0 and "back" in ex.stdout, ex.stdout + ex.stderr

    down = sky(sky_bin, env, "down", "-y", "tp")
    assert down.returncode == 0, down.stdout + down.stderr
    assert gcp_cloud.resources()["count"] == 0, gcp_cloud.resources()


def test_tpu_stockout_fails_over_to_the_next_region(
    sky_bin: str, env: dict, gcp_cloud: GcpCloud, tmp_path: pathlib.Path
) -> None:
    check_gcp(sky_bin, env)
    gcp_cloud.fault(
        "ZONE_RESOURCE_POOL_EXHAUSTED", times=-1, method="nodes.create", zone="us-central1-a"
    )
    task = tmp_path / "tpu.yaml"
    task.write_text("resources:\n  accelerators: tpu-v5litepod-8\nrun: echo placed\n")
    result = launch(sky_bin, env, "tf", "--infra", "gcp", str(task))
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert "RESOURCE_EXHAUSTED" in out and "placed" in out, out
    nodes = gcp_cloud.resources()["tpu_nodes"]
    assert len(nodes) == 1 and "/locations/europe-west4-b/" in nodes[0], nodes
