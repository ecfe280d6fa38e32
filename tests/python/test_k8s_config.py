"""The `kubernetes:` config as a launch applies it, with the real `sky` binary
against the test control plane: a task's own `config.kubernetes` merged over
~/.sky/config.yaml (read back from the API server), `remote_identity` as the
pods' service account, `image_id` as the pods' image and a pull failure named,
`autoscaler` waiting for a node instead of failing over, and fractional GPUs
refused on Kubernetes."""

from __future__ import annotations

import json
import pathlib
import threading
import time

import k8s_fixture
import pytest
from k8s_fixture import K8sCluster, describe, sky, wait_for_no_pods


@pytest.fixture
def sky_env(tmp_path: pathlib.Path, k8s_cluster: K8sCluster, sky_bin: str) -> dict:
    return k8s_fixture.sky_environment(tmp_path, k8s_cluster, sky_bin)


def write_config(env: dict, text: str) -> None:
    (pathlib.Path(env["SKYCORE_STATE_DIR"]) / "config.yaml").write_text(text)


def test_task_config_overrides_and_service_account(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster, tmp_path: pathlib.Path
) -> None:
    created = k8s_cluster.kubectl("create", "serviceaccount", "trainer")
    assert created.returncode == 0 or "AlreadyExists" in created.stderr, created.stderr
    write_config(
        sky_env,
        "kubernetes:\n"
        "  provision_timeout: 30\n"
        "  pod_config:\n"
        "    metadata: {labels: {team: vision}}\n",
    )
    task = tmp_path / "task.yaml"
    task.write_text(
        "resources:\n"
        "  infra: k8s/skycore\n"
        "config:\n"
        "  kubernetes:\n"
        "    remote_identity: trainer\n"
        "    pod_config:\n"
        "      metadata: {labels: {from-task: 'yes'}}\n"
        "      spec:\n"
        "        containers: [{env: [{name: GREETING, value: from-the-task}]}]\n"
        "run: echo $GREETING\n"
    )
    launch = sky(sky_bin, sky_env, "launch", "-y", "-c", "kc1", str(task))
    try:
        assert launch.returncode == 0, describe(launch)
        assert "from-the-task" in launch.stdout.splitlines(), describe(launch)
        [pod] = k8s_cluster.pods("kc1")
        assert pod["metadata"]["labels"]["team"] == "vision"  # the file's
        assert pod["metadata"]["labels"]["from-task"] == "yes"  # the task's
        assert pod["spec"]["serviceAccountName"] == "trainer"
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "kc1")
        assert down.returncode == 0, describe(down)


def test_config_typo_is_named_before_anything_is_created(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    write_config(sky_env, "kubernetes:\n  provison_timeout: 30\n")
    launch = sky(sky_bin, sky_env, "launch", "-y", "-c", "kc2", "--infra", "k8s", "--", "true")
    assert launch.returncode != 0, describe(launch)
    assert "unknown field kubernetes.provison_timeout" in launch.stderr, describe(launch)
    assert "provision_timeout" in launch.stderr.split("Did you mean", 1)[-1], describe(launch)
    assert "Traceback" not in launch.stderr
    assert k8s_cluster.pods("kc2") == []
    sky(sky_bin, sky_env, "down", "-y", "kc2")


def test_image_that_cannot_be_pulled_is_named(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    # The test cluster cannot resolve registries in the reserved .invalid domain.
    image = "registry.skycore.invalid/team/app:1"
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-c", "kc3", "--infra", "k8s/skycore",
        "--image-id", f"docker:{image}", "--", "true",
    )  # fmt: skip
    try:
        assert launch.returncode != 0, describe(launch)
        err = launch.stderr
        assert f"cannot pull its image '{image}'" in err, describe(launch)
        assert "ErrImagePull" in err or "ImagePullBackOff" in err, describe(launch)
        assert "Traceback" not in err
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "kc3")
        assert down.returncode == 0, describe(down)
        assert wait_for_no_pods(k8s_cluster, "kc3", 10) == []


def test_fractional_gpus_are_refused(sky_bin: str, sky_env: dict) -> None:
    dry = sky(
        sky_bin, sky_env, "launch", "--dryrun", "--infra", "k8s", "--gpus", "H100:0.5",
        "--", "nvidia-smi",
    )  # fmt: skip
    assert dry.returncode != 0, describe(dry)
    assert "Kubernetes does not support fractional GPUs (H100:0.5)" in dry.stderr, describe(dry)
    assert "H100:1" in dry.stderr, describe(dry)  # the nearest whole ask


