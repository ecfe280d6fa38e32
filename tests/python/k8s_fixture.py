"""The Kubernetes test control plane (scripts/k8s-test-cluster) for the tests
that launch or inspect there: one private cluster per test session (its own
SKYCORE_K8S_ROOT), always taken down, shared by every test module through the
`k8s_cluster` fixture of conftest.py (starting one takes seconds of both cores).

Context `skycore`: two nodes with 8 H100 each and two CPU nodes (a two-node
cluster's pods get different IPs); `skycore-restricted`: a user with RBAC
rights in its own namespace only; `skycore-b`: a second cluster with one
8-H100 node, to fail over to."""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest
import sshd_fixture

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "k8s-test-cluster"
UP_ARGS = ["up", "--nodes", "2x8xH100,2xcpu", "--second-cluster", "--nodes-b", "1x8xH100"]


class K8sCluster:
    def __init__(self, root: pathlib.Path, kubeconfig: pathlib.Path) -> None:
        self.root = root
        self.kubeconfig = kubeconfig
        self.kubectl_path = root / "bin" / "kubectl"

    def kubectl(self, *args: str) -> subprocess.CompletedProcess:
        env = dict(os.environ, KUBECONFIG=str(self.kubeconfig))
        return subprocess.run(
            [str(self.kubectl_path), *args],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )

    def pods(self, cluster: str, context: str = "skycore") -> list[dict]:
        """The pods labelled for a skycore cluster."""
        result = self.kubectl(
            "--context", context, "get", "pods", "-l", f"skypilot-cluster={cluster}", "-o", "json"
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)["items"]


def running_cluster() -> Iterator[K8sCluster]:
    """Starts the test cluster, yields it, and always takes it down."""
    cache = pathlib.Path(
        os.environ.get("SKYCORE_CACHE_DIR", pathlib.Path.home() / ".cache" / "skycore")
    )
    if shutil.which("go") is None and not (cache / "k8s").is_dir():
        pytest.skip("no Go toolchain and no cached fixture binary: cannot build the cluster")
    root = pathlib.Path(tempfile.mkdtemp(prefix="skyk8s"))
    env = dict(os.environ, SKYCORE_K8S_ROOT=str(root / "cluster"))
    try:
        up = subprocess.run(
            [str(SCRIPT), *UP_ARGS],
            capture_output=True,
            text=True,
            timeout=600,
            env=env,
            check=False,
        )
        if up.returncode != 0:
            pytest.skip(f"the test cluster did not start: {up.stderr[-2000:]}")
        yield K8sCluster(root / "cluster", pathlib.Path(up.stdout.strip().splitlines()[-1]))
    finally:
        subprocess.run([str(SCRIPT), "down"], env=env, timeout=300, check=False)
        # Agents a failed test left in pods run from binaries under the pods'
        # directories (the test cluster's pods are local processes).
        for pid in sshd_fixture._processes_under(root):
            sshd_fixture._kill_tree(pid)
        shutil.rmtree(root, ignore_errors=True)


def sky(sky_bin: str, env: dict, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sky_bin, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"


def sky_environment(
    tmp_path: pathlib.Path, cluster: K8sCluster, sky_bin: str, check: bool = True
) -> dict:
    """The environment of one isolated `sky` (its own state directory) that
    reaches the test cluster; with `check`, after `sky check kubernetes`."""
    state = tmp_path / "state"
    state.mkdir()
    env = dict(os.environ)
    # The tests' own process may run in a pod; the tests' `sky` must not.
    for name in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        env.pop(name, None)
    env.update(
        SKYCORE_STATE_DIR=str(state),
        KUBECONFIG=str(cluster.kubeconfig),
        CI="true",
        SKYCORE_BIN_DIR=str(pathlib.Path(sky_bin).resolve().parent),
    )
    if check:
        checked = sky(sky_bin, env, "check", "kubernetes")
        assert checked.returncode == 0, describe(checked)
    return env


def wait_for_no_pods(cluster: K8sCluster, name: str, deadline_s: float = 30) -> list:
    """The pods of skycore cluster `name` left after waiting up to deadline_s."""
    deadline = time.monotonic() + deadline_s
    while True:
        pods = cluster.pods(name)
        if not pods or time.monotonic() > deadline:
            return pods
        time.sleep(0.2)
