"""Launching on Kubernetes with the real `sky` binary against the real test
control plane (scripts/k8s-test-cluster): pods created and labelled, the
agent copied in and reached over exec, jobs run, pod_config merged (read
back from the API server), a GPU ask the scheduler cannot place, `sky stop`
refused, `sky status -r` and `sky down` reconciling with the API server;
multi-node clusters (one pod per node, worker ranks started by the head's
agent through the workers' exec) and a worker pod deleted mid-job."""

from __future__ import annotations

import json
import os
import pathlib
import time

import k8s_fixture
import pytest
import sshd_fixture
from k8s_fixture import REPO, K8sCluster, describe, sky, wait_for_no_pods


@pytest.fixture
def sky_env(tmp_path: pathlib.Path, k8s_cluster: K8sCluster, sky_bin: str) -> dict:
    return k8s_fixture.sky_environment(tmp_path, k8s_cluster, sky_bin)


def test_launch_exec_and_down(sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster) -> None:
    launch = sky(sky_bin, sky_env, "launch", "-y", "-c", "kl1", "--infra", "k8s", "--", "echo hi")
    assert launch.returncode == 0, describe(launch)
    assert "hi" in launch.stdout.splitlines(), describe(launch)
    pods = k8s_cluster.pods("kl1")
    assert [pod["metadata"]["name"] for pod in pods] == ["kl1-head"]
    labels = pods[0]["metadata"]["labels"]
    assert labels["skypilot-cluster-name"] == "kl1"
    assert "skypilot-user" in labels
    assert pods[0]["status"]["phase"] == "Running"

    status = sky(sky_bin, sky_env, "status")
    assert status.returncode == 0, describe(status)
    assert "kl1" in status.stdout and "UP" in status.stdout, status.stdout

    started = time.monotonic()
    run = sky(sky_bin, sky_env, "exec", "kl1", "--", "echo from-exec; echo $SKYPILOT_NODE_IPS")
    elapsed = time.monotonic() - started
    assert run.returncode == 0, describe(run)
    assert "from-exec" in run.stdout, describe(run)
    assert pods[0]["status"]["podIP"] in run.stdout, describe(run)
    print(f"sky exec (following the job to the end): {elapsed * 1000:.0f} ms")

    stop = sky(sky_bin, sky_env, "stop", "-y", "kl1")
    assert stop.returncode != 0
    assert "sky stop is not supported for Kubernetes clusters" in stop.stdout + stop.stderr, (
        describe(stop)
    )

    down = sky(sky_bin, sky_env, "down", "-y", "kl1")
    assert down.returncode == 0, describe(down)
    assert wait_for_no_pods(k8s_cluster, "kl1", 1) == []


def test_exec_detached_reaches_running_fast(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    launch = sky(sky_bin, sky_env, "launch", "-y", "-c", "kl2", "--infra", "k8s", "--", "true")
    assert launch.returncode == 0, describe(launch)
    try:
        timings = []
        for _ in range(3):
            started = time.monotonic()
            run = sky(sky_bin, sky_env, "exec", "kl2", "-d", "--", "sleep 30")
            timings.append(time.monotonic() - started)
            assert run.returncode == 0, describe(run)
        queue = sky(sky_bin, sky_env, "queue", "kl2")
        assert queue.returncode == 0, describe(queue)
        assert "RUNNING" in queue.stdout, queue.stdout
        print(f"sky exec -d on an UP Kubernetes cluster: {[round(t * 1000) for t in timings]} ms")
        assert min(timings) < 1.0, timings
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "kl2")
        assert down.returncode == 0, describe(down)


