"""Kubernetes inventory with the real `sky` binary against the real test
control plane (scripts/k8s-test-cluster): `sky check kubernetes`, `sky
show-gpus --infra k8s` (free GPUs drop when a pod requests some), RBAC and
unreachable-server errors, and planning there (launching: test_k8s_launch.py)."""

from __future__ import annotations

import pathlib
import re
import time

import k8s_fixture
import pytest
from k8s_fixture import K8sCluster, sky


@pytest.fixture
def sky_env(tmp_path: pathlib.Path, k8s_cluster: K8sCluster, sky_bin: str) -> dict:
    # No `sky check` first: what it does is under test here.
    return k8s_fixture.sky_environment(tmp_path, k8s_cluster, sky_bin, check=False)


def utilization(output: str, gpu: str) -> tuple[int, int]:
    """(free, total) of the summary row of `gpu` in show-gpus output."""
    match = re.search(rf"^{gpu}\s+[\d, ]+\s+(\d+) of (\d+) free$", output, re.MULTILINE)
    assert match, output
    return int(match.group(1)), int(match.group(2))


def test_check_kubernetes_enabled(sky_bin: str, sky_env: dict) -> None:
    result = sky(sky_bin, sky_env, "check", "kubernetes")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "Kubernetes: enabled" in out, out
    assert "context 'skycore': 4 of 4 nodes ready" in out, out
    assert "16 H100 (16 free)" in out, out
    inventory = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "kubernetes" / "inventory.json"
    assert inventory.exists()


def test_show_gpus_free_drops_after_pod(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    before = sky(sky_bin, sky_env, "show-gpus", "--infra", "k8s")
    assert before.returncode == 0, before.stdout + before.stderr
    assert "Kubernetes GPUs" in before.stdout
    assert "Context: skycore" in before.stdout
    assert utilization(before.stdout, "H100") == (16, 16)
    assert re.search(r"^H100\s+1, 2, 4, 8\s", before.stdout, re.MULTILINE), before.stdout
    assert "Kubernetes per-node GPU availability" in before.stdout
    assert len(re.findall(r"^skycore\s+\S+\s+H100\s+8 of 8 free$", before.stdout, re.M)) == 2

    overrides = (
        '{"spec":{"tolerations":[{"key":"nvidia.com/gpu","operator":"Exists"}],'
        '"containers":[{"name":"gpu-user","image":"busybox","command":["sleep","600"],'
        '"resources":{"requests":{"nvidia.com/gpu":"2"},"limits":{"nvidia.com/gpu":"2"}}}]}}'
    )
    run = k8s_cluster.kubectl(
        "run", "gpu-user", "--image=busybox", "--restart=Never", f"--overrides={overrides}"
    )
    assert run.returncode == 0, run.stderr
    try:
        # Free drops once the scheduler has bound the pod to a node.
        deadline = time.monotonic() + 60
        while True:
            after = sky(sky_bin, sky_env, "show-gpus", "--infra", "k8s")
            assert after.returncode == 0, after.stdout + after.stderr
            if utilization(after.stdout, "H100") == (14, 16) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert utilization(after.stdout, "H100") == (14, 16), after.stdout
        assert re.search(r"^skycore\s+\S+\s+H100\s+6 of 8 free$", after.stdout, re.M)
    finally:
        k8s_cluster.kubectl("delete", "pod", "gpu-user", "--now", "--wait=false")


def test_restricted_context_gets_rbac_message(sky_bin: str, sky_env: dict) -> None:
    result = sky(sky_bin, sky_env, "show-gpus", "--infra", "k8s/skycore-restricted")
    assert result.returncode != 0
    err = result.stderr
    assert "user 'skycore-restricted' is not allowed to list nodes cluster-wide" in err, err
    assert "GET /api/v1/nodes" in err, err
    assert "HTTP 403 Forbidden" in err and "RBAC" in err, err
    assert "namespace is 'skycore-restricted'" in err, err
    assert "Traceback" not in err


def test_unreachable_server(sky_bin: str, sky_env: dict, tmp_path: pathlib.Path) -> None:
    text = pathlib.Path(sky_env["KUBECONFIG"]).read_text()
    bad = re.sub(r"server: https://127\.0\.0\.1:\d+", "server: https://127.0.0.1:1", text)
    assert bad != text
    path = tmp_path / "bad-kubeconfig"
    path.write_text(bad)
    env = dict(sky_env, KUBECONFIG=str(path))
    result = sky(sky_bin, env, "check", "kubernetes")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Kubernetes: disabled" in result.stdout, result.stdout
    assert "https://127.0.0.1:1 is unreachable" in result.stdout, result.stdout
    shown = sky(sky_bin, env, "show-gpus", "--infra", "k8s")
    assert shown.returncode != 0
    assert "is unreachable" in shown.stderr, shown.stderr


def test_dryrun_plans_on_kubernetes(sky_bin: str, sky_env: dict) -> None:
    check = sky(sky_bin, sky_env, "check", "kubernetes")
    assert check.returncode == 0, check.stdout + check.stderr
    dry = sky(sky_bin, sky_env, "launch", "--dryrun", "--gpus", "H100:2", "--", "nvidia-smi")
    assert dry.returncode == 0, dry.stdout + dry.stderr
    assert "kubernetes" in dry.stdout.lower(), dry.stdout


def test_allowed_contexts_each_get_a_reason(sky_bin: str, sky_env: dict) -> None:
    config = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text("kubernetes:\n  allowed_contexts: [skycore, skycore-restricted]\n")
    result = sky(sky_bin, sky_env, "check", "kubernetes")
    out = result.stdout
    assert result.returncode == 0, out + result.stderr  # one context answers
    assert "Kubernetes: enabled" in out, out
    assert "context 'skycore': 4 of 4 nodes ready" in out, out
    assert "Kubernetes context 'skycore-restricted': user 'skycore-restricted'" in out, out
    shown = sky(sky_bin, sky_env, "show-gpus", "--infra", "k8s")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    assert utilization(shown.stdout, "H100") == (16, 16)
    assert "sky: warning: Kubernetes context 'skycore-restricted'" in shown.stderr, shown.stderr

    config.write_text("kubernetes:\n  allowed_contexts: skycore\n")
    bad = sky(sky_bin, sky_env, "check", "kubernetes")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert f"{config}: kubernetes.allowed_contexts must be a list of context names (or all)" in (
        bad.stdout
    )

    config.write_text("kubernetes:\n  allowed_contexts: all\n")
    every = sky(sky_bin, sky_env, "check", "kubernetes")
    assert every.returncode == 0, every.stdout + every.stderr
    for context in ("skycore", "skycore-b"):
        assert f"context '{context}':" in every.stdout, every.stdout
    assert "Kubernetes context 'skycore-restricted'" in every.stdout, every.stdout
