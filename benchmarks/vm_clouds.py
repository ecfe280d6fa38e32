"""Times 4-node launches on GCP, Lambda Cloud and RunPod through the real `sky`
command against the test cloud's fakes (each API on loopback, every running
instance a loopback sshd node), as benchmarks/azure_cloud.py does for Azure.

    python3 benchmarks/vm_clouds.py [--sky PATH] [--runs N] [--clouds gcp,lambda,runpod]

Per cloud, the median and the best of N runs of:
  provision  from the start of the launch until the instances run (the
             "Waiting for SSH" line)
  launch     the whole launch until every rank printed
  down       `sky down` of it

"Ours" is the wall time less the time during which the fake was answering
some call (its own log of each call's start and duration): what skycore
itself costs. The fakes finish an operation after one poll; a real cloud
takes as long as it takes, for any client.

Needs root (the nodes log in as root), openssh-server, and the fixture's venv
(tests/cloud_venv.sh).
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
from azure_cloud import launch_streamed  # noqa: E402

# How each cloud is asked for 4 nodes: its fake, --infra, extra flags.
CLOUDS = {
    "gcp": ("gcp", "gcp/us-central1", []),
    "lambda": ("lambda_cloud", "lambda/us-east-1", []),
    # RunPod sells GPU pods only.
    "runpod": ("runpod", "runpod", ["--gpus", "L4:1"]),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sky", help="the sky executable (default: the installed one)")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--clouds", default=",".join(CLOUDS))
    args = parser.parse_args()
    sky = sky_path(args.sky)
    four_nodes = pathlib.Path(tempfile.mkdtemp()) / "four.yaml"
    four_nodes.write_text(
        (REPO / "examples" / "multi_node.yaml").read_text().replace("num_nodes: 2", "num_nodes: 4")
    )
    with cloud_fixture.running_cloud() as aws:
        for name in args.clouds.split(","):
            fake_name, infra, extra = CLOUDS[name]
            cloud = getattr(aws, fake_name)()
            results: dict[str, list[float]] = {}
            with tempfile.TemporaryDirectory() as tmp:
                state = pathlib.Path(tmp) / "state"
                state.mkdir()
                (state / "config.yaml").write_text(
                    f"{name}:\n  ssh_user: {cloud.env['SKYCORE_TEST_NODE_USER']}\n"
                )
                control = pathlib.Path(tempfile.mkdtemp(prefix="skyctl"))
                env = {
                    k: v
                    for k, v in os.environ.items()
                    if not k.startswith(("AWS_", "AZURE_", "GOOGLE_", "LAMBDA_", "RUNPOD_"))
                }
                env.update(
                    cloud.env, SKYCORE_STATE_DIR=str(state), SKYCORE_SSH_CONTROL_DIR=str(control)
                )
                timed([sky, "check", name], env)
                # One warm-up launch: the first one makes skycore's key.
                timed(
                    [sky, "launch", "-y", "-c", "warm", "--infra", infra, *extra, "--", "true"], env
                )
                timed([sky, "down", "-y", "warm"], env)
                try:
                    for _ in range(args.runs):
                        cloud.reset()
                        argv = [sky, "launch", "-y", "-c", "b4", "--infra", infra, *extra]
                        since = time.time()
                        provisioned, total, output = launch_streamed([*argv, str(four_nodes)], env)
                        assert len([x for x in output.splitlines() if "of 4" in x]) == 4, output
                        busy = busy_seconds(cloud.requests(), since, since + provisioned)
                        results.setdefault(f"{name}: provision 4 (wall)", []).append(provisioned)
                        results.setdefault(f"{name}: provision 4 (ours)", []).append(
                            provisioned - busy
                        )
                        busy = busy_seconds(cloud.requests(), since, since + total)
                        results.setdefault(f"{name}: launch 4 (wall)", []).append(total)
                        results.setdefault(f"{name}: launch 4 (ours)", []).append(total - busy)
                        since = time.time()
                        elapsed, _ = timed([sky, "down", "-y", "b4"], env)
                        busy = busy_seconds(cloud.requests(), since, since + elapsed)
                        results.setdefault(f"{name}: down 4 (wall)", []).append(elapsed)
                        results.setdefault(f"{name}: down 4 (ours)", []).append(elapsed - busy)
                finally:
                    subprocess.run(
                        [sky, "down", "-a", "-y", "--purge"],
                        env=env,
                        capture_output=True,
                        check=False,
                    )
                    sshd_fixture.remove_control_dir(control)
            for label, values in results.items():
                report(label, values, "none set")


if __name__ == "__main__":
    main()