def test_pod_config_is_merged_into_the_pod(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    config = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text(
        "kubernetes:\n"
        "  pod_config:\n"
        "    metadata:\n"
        "      labels: {team: vision}\n"
        "      annotations: {example.com/owner: alice}\n"
        "    spec:\n"
        "      containers:\n"
        "        - env: [{name: FROM_POD_CONFIG, value: merged}]\n"
    )
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-c", "kl3", "--infra", "k8s",
        "--", "echo $FROM_POD_CONFIG",
    )  # fmt: skip
    try:
        assert launch.returncode == 0, describe(launch)
        pods = k8s_cluster.pods("kl3")
        assert len(pods) == 1
        pod = pods[0]
        assert pod["metadata"]["labels"]["team"] == "vision"
        assert pod["metadata"]["labels"]["skypilot-cluster"] == "kl3"
        assert pod["metadata"]["annotations"]["example.com/owner"] == "alice"
        container = pod["spec"]["containers"][0]
        assert {"name": "FROM_POD_CONFIG", "value": "merged"} in container["env"]
        assert container["command"][0] == "/bin/sh"  # ours, merged into, not replaced
        assert "merged" in launch.stdout.splitlines(), describe(launch)
    finally:
        sky(sky_bin, sky_env, "down", "-y", "kl3")


def take_gpus(k8s_cluster: K8sCluster, count: int) -> list[str]:
    """Someone else's pods take `count` H100 on each H100 node of context skycore."""
    names = []
    for node in ("skycore-h100-0", "skycore-h100-1"):
        overrides = json.dumps(
            {
                "spec": {
                    "nodeName": node,
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                    "containers": [
                        {
                            "name": "gpu-user",
                            "image": "busybox",
                            "command": ["sleep", "600"],
                            "resources": {
                                "requests": {"nvidia.com/gpu": str(count)},
                                "limits": {"nvidia.com/gpu": str(count)},
                            },
                        }
                    ],
                }
            }
        )
        name = f"gpu-user-{node[-1]}"
        run = k8s_cluster.kubectl(
            "run", name, "--image=busybox", "--restart=Never", f"--overrides={overrides}"
        )
        assert run.returncode == 0, run.stderr
        names.append(name)
    return names


