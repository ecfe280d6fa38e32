"""Times AWS launches through the real `sky` command against the test cloud
(scripts/cloud-test-fixture: moto behind a proxy that gives every running
instance a loopback sshd node).

    python3 benchmarks/aws_cloud.py [--sky PATH] [--runs N]

Reports the median and the best of N runs of:
  launch   a 4-node CPU task (`examples/multi_node.yaml` with num_nodes 4)
           until every rank printed (target < 5 s)
  exec     `sky exec -d` on that cluster until the new job is RUNNING
           (target < 300 ms), read from the head's job table directly
  down     `sky down` of it (target < 2 s)
  failover a 1-node launch whose first 3 zones answer InsufficientInstanceCapacity:
           the time it adds over a launch with no faults, per failed attempt
           (target < 200 ms of our own time per attempt)

"Ours" is the wall time less the time during which the test cloud was
answering some call (the fixture logs each EC2 call's start and duration,
node start-up included): what skycore
itself costs (planning, signing, SSH, agent bring-up, sync).

Needs root (the nodes log in as root), openssh-server, and the fixture's venv
(tests/cloud_venv.sh). The fixture runs on loopback and is stopped when the
harness exits.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sqlite3
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

import cloud_fixture  # noqa: E402
import sshd_fixture  # noqa: E402

WAIT_S = 60


def sky_path(given: str | None) -> str:
    if given:
        return given
    return str(pathlib.Path(sysconfig.get_path("scripts")) / "sky")


def busy_seconds(requests: list[dict], since: float, until: float | None = None) -> float:
    """Wall time from `since` (to `until`) during which the test cloud was
    answering some call: the union of the logged calls' intervals, as calls
    made at once overlap and a sum would count the same wait twice."""
    spans = sorted(
        (r["time"], r["time"] + r.get("duration_s", 0.0))
        for r in requests
        if r["time"] >= since and (until is None or r["time"] <= until) and "fault" not in r
    )
    busy, end = 0.0, float("-inf")
    for start, stop in spans:
        if stop <= end:
            continue
        busy += stop - max(start, end)
        end = stop
    return busy


def cloud_seconds(cloud: cloud_fixture.AwsCloud, since: float) -> float:
    return busy_seconds(cloud.requests(), since)


def timed(argv: list[str], env: dict) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed:\n{result.stdout}{result.stderr}")
    return elapsed, result


def head_jobs_db(cloud: cloud_fixture.AwsCloud, cluster: str) -> pathlib.Path:
    """The agent's job table on the head node (nodes are directories here)."""
    for node in cloud.nodes():
        for path in pathlib.Path(node["dir"]).glob(f"home/clusters/{cluster}/agent/jobs.db"):
            return path
    raise SystemExit(f"no job table of {cluster} on any node")


