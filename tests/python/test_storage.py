"""Storage (S3) end to end: task file_mounts with buckets on the local infra,
against the AWS test cloud's S3 (moto behind the fixture's proxy, on loopback).

A storage object's local source is uploaded by skycore's transfer engine
(.skyignore honoured, large files in parallel multipart parts), recorded for
`sky storage ls`, copied onto the nodes before setup, and deleted at `sky down`
unless persistent. `s3://` URIs are copied the same way. Bad URIs and modes are
refused with the file, the field and close matches, before anything launches.
"""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess

import pytest
from cloud_fixture import AwsCloud, AwsError

COMMAND_TIMEOUT_S = 300
BIG_SIZE = 40 * 1024 * 1024  # above the 8 MiB multipart threshold: 5 parts of 8 MiB


class Sky:
    """`sky` in an isolated HOME and state directory, talking to the test cloud."""

    def __init__(self, binary: str, home: pathlib.Path, cloud: AwsCloud) -> None:
        self.binary = binary
        self.home = home
        self.env = {
            **os.environ,
            **cloud.env,
            "HOME": str(home),
            "SKYCORE_STATE_DIR": str(home / ".sky"),
            "CI": "1",
            "USER": "tester",
        }

    def run(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [self.binary, *args],
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            cwd=self.home,
            env=self.env,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    def ok(self, *args: str) -> subprocess.CompletedProcess:
        result = self.run(*args)
        assert result.returncode == 0, describe(result)
        return result


def describe(result: subprocess.CompletedProcess) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


@pytest.fixture
def sky(sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud):
    home = tmp_path / "home"
    home.mkdir()
    runner = Sky(sky_bin, home, aws_cloud)
    try:
        yield runner
    finally:
        runner.run("down", "-a", "-y")


def s3(cloud: AwsCloud):
    return cloud.boto3_client("s3", "us-east-1")


def bucket_exists(cloud: AwsCloud, bucket: str) -> bool:
    try:
        s3(cloud).head_bucket(Bucket=bucket)
        return True
    except AwsError:
        return False


def big_bytes() -> bytes:
    # Deterministic, incompressible enough that parts differ.
    block = hashlib.sha256(b"skycore").digest() * 2048  # 64 KiB
    return b"".join(bytes([i % 251]) + block[1:] for i in range(BIG_SIZE // len(block)))


def make_source(root: pathlib.Path) -> tuple[pathlib.Path, str]:
    source = root / "dataset"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("alpha\n")
    (source / "sub" / "b.txt").write_text("beta\n")
    (source / "secret.txt").write_text("not for the bucket\n")
    (source / ".skyignore").write_text("secret.txt\n")
    data = big_bytes()
    (source / "big.bin").write_bytes(data)
    return source, hashlib.md5(data).hexdigest()


def task_yaml(home: pathlib.Path, mounts: str, run: str) -> str:
    path = home / "task.yaml"
    path.write_text(f"resources:\n  infra: local\nfile_mounts:\n{mounts}run: |\n{run}")
    return str(path)


def part_puts(cloud: AwsCloud, part: str) -> list[dict]:
    return [
        r
        for r in cloud.requests()
        if r["method"] == "PUT" and r.get("params", {}).get("partNumber") == part
    ]


def test_storage_object_uploads_copies_and_goes_at_down(sky: Sky, aws_cloud: AwsCloud) -> None:
    source, big_md5 = make_source(sky.home)
    # The second part's first attempt fails: it alone is sent again.
    aws_cloud.fault(
        "",
        "InternalError",
        "injected",
        http_status=500,
        match={"service": "s3", "method": "PUT", "partNumber": "2"},
    )
    # The fourth part's connection is reset mid-request: it is sent again, alone.
    aws_cloud.unreachable(
        times=1, match={"service": "s3", "method": "PUT", "partNumber": "4"}, mode="reset"
    )
    task = task_yaml(
        sky.home,
        f"  {sky.home}/data:\n"
        "    name: skycore-e2e-temp\n"
        f"    source: {source}\n"
        "    store: s3\n"
        "    persistent: false\n"
        "    mode: COPY\n",
        f"  cat {sky.home}/data/a.txt {sky.home}/data/sub/b.txt\n"
        f"  test ! -e {sky.home}/data/secret.txt && echo secret-left-out\n"
        f"  md5sum {sky.home}/data/big.bin\n",
    )
    launch = sky.ok("launch", "-y", "-c", "st1", task)
    assert "alpha" in launch.stdout and "beta" in launch.stdout, describe(launch)
    assert "secret-left-out" in launch.stdout, describe(launch)
    assert big_md5 in launch.stdout, describe(launch)  # byte-identical after up and down

    # Multipart: five parts; part 2 twice (the injected failure, then alone again).
    for part in ("1", "3", "5"):
        assert len(part_puts(aws_cloud, part)) == 1, part
    assert len(part_puts(aws_cloud, "2")) == 2
    assert len(part_puts(aws_cloud, "4")) == 2
    head = s3(aws_cloud).head_object(Bucket="skycore-e2e-temp", Key="big.bin")
    assert head["ETag"].strip('"').endswith("-5"), head
    listed = s3(aws_cloud).list_objects_v2(Bucket="skycore-e2e-temp")
    keys = sorted(o["Key"] for o in listed["Contents"])
    # secret.txt left out (.skyignore itself goes up, as in SkyPilot)
    assert keys == [".skyignore", "a.txt", "big.bin", "sub/b.txt"], keys

    ls = sky.ok("storage", "ls")
    header, row = ls.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "UPDATED", "STORE", "COMMAND", "STATUS"]
    assert row.split()[0] == "skycore-e2e-temp" and "S3" in row and row.endswith("READY"), row

    sky.ok("down", "-y", "st1")
    assert not bucket_exists(aws_cloud, "skycore-e2e-temp")
    assert sky.ok("storage", "ls").stdout.strip() == "No existing storage."


def test_persistent_storage_stays_until_storage_delete_all(sky: Sky, aws_cloud: AwsCloud) -> None:
    source = sky.home / "small"
    source.mkdir()
    (source / "x.txt").write_text("kept\n")
    task = task_yaml(
        sky.home,
        f"  /tmp/skycore-storage-test-{os.getpid()}:\n"
        "    name: skycore-e2e-kept\n"
        f"    source: {source}\n"
        "    mode: COPY\n",  # persistent defaults to true, as in SkyPilot
        f"  cat /tmp/skycore-storage-test-{os.getpid()}/x.txt\n",
    )
    assert "kept" in sky.ok("launch", "-y", "-c", "st2", task).stdout
    sky.ok("down", "-y", "st2")
    assert bucket_exists(aws_cloud, "skycore-e2e-kept")
    assert "skycore-e2e-kept" in sky.ok("storage", "ls").stdout

    missing = sky.run("storage", "delete", "-y", "skycore-e2e-kep")
    assert missing.returncode != 0
    assert "not found" in missing.stderr and "skycore-e2e-kept" in missing.stderr

    sky.ok("storage", "delete", "-y", "-a")
    assert not bucket_exists(aws_cloud, "skycore-e2e-kept")
    assert sky.ok("storage", "ls").stdout.strip() == "No existing storage."


def test_s3_uri_is_copied_onto_the_node(sky: Sky, aws_cloud: AwsCloud) -> None:
    client = s3(aws_cloud)
    client.create_bucket(Bucket="skycore-e2e-uri")
    client.put_object(Bucket="skycore-e2e-uri", Key="set/one.txt", Body="one\n")
    client.put_object(Bucket="skycore-e2e-uri", Key="set/deep/two.txt", Body="two\n")
    client.put_object(Bucket="skycore-e2e-uri", Key="settle.txt", Body="not under set/\n")
    task = task_yaml(
        sky.home,
        f"  {sky.home}/in: s3://skycore-e2e-uri/set\n",
        f"  cat {sky.home}/in/one.txt {sky.home}/in/deep/two.txt\n  ls {sky.home}/in\n",
    )
    launch = sky.ok("launch", "-y", "-c", "st3", task)
    assert "one" in launch.stdout and "two" in launch.stdout, describe(launch)
    assert "settle.txt" not in launch.stdout

    # A URI naming one object copies that object to the destination file.
    task = task_yaml(
        sky.home, f"  {sky.home}/one.txt: s3://skycore-e2e-uri/settle.txt\n", "  true\n"
    )
    sky.ok("launch", "-y", "-c", "st3", task)
    assert (sky.home / "one.txt").read_text() == "not under set/\n"


def test_a_missing_bucket_is_named_before_launch(sky: Sky) -> None:
    task = task_yaml(sky.home, "  /in: s3://skycore-no-such-bucket/x\n", "  true\n")
    result = sky.run("launch", "-y", "-c", "st4", task)
    assert result.returncode != 0
    assert "s3://skycore-no-such-bucket does not exist (region us-east-1)" in result.stderr
    assert "file_mounts./in" in result.stderr
    assert "st4" not in sky.ok("status").stdout  # nothing was provisioned


@pytest.mark.parametrize(
    ("mount", "expected"),
    [
        ("  /d: s4://bucket/x\n", ["file_mounts./d", "task.yaml:4", "'s3://bucket/x'"]),
        (
            "  /d:\n    name: b-1\n    source: ./x\n    mode: COPPY\n",
            ["file_mounts./d.mode", "task.yaml:7", "'COPY'"],
        ),
        (
            "  /d:\n    name: bkt-1\n    source: ./x\n    mode: MOUNT\n",
            ["file_mounts./d.mode", "MOUNT is not supported yet", "mode: COPY"],
        ),
        ("  /d: gs://bucket/x\n", ["file_mounts./d", "gs:// buckets are not supported yet"]),
        ("  /d: cos://r/bucket\n", ["file_mounts./d", "not supported"]),
    ],
)
def test_bad_uris_and_modes_are_located(sky: Sky, mount: str, expected: list[str]) -> None:
    task = task_yaml(sky.home, mount, "  true\n")
    result = sky.run("launch", "-y", "-c", "st5", task)
    assert result.returncode != 0, describe(result)
    for text in expected:
        assert text in result.stderr, describe(result)
    assert "st5" not in sky.ok("status").stdout  # nothing was launched