def test_gpus_beyond_capacity_fail_scheduling(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    # The inventory says 8 H100 free per node; someone else's pod takes 2 of
    # them on each node after it was taken, so the scheduler, not the
    # optimizer, is the one to say no.
    names = take_gpus(k8s_cluster, 2)
    try:
        launch = sky(
            sky_bin, sky_env, "launch", "-y", "-c", "kl4", "--infra", "k8s", "--gpus", "H100:8",
            "--", "nvidia-smi",
        )  # fmt: skip
        assert launch.returncode != 0, describe(launch)
        err = launch.stderr
        assert "Kubernetes context 'skycore' has no node for pod kl4-head" in err, err
        assert "FailedScheduling" in err and "Insufficient nvidia.com/gpu" in err, err
        assert "Traceback" not in err
        # The half-launched cluster is still cleaned up by `sky down`.
        down = sky(sky_bin, sky_env, "down", "-y", "kl4")
        assert down.returncode == 0, describe(down)
        assert wait_for_no_pods(k8s_cluster, "kl4", 1) == []
    finally:
        for name in names:
            k8s_cluster.kubectl("delete", "pod", name, "--now", "--wait=false")


def test_status_refresh_sees_deleted_pods(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    launch = sky(sky_bin, sky_env, "launch", "-y", "-c", "kl5", "--infra", "k8s", "--", "true")
    assert launch.returncode == 0, describe(launch)
    deleted = k8s_cluster.kubectl("delete", "pod", "kl5-head", "--now")
    assert deleted.returncode == 0, deleted.stderr
    run = sky(sky_bin, sky_env, "exec", "kl5", "--", "true")
    assert run.returncode != 0, describe(run)
    assert "its head pod kl5-head is gone" in run.stderr, describe(run)
    status = sky(sky_bin, sky_env, "status", "-r")
    assert status.returncode == 0, describe(status)
    assert "kl5" not in status.stdout, status.stdout
    assert k8s_cluster.pods("kl5") == []


def test_workdir_relaunch_and_log_sync_down(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster, tmp_path: pathlib.Path
) -> None:
    workdir = tmp_path / "work"
    (workdir / "sub").mkdir(parents=True)
    (workdir / "sub" / "file.txt").write_text("content-1\n")
    args = ("launch", "-y", "-c", "kl6", "--workdir", str(workdir), "--", "cat sub/file.txt")
    first = sky(sky_bin, sky_env, *args[:4], "--infra", "k8s", *args[4:])
    try:
        assert first.returncode == 0, describe(first)
        assert "content-1" in first.stdout.splitlines(), describe(first)
        # A second launch reuses the pod and its agent, and syncs the workdir again.
        (workdir / "sub" / "file.txt").write_text("content-2\n")
        second = sky(sky_bin, sky_env, *args)
        assert second.returncode == 0, describe(second)
        assert "content-2" in second.stdout.splitlines(), describe(second)
        assert "Installing the agent" not in second.stderr, describe(second)
        assert len(k8s_cluster.pods("kl6")) == 1
        home = tmp_path / "home"
        home.mkdir()
        synced = sky(sky_bin, dict(sky_env, HOME=str(home)), "logs", "--sync-down", "kl6", "1")
        assert synced.returncode == 0, describe(synced)
        logs = list((home / "sky_logs" / "kl6").rglob("run.log"))
        assert logs and "content-1" in logs[0].read_text(), describe(synced)
    finally:
        sky(sky_bin, sky_env, "down", "-y", "kl6")


def test_provision_timeout_names_what_the_pod_waits_for(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    # An init container that outlasts kubernetes.provision_timeout keeps the
    # pod Pending.
    config = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text(
        "kubernetes:\n"
        "  provision_timeout: 1\n"
        "  pod_config:\n"
        "    spec:\n"
        "      initContainers:\n"
        "        - {name: slow-init, image: busybox, command: [sleep, '60']}\n"
    )
    started = time.monotonic()
    launch = sky(sky_bin, sky_env, "launch", "-y", "-c", "kl7", "--infra", "k8s", "--", "true")
    try:
        assert launch.returncode != 0, describe(launch)
        assert time.monotonic() - started < 30
        err = launch.stderr
        assert "pod of cluster 'kl7' did not start running within 1 s" in err, err
        assert "kubernetes.provision_timeout" in err and "kl7-head (on node " in err, err
        assert "init container slow-init running" in err, err
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "kl7")
        assert down.returncode == 0, describe(down)
        assert wait_for_no_pods(k8s_cluster, "kl7", 1) == []


def agent_processes(k8s_cluster: K8sCluster, cluster: str) -> list[int]:
    """The agent of `cluster` (and its `skyletd kexec` clients): they run from
    the binary in the head pod's directory."""
    found = []
    for pid in sshd_fixture._processes_under(k8s_cluster.root):
        try:
            argv0 = pathlib.Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0", 1)[0]
        except OSError:
            continue
        if b"/bin/skyletd-" in argv0 and f"_{cluster}-head_".encode() in argv0:
            found.append(pid)
    return found


def processes_with(text: str) -> list[int]:
    found = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline:
            found.append(int(entry.name))
    return found


def wait_until(predicate, deadline_s: float = 30):
    deadline = time.monotonic() + deadline_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def job_status(sky_bin: str, sky_env: dict, cluster: str, job_id: int) -> str:
    queue = sky(sky_bin, sky_env, "queue", cluster)
    for line in queue.stdout.splitlines():
        fields = line.split()
        if fields and fields[0] == str(job_id):
            for status in ("FAILED_DRIVER", "SUCCEEDED", "RUNNING", "PENDING", "FAILED"):
                if status in fields:
                    return status
    return ""


def test_multi_node_example_exec_and_worker_loss(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster, tmp_path: pathlib.Path
) -> None:
    started = time.monotonic()
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-c", "km1", "--infra", "k8s",
        str(REPO / "examples" / "multi_node.yaml"),
    )  # fmt: skip
    launch_s = time.monotonic() - started
    try:
        assert launch.returncode == 0, describe(launch)
        pods = {pod["metadata"]["name"]: pod for pod in k8s_cluster.pods("km1")}
        assert sorted(pods) == ["km1-head", "km1-worker1"], describe(launch)
        for pod in pods.values():
            assert pod["metadata"]["labels"]["skypilot-cluster-name"] == "km1"
            assert pod["status"]["phase"] == "Running"
        ips = [pods["km1-head"]["status"]["podIP"], pods["km1-worker1"]["status"]["podIP"]]
        assert ips[0] != ips[1], ips  # the headless service spreads the pods
        service = k8s_cluster.kubectl("get", "service", "km1-nodes", "-o", "json")
        assert service.returncode == 0, service.stderr
        assert json.loads(service.stdout)["spec"]["clusterIP"] == "None"
        # "(head, rank=0, pid=...) rank 0 of 2 on ...": one line per rank.
        ranks = [line for line in launch.stdout.splitlines() if " of 2 on " in line]
        assert len(ranks) == 2, describe(launch)
        for rank, name in enumerate(("head", "worker1")):
            line = next(line for line in ranks if f"rank {rank} of 2 on " in line)
            assert line.startswith(f"({name}, rank={rank}, "), line
            assert f"node IPs: {ips[0]} {ips[1]}; head is {ips[0]}" in line, line
        print(f"2-node Kubernetes launch, all ranks done: {launch_s:.1f} s")

        # Every pod gets the workdir; exec runs a rank on each.
        workdir = tmp_path / "work"
        workdir.mkdir()
        (workdir / "data.txt").write_text("shared-content\n")
        run = sky(
            sky_bin, sky_env, "exec", "km1", "--num-nodes", "2", "--workdir", str(workdir),
            "--", "echo exec-rank-$SKYPILOT_NODE_RANK $(cat data.txt) $SKYPILOT_NODE_IPS",
        )  # fmt: skip
        assert run.returncode == 0, describe(run)
        for rank in (0, 1):
            assert f"exec-rank-{rank} shared-content {ips[0]} {ips[1]}" in run.stdout, describe(run)

        # A worker pod deleted mid-job: the job fails as a driver failure and
        # the head's rank is stopped too.
        marker = f"km1-mid-job-{os.getpid()}"
        detached = sky(
            sky_bin, sky_env, "exec", "km1", "-d", "--num-nodes", "2",
            "--", f"echo started; sleep 600 # {marker}",
        )  # fmt: skip
        assert detached.returncode == 0, describe(detached)
        assert wait_until(lambda: len(processes_with(marker)) >= 2), processes_with(marker)
        assert job_status(sky_bin, sky_env, "km1", 3) == "RUNNING"
        deleted = k8s_cluster.kubectl("delete", "pod", "km1-worker1", "--now", "--wait=false")
        assert deleted.returncode == 0, deleted.stderr
        assert wait_until(lambda: job_status(sky_bin, sky_env, "km1", 3) == "FAILED_DRIVER"), sky(
            sky_bin, sky_env, "queue", "km1"
        ).stdout
        assert wait_until(lambda: not processes_with(marker)), processes_with(marker)
        logs = sky(sky_bin, sky_env, "logs", "km1", "3")
        assert "lost its node" in logs.stdout, describe(logs)
    finally:
        started = time.monotonic()
        down = sky(sky_bin, sky_env, "down", "-y", "km1")
        down_s = time.monotonic() - started
    assert down.returncode == 0, describe(down)
    print(f"sky down of a 2-node Kubernetes cluster: {down_s:.1f} s")
    assert wait_for_no_pods(k8s_cluster, "km1", 1) == []
    assert k8s_cluster.kubectl("get", "service", "km1-nodes").returncode != 0
    assert wait_until(lambda: not agent_processes(k8s_cluster, "km1")), agent_processes(
        k8s_cluster, "km1"
    )


def test_failover_to_the_next_context_when_the_scheduler_says_no(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster
) -> None:
    # The inventory (cached by `sky check`) says context skycore has free
    # H100s; by launch time someone else's pods hold them all, so its
    # scheduler refuses the pod and the launch moves on to skycore-b.
    config = pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "config.yaml"
    config.write_text("kubernetes:\n  allowed_contexts: [skycore, skycore-b]\n")
    check = sky(sky_bin, sky_env, "check", "kubernetes")
    assert check.returncode == 0, describe(check)
    assert "context 'skycore-b'" in check.stdout, describe(check)
    names = take_gpus(k8s_cluster, 8)
    try:
        launch = sky(
            sky_bin, sky_env, "launch", "-y", "-c", "kf1", "--infra", "k8s", "--gpus", "H100:1",
            "--", "echo landed on $SKYPILOT_NODE_IPS",
        )  # fmt: skip
        assert launch.returncode == 0, describe(launch)
        out = launch.stdout + launch.stderr
        assert (
            "Failed to provision on kubernetes/skycore: Kubernetes context 'skycore' has no "
            "node for pod kf1-head of cluster 'kf1' (FailedScheduling: "
        ) in out, describe(launch)
        assert "Insufficient nvidia.com/gpu" in out, describe(launch)
        assert "Provisioning cluster 'kf1' on Kubernetes context 'skycore-b'" in out, out
        pods = k8s_cluster.pods("kf1", context="skycore-b")
        assert [pod["metadata"]["name"] for pod in pods] == ["kf1-head"]
        assert f"landed on {pods[0]['status']['podIP']}" in launch.stdout, describe(launch)
        # The failed attempt left nothing on skycore.
        assert wait_for_no_pods(k8s_cluster, "kf1", 5) == []
        status = sky(sky_bin, sky_env, "status")
        assert "Kubernetes (skycore-b)" in status.stdout, status.stdout
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "kf1")
        for name in names:
            k8s_cluster.kubectl("delete", "pod", name, "--now", "--wait=false")
    assert down.returncode == 0, describe(down)
    assert k8s_cluster.pods("kf1", context="skycore-b") == []


