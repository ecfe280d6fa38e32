"""Times Azure launches through the real `sky` command against the test
cloud's Azure fake (ARM and Entra ID on loopback, every running VM a loopback
sshd node).

    python3 benchmarks/azure_cloud.py [--sky PATH] [--runs N]

Reports the median and the best of N runs of:
  provision  a 4-node launch from its start until the VMs are running (the
             "Waiting for SSH" line): resource group, network, 4 public IPs,
             NICs and VMs (target: < 300 ms of our own time)
  launch     the whole 4-node launch until every rank printed
  down       `sky down` of it (the VMs, then the resource group)

"Ours" is the wall time less the time during which the fake was answering
some call (it logs each call's start and duration, a machine's start-up
included): what skycore itself
costs (token, planning, JSON, polling, SSH, agent bring-up). The fake
answers every operation InProgress once with `Retry-After: 0`; on Azure each
poll waits what Retry-After says, the same for any client.

Needs root (the nodes log in as root), openssh-server, and the fixture's venv
(tests/cloud_venv.sh). The fixture runs on loopback and is stopped when the
harness exits.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))
sys.path.insert(0, str(REPO / "benchmarks"))

import cloud_fixture  # noqa: E402
import sshd_fixture  # noqa: E402
from aws_cloud import busy_seconds, report, sky_path, timed  # noqa: E402


def fake_seconds(cloud: cloud_fixture.AzureCloud, since: float, until: float) -> float:
    return busy_seconds(cloud.requests(), since, until)


def launch_streamed(argv: list[str], env: dict) -> tuple[float, float, str]:
    """Runs a launch; returns (seconds until the VMs ran, total seconds, output)."""
    start = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    provisioned = None
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if provisioned is None and "Waiting for SSH" in line:
            provisioned = time.perf_counter() - start
    process.wait(timeout=300)
    total = time.perf_counter() - start
    output = "".join(lines)
    if process.returncode != 0 or provisioned is None:
        raise SystemExit(f"{' '.join(argv)} failed:\n{output}")
    return provisioned, total, output


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
    with cloud_fixture.running_cloud() as aws, tempfile.TemporaryDirectory() as tmp:
        cloud = aws.azure()
        state = pathlib.Path(tmp) / "state"
        state.mkdir()
        (state / "config.yaml").write_text(
            f"azure:\n  ssh_user: {cloud.env['SKYCORE_TEST_NODE_USER']}\n"
        )
        control = pathlib.Path(tempfile.mkdtemp(prefix="skyctl"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "AZURE_"))}
        env.update(cloud.env, SKYCORE_STATE_DIR=str(state), SKYCORE_SSH_CONTROL_DIR=str(control))
        timed([sky, "check", "azure"], env)
        # One warm-up launch: the first one makes skycore's key.
        timed([sky, "launch", "-y", "-c", "warm", "--infra", "azure", "--", "true"], env)
        timed([sky, "down", "-y", "warm"], env)
        try:
            for _ in range(args.runs):
                cloud.reset()
                since = time.time()
                provisioned, total, output = launch_streamed(
                    [sky, "launch", "-y", "-c", "b4", "--infra", "azure/eastus", str(four_nodes)],
                    env,
                )
                ranks = [line for line in output.splitlines() if "of 4" in line]
                assert len(ranks) == 4, output
                results.setdefault("provision 4 VMs (wall)", []).append(provisioned)
                results.setdefault("provision 4 VMs (ours)", []).append(
                    provisioned - fake_seconds(cloud, since, since + provisioned)
                )
                results.setdefault("launch 4 nodes (wall)", []).append(total)
                results.setdefault("launch 4 nodes (ours)", []).append(
                    total - fake_seconds(cloud, since, since + total)
                )
                since = time.time()
                elapsed, _ = timed([sky, "down", "-y", "b4"], env)
                results.setdefault("down 4 nodes (wall)", []).append(elapsed)
                results.setdefault("down 4 nodes (ours)", []).append(
                    elapsed - fake_seconds(cloud, since, since + elapsed)
                )
                assert cloud.resources() == [], cloud.resources()
        finally:
            subprocess.run(
                [sky, "down", "-a", "-y", "--purge"], env=env, capture_output=True, check=False
            )
            sshd_fixture.remove_control_dir(control)
    targets = {"provision": "< 300 ms ours", "launch": "< 5 s", "down": "< 2 s"}
    for name, values in results.items():
        report(name, values, next(t for k, t in targets.items() if name.startswith(k)))


if __name__ == "__main__":
    main()
