"""Upload and download throughput to S3 (the test cloud's moto, on loopback):
skycore's transfer engine (benchmarks/storage_bench.cc) against boto3's
s3transfer with the AWS CLI's defaults (10 requests in flight, 8 MiB parts:
the engine of `aws s3 cp --recursive`), same endpoint, same data, same run.

    python3 benchmarks/storage_s3.py [--bench build/release/storage_bench] [--mb 200]

Two data sets of --mb MB each: one file, and 100 files. Both tools talk to
moto directly (not through the fixture's proxy), so the figures are what moto
on this machine lets through; on a 2-core machine moto itself is most of the
cost. Needs the fixture's venv (tests/cloud_venv.sh) and a build with
-DSKYCORE_BUILD_BENCHMARKS=ON.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import textwrap

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "python"))

_S3TRANSFER = textwrap.dedent(
    """
    import json, os, pathlib, sys, time
    import boto3
    from s3transfer.manager import TransferConfig, TransferManager
    root, bucket, direction = sys.argv[1], sys.argv[2], sys.argv[3]
    client = boto3.client("s3", region_name="us-east-1")
    config = TransferConfig(max_request_concurrency=10, multipart_threshold=8 << 20,
                            multipart_chunksize=8 << 20)
    files = sorted(p for p in pathlib.Path(root).rglob("*") if p.is_file())
    if direction == "upload":
        try:
            client.create_bucket(Bucket=bucket)
        except Exception:
            pass
    out = pathlib.Path(root).parent / "s3transfer-download"
    start = time.monotonic()
    with TransferManager(client, config) as manager:
        futures = []
        for path in files:
            key = str(path.relative_to(root))
            if direction == "upload":
                futures.append(manager.upload(str(path), bucket, key))
            else:
                target = out / key
                target.parent.mkdir(parents=True, exist_ok=True)
                futures.append(manager.download(bucket, key, str(target)))
        for future in futures:
            future.result()
    seconds = time.monotonic() - start
    size = sum(p.stat().st_size for p in files)
    print(json.dumps({"seconds": seconds, "mb_s": size / 1e6 / seconds}))
    """
)


def make_data(root: pathlib.Path, megabytes: int, files: int) -> None:
    root.mkdir(parents=True)
    size = megabytes * 1_000_000 // files
    for i in range(files):
        with open(root / f"part-{i:04d}.bin", "wb") as f:
            f.write(os.urandom(size))


def run_ours(bench: str, env: dict[str, str], root: pathlib.Path, bucket: str) -> dict:
    result = subprocess.run(
        [bench, "--benchmark_format=json"],
        env={**env, "SKYCORE_BENCH_DIR": str(root), "SKYCORE_BENCH_BUCKET": bucket},
        capture_output=True,
        text=True,
        check=True,
    )
    figures = {}
    for entry in json.loads(result.stdout)["benchmarks"]:
        name = entry["name"].split("/")[0].removeprefix("BM_").lower()
        figures[name] = {"seconds": entry["real_time"], "mb_s": entry["MB/s"]}
    return figures


def run_s3transfer(python: str, env: dict[str, str], root: pathlib.Path, bucket: str) -> dict:
    figures = {}
    for direction in ("upload", "download"):
        result = subprocess.run(
            [python, "-c", _S3TRANSFER, str(root), bucket, direction],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        figures[direction] = json.loads(result.stdout)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bench", default=str(REPO / "build" / "release" / "storage_bench"))
    parser.add_argument("--mb", type=int, default=200)
    args = parser.parse_args()

    import cloud_fixture

    with cloud_fixture.running_cloud() as cloud:
        moto_port = cloud.control("GET", "health")["moto_port"]
        env = {
            **os.environ,
            **cloud.env,
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{moto_port}",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        rows = []
        with tempfile.TemporaryDirectory(prefix="skycore-s3-bench") as tmp:
            for files in (1, 100):
                root = pathlib.Path(tmp) / f"data-{files}" / "src"
                make_data(root, args.mb, files)
                ours = run_ours(args.bench, env, root, f"bench-ours-{files}")
                theirs = run_s3transfer(cloud.python, env, root, f"bench-boto-{files}")
                for direction in ("upload", "download"):
                    rows.append((files, direction, ours[direction], theirs[direction]))
        print(f"{args.mb} MB to moto on loopback ({os.cpu_count()} cores)")
        print(f"{'files':>5}  {'direction':<9}  {'skycore':>16}  {'s3transfer':>16}  speed-up")
        for files, direction, ours, theirs in rows:
            print(
                f"{files:>5}  {direction:<9}  "
                f"{ours['seconds']:6.2f} s {ours['mb_s']:5.0f} MB/s  "
                f"{theirs['seconds']:6.2f} s {theirs['mb_s']:5.0f} MB/s  "
                f"{theirs['seconds'] / ours['seconds']:.2f}x"
            )


if __name__ == "__main__":
    main()
