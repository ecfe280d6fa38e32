"""Open ports of Kubernetes clusters with the real `sky` binary against the
real test control plane: `resources.ports` makes a LoadBalancer Service
(`<cluster>--skypilot-lb`) that the fixture's load balancer serves on a
127.0.20.x address, `sky status --endpoints` shows it, an HTTP server in the
head pod answers through it, and `sky down` deletes the Service;
`kubernetes.ports: podip` gives the head pod's IP instead, `nodeport` the
head pod's node and the Service's node port; an invalid or
unsupported `kubernetes.ports` fails before any pod is made.

The test cluster's pods share this machine's network, so the servers bind
their pod IP rather than 0.0.0.0 (which would take the port on the load
balancer's address too)."""

from __future__ import annotations

import json
import pathlib
import socket
import time
import urllib.request

import k8s_fixture
import pytest
from k8s_fixture import K8sCluster, describe, sky, wait_for_no_pods

MARKER = "served-from-the-head-pod"


@pytest.fixture
def sky_env(tmp_path: pathlib.Path, k8s_cluster: K8sCluster, sky_bin: str) -> dict:
    return k8s_fixture.sky_environment(tmp_path, k8s_cluster, sky_bin)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_task(tmp_path: pathlib.Path, port: int) -> pathlib.Path:
    site = tmp_path / "site"
    site.mkdir()
    (site / "marker.txt").write_text(MARKER + "\n")
    task = tmp_path / "serve.yaml"
    task.write_text(
        f"workdir: {site}\n"
        f"resources:\n  ports: {port}\n"
        "run: |\n"
        f'  exec python3 -m http.server {port} --bind "$(echo "$SKYPILOT_NODE_IPS" | head -n1)"\n'
    )
    return task