def test_worker_evicted_mid_job_is_reported(
    sky_bin: str, sky_env: dict, k8s_cluster: K8sCluster, tmp_path: pathlib.Path
) -> None:
    # Through the Eviction API, as `kubectl drain` and node-pressure eviction
    # remove pods: the job fails as a driver failure, and `sky status -r` no
    # longer calls the cluster UP.
    marker = f"ke1-evicted-{os.getpid()}"
    launch = sky(
        sky_bin, sky_env, "launch", "-y", "-d", "-c", "ke1", "--infra", "k8s/skycore",
        "--num-nodes", "2", "--", f"sleep 600 # {marker}",
    )  # fmt: skip
    try:
        assert launch.returncode == 0, describe(launch)
        assert wait_until(lambda: len(processes_with(marker)) >= 2), processes_with(marker)
        eviction = tmp_path / "eviction.json"
        eviction.write_text(
            json.dumps(
                {
                    "apiVersion": "policy/v1",
                    "kind": "Eviction",
                    "metadata": {"name": "ke1-worker1", "namespace": "default"},
                }
            )
        )
        evicted = k8s_cluster.kubectl(
            "create", "--raw", "/api/v1/namespaces/default/pods/ke1-worker1/eviction",
            "-f", str(eviction),
        )  # fmt: skip
        assert evicted.returncode == 0, evicted.stderr
        assert wait_until(lambda: job_status(sky_bin, sky_env, "ke1", 1) == "FAILED_DRIVER"), sky(
            sky_bin, sky_env, "queue", "ke1"
        ).stdout
        assert wait_until(lambda: not processes_with(marker)), processes_with(marker)
        status = sky(sky_bin, sky_env, "status", "-r", "ke1")
        assert status.returncode == 0, describe(status)
        row = [line for line in status.stdout.splitlines() if line.startswith("ke1")]
        assert row and "INIT" in row[0], describe(status)
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "ke1")
        assert down.returncode == 0, describe(down)
        assert wait_for_no_pods(k8s_cluster, "ke1", 10) == []