def wait_running(db: pathlib.Path, job_id: int, start: float) -> float:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
                row = conn.execute("SELECT status FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        except sqlite3.Error:
            row = None
        if row and row[0] not in ("INIT", "PENDING", "SETTING_UP"):
            return time.perf_counter() - start
        time.sleep(0.002)
    raise SystemExit(f"job {job_id} not RUNNING within {WAIT_S} s")


def report(name: str, values: list[float], target: str) -> None:
    print(
        f"{name:<34} median {statistics.median(values) * 1000:8.1f} ms   "
        f"best {min(values) * 1000:8.1f} ms   ({len(values)} runs; target {target})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sky", help="the sky executable (default: the installed one)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    sky = sky_path(args.sky)
    four_nodes = pathlib.Path(tempfile.mkdtemp()) / "four.yaml"
    four_nodes.write_text(
        (REPO / "examples" / "multi_node.yaml").read_text().replace("num_nodes: 2", "num_nodes: 4")
    )
    results: dict[str, list[float]] = {}
    with cloud_fixture.running_cloud() as cloud, tempfile.TemporaryDirectory() as tmp:
        state = pathlib.Path(tmp) / "state"
        state.mkdir()
        (state / "config.yaml").write_text(
            f"aws:\n  ssh_user: {cloud.env['SKYCORE_TEST_NODE_USER']}\n"
            f"  image_id: {cloud.image_id}\n"
        )
        control = pathlib.Path(tempfile.mkdtemp(prefix="skyctl"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(cloud.env, SKYCORE_STATE_DIR=str(state), SKYCORE_SSH_CONTROL_DIR=str(control))
        timed([sky, "check", "aws"], env)
        # One warm-up launch: the first one makes skycore's key and key pair.
        timed([sky, "launch", "-y", "-c", "warm", "--infra", "aws", "--", "true"], env)
        timed([sky, "down", "-y", "warm"], env)
        try:
            for _ in range(args.runs):
                cloud.reset()
                since = time.time()
                elapsed, result = timed(
                    [sky, "launch", "-y", "-c", "b4", "--infra", "aws", str(four_nodes)], env
                )
                ranks = [line for line in result.stdout.splitlines() if "of 4" in line]
                assert len(ranks) == 4, result.stdout
                results.setdefault("launch 4 nodes (wall)", []).append(elapsed)
                results.setdefault("launch 4 nodes (ours)", []).append(
                    elapsed - cloud_seconds(cloud, since)
                )
                db = head_jobs_db(cloud, "b4")
                for job in range(2, 5):
                    start = time.perf_counter()
                    subprocess.run(
                        [sky, "exec", "-d", "b4", "--", "sleep 5"],
                        env=env,
                        check=True,
                        capture_output=True,
                        timeout=60,
                    )
                    results.setdefault("exec until RUNNING", []).append(
                        wait_running(db, job, start)
                    )
                since = time.time()
                elapsed, _ = timed([sky, "down", "-y", "b4"], env)
                results.setdefault("down 4 nodes (wall)", []).append(elapsed)
                results.setdefault("down 4 nodes (ours)", []).append(
                    elapsed - cloud_seconds(cloud, since)
                )

                # Failover: the same 1-node launch without and with 3 zones failing.
                cloud.reset()
                since = time.time()
                base, _ = timed(
                    [sky, "launch", "-y", "-c", "f0", "--infra", "aws/us-east-1", "--", "true"], env
                )
                base_ours = base - cloud_seconds(cloud, since)
                timed([sky, "down", "-y", "f0"], env)
                subnets = {
                    s["AvailabilityZone"]: s["SubnetId"]
                    for s in cloud.boto3_client("ec2", "us-east-1").describe_subnets()["Subnets"]
                    if s.get("DefaultForAz")
                }
                for zone in ("us-east-1a", "us-east-1b", "us-east-1c"):
                    cloud.fault(
                        "RunInstances",
                        "InsufficientInstanceCapacity",
                        match={"SubnetId": subnets[zone]},
                        times=-1,
                    )
                since = time.time()
                failed, _ = timed(
                    [sky, "launch", "-y", "-c", "f3", "--infra", "aws/us-east-1", "--", "true"], env
                )
                failed_ours = failed - cloud_seconds(cloud, since)
                timed([sky, "down", "-y", "f3"], env)
                results.setdefault("failover: added per attempt (wall)", []).append(
                    (failed - base) / 3
                )
                results.setdefault("failover: added per attempt (ours)", []).append(
                    (failed_ours - base_ours) / 3
                )
        finally:
            subprocess.run(
                [sky, "down", "-a", "-y", "--purge"], env=env, capture_output=True, check=False
            )
            sshd_fixture.remove_control_dir(control)
    targets = {
        "launch": "< 5 s",
        "down": "< 2 s",
        "exec": "< 300 ms",
        "failover": "< 200 ms ours",
    }
    for name, values in results.items():
        report(name, values, next(t for k, t in targets.items() if name.startswith(k)))


if __name__ == "__main__":
    main()