def fetch(address: str, deadline_s: float = 30) -> str:
    """The marker through `address`, retried while the server starts."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(f"http://{address}/marker.txt", timeout=3) as answer:
                return answer.read().decode().strip()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def services(k8s_cluster: K8sCluster, cluster: str) -> list[dict]:
    result = k8s_cluster.kubectl(
        "--context", "skycore", "get", "services", "-l", f"skypilot-cluster-name={cluster}",
        "-o", "json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["items"]


def test_loadbalancer_serves_the_port_and_down_deletes_it(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster, tmp_path: pathlib.Path
) -> None:
    port = free_port()
    task = write_task(tmp_path, port)
    launch = sky(sky_bin, sky_env, "launch", "-y", "-d", "-c", "kp1", "--infra", "k8s", str(task))
    assert launch.returncode == 0, describe(launch)
    try:
        by_name = {s["metadata"]["name"]: s for s in services(k8s_cluster, "kp1")}
        lb_name = "kp1--skypilot-lb"
        lb = by_name[lb_name]
        assert lb["spec"]["type"] == "LoadBalancer"
        assert lb["spec"]["selector"] == {
            "skypilot-cluster-name": "kp1",
            "skypilot-head-node": "1",
        }
        assert [(p["port"], p["targetPort"]) for p in lb["spec"]["ports"]] == [(port, port)]

        # The fixture's load balancer writes the address shortly after.
        deadline = time.monotonic() + 30
        while True:
            endpoints = sky(sky_bin, sky_env, "status", "--endpoints", "kp1")
            if endpoints.returncode == 0 or time.monotonic() > deadline:
                break
            assert "pending" in endpoints.stdout + endpoints.stderr, describe(endpoints)
            time.sleep(0.5)
        assert endpoints.returncode == 0, describe(endpoints)
        line = endpoints.stdout.strip()
        assert line.startswith(f"{port}: 127.0.20."), describe(endpoints)
        address = line.split(": ", 1)[1]
        assert address.endswith(f":{port}")

        one = sky(sky_bin, sky_env, "status", "--endpoint", str(port), "kp1")
        assert one.returncode == 0, describe(one)
        assert one.stdout.strip() == address

        assert fetch(address) == MARKER

        # A relaunch keeps the open ports; one that opens another adds it.
        extra = free_port()
        again = sky(
            sky_bin, sky_env, "launch", "-y", "-d", "-c", "kp1", "--infra", "k8s",
            "--", "true",
        )  # fmt: skip
        assert again.returncode == 0, describe(again)
        more = tmp_path / "more.yaml"
        more.write_text(f"resources:\n  ports: {extra}\nrun: echo more\n")
        again = sky(sky_bin, sky_env, "launch", "-y", "-d", "-c", "kp1", str(more))
        assert again.returncode == 0, describe(again)
        (lb,) = [s for s in services(k8s_cluster, "kp1") if s["metadata"]["name"] == lb_name]
        assert sorted(p["port"] for p in lb["spec"]["ports"]) == sorted([port, extra])
        both = sky(sky_bin, sky_env, "status", "--endpoints", "kp1")
        assert both.returncode == 0, describe(both)
        host = address.rsplit(":", 1)[0]
        assert both.stdout.splitlines() == [f"{p}: {host}:{p}" for p in sorted([port, extra])], (
            describe(both)
        )
        assert fetch(address) == MARKER

        closed = sky(sky_bin, sky_env, "status", "--endpoint", "1", "kp1")
        assert closed.returncode != 0
        assert "port 1 is not open on cluster 'kp1' (open: " in closed.stderr, describe(closed)
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "kp1")
    assert down.returncode == 0, describe(down)
    assert services(k8s_cluster, "kp1") == []
    assert wait_for_no_pods(k8s_cluster, "kp1", 5) == []


def test_podip_gives_the_head_pod_ip(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster, tmp_path: pathlib.Path
) -> None:
    config = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text("kubernetes:\n  ports: podip\n")
    port = free_port()
    task = write_task(tmp_path, port)
    launch = sky(sky_bin, sky_env, "launch", "-y", "-d", "-c", "kp2", "--infra", "k8s", str(task))
    assert launch.returncode == 0, describe(launch)
    try:
        pod_ip = k8s_cluster.pods("kp2")[0]["status"]["podIP"]
        assert [s["metadata"]["name"] for s in services(k8s_cluster, "kp2")] == ["kp2-nodes"]
        endpoints = sky(sky_bin, sky_env, "status", "--endpoints", "kp2")
        assert endpoints.returncode == 0, describe(endpoints)
        assert endpoints.stdout.strip() == f"{port}: {pod_ip}:{port}"
        assert "reachable only from inside the Kubernetes cluster" in endpoints.stderr
        assert fetch(f"{pod_ip}:{port}") == MARKER
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "kp2")
    assert down.returncode == 0, describe(down)


def test_nodeport_from_the_task_config_serves_on_the_node(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster, tmp_path: pathlib.Path
) -> None:
    # The task's own config.kubernetes.ports picks the mode.
    port = free_port()
    task = write_task(tmp_path, port)
    task.write_text(task.read_text() + "config:\n  kubernetes:\n    ports: nodeport\n")
    launch = sky(sky_bin, sky_env, "launch", "-y", "-d", "-c", "kp4", "--infra", "k8s", str(task))
    assert launch.returncode == 0, describe(launch)
    try:
        (service,) = [
            s for s in services(k8s_cluster, "kp4") if s["spec"].get("type") == "NodePort"
        ]
        node_port = service["spec"]["ports"][0]["nodePort"]
        host_ip = k8s_cluster.pods("kp4")[0]["status"]["hostIP"]
        endpoints = sky(sky_bin, sky_env, "status", "--endpoints", "kp4")
        assert endpoints.returncode == 0, describe(endpoints)
        assert endpoints.stdout.strip() == f"{port}: {host_ip}:{node_port}", describe(endpoints)
        assert fetch(f"{host_ip}:{node_port}") == MARKER
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "kp4")
    assert down.returncode == 0, describe(down)
    assert services(k8s_cluster, "kp4") == []


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("loadbalancr", "kubernetes.ports is 'loadbalancr'; valid values are"),
        ("ingress", "kubernetes.ports 'ingress' is not supported by skycore"),
    ],
)
def test_bad_port_mode_fails_before_any_pod(
    sky_bin: str,
    sky_env: dict,
    k8s_cluster: K8sCluster,
    tmp_path: pathlib.Path,
    value: str,
    expected: str,
) -> None:
    config = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text(f"kubernetes:\n  ports: {value}\n")
    task = write_task(tmp_path, free_port())
    launch = sky(sky_bin, sky_env, "launch", "-y", "-d", "-c", "kp3", "--infra", "k8s", str(task))
    assert launch.returncode != 0, describe(launch)
    output = launch.stdout + launch.stderr
    assert expected in output, describe(launch)
    assert str(config) in output, describe(launch)
    if value == "loadbalancr":
        assert "loadbalancer" in output.split("valid values are", 1)[1], describe(launch)
    assert k8s_cluster.pods("kp3") == []
    sky(sky_bin, sky_env, "down", "-y", "kp3")
