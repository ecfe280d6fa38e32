"""What a pod asks of Kubernetes, read back from the test control plane's API
server (scripts/k8s-test-cluster) after a real `sky launch`: every pod
requests the virtual instance type its task was planned on, sized as
SkyPilot 0.14.1 sizes it (2 CPUs and 1 GB per CPU by default; 4 CPUs and 4 GB
per CPU for each GPU; `N+` taken as N), GPUs also limited and nothing else;
`sky status` and the optimizer's table name that type; and a namespace whose
ResourceQuota requires requests admits the pods."""

from __future__ import annotations

import pathlib
import time

import k8s_fixture
import pytest
from k8s_fixture import K8sCluster, describe, sky


@pytest.fixture
def sky_env(tmp_path: pathlib.Path, k8s_cluster: K8sCluster, sky_bin: str) -> dict:
    return k8s_fixture.sky_environment(tmp_path, k8s_cluster, sky_bin)


# (resources of the task, its instance type, the pod's requests, its limits)
CASES = [
    ("{infra: k8s/skycore}", "2CPU--2GB", {"cpu": "2", "memory": "2G"}, {}),
    ("{infra: k8s/skycore, cpus: 2}", "2CPU--2GB", {"cpu": "2", "memory": "2G"}, {}),
    ("{infra: k8s/skycore, cpus: 2+}", "2CPU--2GB", {"cpu": "2", "memory": "2G"}, {}),
    ("{infra: k8s/skycore, memory: 16}", "2CPU--16GB", {"cpu": "2", "memory": "16G"}, {}),
    (
        "{infra: k8s/skycore, accelerators: H100:1}",
        "4CPU--16GB--H100:1",
        {"cpu": "4", "memory": "16G", "nvidia.com/gpu": "1"},
        {"nvidia.com/gpu": "1"},
    ),
    (
        "{infra: k8s/skycore, instance_type: 4CPU--16GB}",
        "4CPU--16GB",
        {"cpu": "4", "memory": "16G"},
        {},
    ),
]


def resources_of(cluster: K8sCluster, name: str) -> dict:
    [pod] = cluster.pods(name)
    return pod["spec"]["containers"][0]["resources"]


@pytest.mark.parametrize(("resources", "instance_type", "requests", "limits"), CASES)
def test_pod_requests_what_the_task_asks(
    sky_bin: str,
    sky_env: dict,
    k8s_cluster: K8sCluster,
    tmp_path: pathlib.Path,
    resources: str,
    instance_type: str,
    requests: dict,
    limits: dict,
) -> None:
    task = tmp_path / "task.yaml"
    task.write_text(f"resources: {resources}\nrun: echo ran\n")
    dry = sky(sky_bin, sky_env, "launch", "--dryrun", str(task))
    assert dry.returncode == 0, describe(dry)
    assert instance_type in dry.stdout, describe(dry)
    name = f"kr{CASES.index((resources, instance_type, requests, limits))}"
    launch = sky(sky_bin, sky_env, "launch", "-y", "-c", name, str(task))
    try:
        assert launch.returncode == 0, describe(launch)
        assert "ran" in launch.stdout.splitlines(), describe(launch)
        got = resources_of(k8s_cluster, name)
        assert got.get("requests", {}) == requests, got
        assert got.get("limits", {}) == limits, got
        status = sky(sky_bin, sky_env, "status")
        assert status.returncode == 0, describe(status)
        [row] = [line for line in status.stdout.splitlines() if line.startswith(name + " ")]
        assert instance_type in row, status.stdout
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", name)
        assert down.returncode == 0, describe(down)


def test_set_pod_resource_limits_gives_guaranteed_pods(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    config = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text("kubernetes:\n  set_pod_resource_limits: true\n")
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-c", "krl", "--infra", "k8s/skycore", "--cpus", "1",
        "--", "echo ran",
    )  # fmt: skip
    try:
        assert launch.returncode == 0, describe(launch)
        got = resources_of(k8s_cluster, "krl")
        assert got["requests"] == {"cpu": "1", "memory": "1G"}, got
        assert got["limits"] == {"cpu": "1", "memory": "1G"}, got
        [pod] = k8s_cluster.pods("krl")
        assert pod["status"]["qosClass"] == "Guaranteed", pod["status"]
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "krl")
        assert down.returncode == 0, describe(down)


def test_namespace_with_a_resource_quota_admits_the_pods(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    # A shared cluster's namespace: every pod must request CPU and memory
    # (the quota admission refuses a pod without requests).
    namespace = "quota-team"
    created = k8s_cluster.kubectl("create", "namespace", namespace)
    assert created.returncode == 0 or "AlreadyExists" in created.stderr, created.stderr
    quota = k8s_cluster.kubectl(
        "-n", namespace, "create", "quota", "team",
        "--hard=requests.cpu=8,requests.memory=32Gi,requests.nvidia.com/gpu=2",
    )  # fmt: skip
    assert quota.returncode == 0 or "AlreadyExists" in quota.stderr, quota.stderr
    # The quota admission plugin refuses pods while the quota's usage is not
    # computed yet, and pods need the namespace's default service account.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        used = k8s_cluster.kubectl("-n", namespace, "get", "quota", "team", "-o", "json")
        account = k8s_cluster.kubectl("-n", namespace, "get", "serviceaccount", "default")
        if '"used"' in used.stdout and account.returncode == 0:
            break
        time.sleep(0.2)
    # The quota does refuse a pod without requests (a BestEffort pod).
    bare = k8s_cluster.kubectl(
        "-n", namespace, "run", "bare", "--image=busybox", "--restart=Never", "--", "true"
    )
    assert bare.returncode != 0 and "must specify" in bare.stderr, bare.stderr
    config = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text(f"kubernetes:\n  namespace: {namespace}\n")
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-c", "krq", "--infra", "k8s/skycore",
        "--", "echo ran",
    )  # fmt: skip
    try:
        assert launch.returncode == 0, describe(launch)
        assert "ran" in launch.stdout.splitlines(), describe(launch)
        pods = k8s_cluster.kubectl(
            "-n", namespace, "get", "pods", "-l", "skypilot-cluster=krq", "-o",
            "jsonpath={.items[0].spec.containers[0].resources.requests}",
        )  # fmt: skip
        assert pods.returncode == 0, pods.stderr
        assert '"cpu":"2"' in pods.stdout and '"memory":"2G"' in pods.stdout, pods.stdout
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "krq")
        assert down.returncode == 0, describe(down)