def cpu_node(k8s_cluster: K8sCluster) -> str:
    nodes = json.loads(k8s_cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"]
    for node in nodes:
        labels = node["metadata"].get("labels", {})
        if "nvidia.com/gpu.product" not in labels and "skycore.dev/scale-node" not in labels:
            return node["metadata"]["name"]
    raise AssertionError("the test cluster has no CPU node")


def test_autoscaler_waits_for_a_node(sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster) -> None:
    # No node carries pool=late until, a few seconds into the launch, one is
    # labelled as an autoscaler's new node would be.
    write_config(
        sky_env,
        "kubernetes:\n"
        "  autoscaler: generic\n"
        "  provision_timeout: 90\n"
        "  pod_config: {spec: {nodeSelector: {pool: late}}}\n",
    )
    node = cpu_node(k8s_cluster)
    timer = threading.Timer(3, lambda: k8s_cluster.kubectl("label", "node", node, "pool=late"))
    timer.start()
    try:
        started = time.monotonic()
        launch = sky(sky_bin, sky_env, "launch", "-y", "-c", "kc4", "--infra", "k8s/skycore",
                     "--", "echo on-the-new-node")  # fmt: skip
        assert launch.returncode == 0, describe(launch)
        assert time.monotonic() - started >= 3
        assert "waiting up to 90 s for the generic autoscaler" in launch.stdout + launch.stderr
        assert "on-the-new-node" in launch.stdout.splitlines(), describe(launch)
        [pod] = k8s_cluster.pods("kc4")
        assert pod["spec"]["nodeName"] == node
    finally:
        timer.cancel()
        sky(sky_bin, sky_env, "down", "-y", "kc4")
        k8s_cluster.kubectl("label", "node", node, "pool-")


def test_autoscaler_gives_up_after_provision_timeout(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    write_config(
        sky_env,
        "kubernetes:\n"
        "  autoscaler: gke\n"
        "  provision_timeout: 2\n"
        "  pod_config: {spec: {nodeSelector: {pool: never}}}\n",
    )
    launch = sky(sky_bin, sky_env, "launch", "-y", "-c", "kc5", "--infra", "k8s/skycore",
                 "--", "true")  # fmt: skip
    try:
        assert launch.returncode != 0, describe(launch)
        err = launch.stderr
        assert "did not start running within 2 s" in err, describe(launch)
        assert "FailedScheduling" in err, describe(launch)
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "kc5")
        assert down.returncode == 0, describe(down)


def test_rbac_forbidden_launch_names_user_verb_resource_and_namespace(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    # The restricted user may read nodes and pods cluster-wide (so the
    # context has an inventory) but create pods only in its own namespace;
    # the config sends its pods to "default".
    for args in (
        ("create", "clusterrole", "skycore-node-reader", "--verb=get,list",
         "--resource=nodes,pods"),
        ("create", "clusterrolebinding", "skycore-node-reader", "--clusterrole=skycore-node-reader",
         "--user=skycore-restricted"),
    ):  # fmt: skip
        made = k8s_cluster.kubectl(*args)
        assert made.returncode == 0 or "AlreadyExists" in made.stderr, made.stderr
    try:
        write_config(
            sky_env,
            "kubernetes:\n"
            "  allowed_contexts: [skycore-restricted]\n"
            "  context_configs:\n"
            "    skycore-restricted: {namespace: default}\n",
        )
        check = sky(sky_bin, sky_env, "check", "kubernetes")
        assert check.returncode == 0, describe(check)
        launch = sky(sky_bin, sky_env, "launch", "-y", "-c", "kc6", "--infra",
                     "k8s/skycore-restricted", "--", "true")  # fmt: skip
        assert launch.returncode != 0, describe(launch)
        err = launch.stderr
        # (The cluster's headless Service is the first object created.)
        assert (
            "user 'skycore-restricted' is not allowed to create services in namespace 'default'"
            in err
        ), describe(launch)
        assert "HTTP 403 Forbidden" in err, describe(launch)
        assert "Traceback" not in err
        down = sky(sky_bin, sky_env, "down", "-y", "kc6")
        assert down.returncode == 0, describe(down)
    finally:
        k8s_cluster.kubectl("delete", "clusterrolebinding", "skycore-node-reader")
        k8s_cluster.kubectl("delete", "clusterrole", "skycore-node-reader")
