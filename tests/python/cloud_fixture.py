"""The AWS test cloud (scripts/cloud-test-fixture) for tests: moto behind a
proxy that serves every running instance as a loopback sshd machine, with
fault injection (tests/fixtures/cloud/README.md has the control API).

`running_cloud()` starts one fixture in a directory of its own and always
takes it down; conftest.py's `aws_cloud` fixture shares one per session and
resets it before each test. `AwsCloud.env` is what a subprocess (e.g. `sky`)
needs to talk to it: merge it into the subprocess's environment.

The fixture runs from its own virtual environment (tests/cloud_venv.sh), named
by SKYCORE_CLOUD_PYTHON (scripts/test.sh sets it). Without it the tests are
skipped, except in CI (CI=true), where they fail. boto3 lives only in that
venv, so `AwsCloud.boto3(...)` runs calls there, in a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import textwrap
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import sshd_fixture

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "cloud-test-fixture"


def cloud_python() -> str:
    """The fixture venv's python; skips (fails in CI) when it is not there."""
    python = os.environ.get("SKYCORE_CLOUD_PYTHON", "")
    if python and os.path.exists(python):
        return python
    message = (
        "SKYCORE_CLOUD_PYTHON is not set (or names no file): "
        "set SKYCORE_CLOUD_PYTHON=$(bash tests/cloud_venv.sh) to run the AWS test cloud"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; in CI the cloud tests must run, not skip")
    pytest.skip(message)


class AwsError(Exception):
    """An error answer of the AWS API, as boto3 reported it."""

    def __init__(self, code: str, message: str, status: int | None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status


# Runs in the fixture's venv: reads {"calls": [[service, region, method, kwargs]],
# "config": {...}} on stdin, prints one JSON result per call (or the error).
_BOTO3_RUNNER = textwrap.dedent(
    """
    import json, sys
    import boto3, botocore.config, botocore.exceptions
    job = json.load(sys.stdin)
    config = botocore.config.Config(**job.get("config", {}))
    out = []
    for service, region, method, kwargs in job["calls"]:
        client = boto3.client(service, region_name=region, config=config)
        try:
            out.append({"ok": getattr(client, method)(**kwargs)})
        except botocore.exceptions.ClientError as e:
            err = e.response.get("Error", {})
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            out.append({"error": [err.get("Code"), err.get("Message"), status]})
            if job.get("stop_on_error", True):
                break
        except botocore.exceptions.BotoCoreError as e:
            out.append({"error": [type(e).__name__, str(e), None]})
            if job.get("stop_on_error", True):
                break
    print(json.dumps(out, default=str))
    """
)


class Boto3Client:
    """`cloud.boto3_client("ec2", "us-west-2").run_instances(...)`: each call
    runs boto3 in the fixture's venv and returns the parsed response (dates as
    strings); an error answer raises AwsError."""

    def __init__(self, cloud: AwsCloud, service: str, region: str, **config: Any) -> None:
        self._cloud, self._service, self._region, self._config = cloud, service, region, config

    def __getattr__(self, method: str):
        def call(**kwargs: Any) -> dict:
            return self._cloud.boto3_calls(
                [(self._service, self._region, method, kwargs)], config=self._config
            )[0]

        return call


class AwsCloud:
    def __init__(self, python: str, directory: pathlib.Path, env: dict[str, str]) -> None:
        self.python = python
        self.directory = directory
        self.env = env  # merge into a subprocess's environment
        self.url = env["SKYCORE_CLOUD_FIXTURE_URL"]
        self.endpoint = env["AWS_ENDPOINT_URL"]
        self.image_id = env["SKYCORE_TEST_AWS_IMAGE_ID"]

    # ------------------------------------------------------------ control API

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            raise RuntimeError(f"{method} /_fixture/{path}: {e.code} {e.read().decode()}") from e

    def fault(
        self,
        action: str,
        code: str,
        message: str = "",
        http_status: int = 500,
        times: int = 1,
        match: dict[str, str] | None = None,
        seconds: float | None = None,
        delay_s: float = 0,
    ) -> dict:
        """The next `times` requests of `action` whose parameters match `match`
        (form parameters, plus "region") get an error answer (-1: until cleared)."""
        spec: dict[str, Any] = {
            "action": action,
            "code": code,
            "message": message,
            "http_status": http_status,
            "times": times,
            "match": match or {},
            "delay_s": delay_s,
        }
        if seconds is not None:
            spec["seconds"] = seconds
        return self.control("POST", "faults", spec)

    def unreachable(
        self,
        times: int | None = None,
        seconds: float | None = None,
        action: str | None = None,
        match: dict[str, str] | None = None,
        mode: str = "close",
    ) -> dict:
        """The next `times` matching requests (or all for `seconds`) get no
        answer: the proxy closes (mode "reset": resets) the connection."""
        spec: dict[str, Any] = {"mode": mode, "match": match or {}}
        if action:
            spec["action"] = action
        if times is not None:
            spec["times"] = times
        if seconds is not None:
            spec["seconds"] = seconds
        return self.control("POST", "unreachable", spec)

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def spot_interrupt(self, instance_id: str, behavior: str = "terminate") -> dict:
        return self.control(
            "POST", "spot-interrupt", {"instance_id": instance_id, "behavior": behavior}
        )

    def kill_node(self, instance_id: str) -> dict:
        """The machine dies (sshd and its processes killed); moto still says running."""
        return self.control("POST", "kill-node", {"instance_id": instance_id})

    def nodes(self) -> list[dict]:
        return self.control("GET", "nodes")

    def requests(self, action: str | None = None) -> list[dict]:
        """The proxied requests (optionally of one action), oldest first."""
        return self.control("GET", "requests" + (f"?action={action}" if action else ""))["requests"]

    def count(self, action: str) -> int:
        return len(self.requests(action))

    def register_image(
        self, image_id: str, name: str | None = None, regions: Sequence[str] | None = None
    ) -> dict:
        """Makes `image_id` a valid AMI (in `regions`, default all)."""
        body: dict[str, Any] = {"image_id": image_id}
        if name:
            body["name"] = name
        if regions:
            body["regions"] = list(regions)
        return self.control("POST", "images", body)

    def reset(self) -> None:
        """Empty moto, no machines, no faults, an empty request log."""
        self.control("POST", "reset")

    # ------------------------------------------------------------ boto3

    def subprocess_env(self, **overrides: str) -> dict[str, str]:
        return {**os.environ, **self.env, **overrides}

    def boto3_calls(
        self,
        calls: Sequence[tuple[str, str, str, dict]],
        config: dict | None = None,
        env: dict[str, str] | None = None,
        stop_on_error: bool = True,
    ) -> list[dict]:
        """Runs boto3 calls (service, region, method, kwargs) in one subprocess of
        the venv. Returns each response; raises AwsError for the first error
        unless stop_on_error is False (then errors come back as AwsError values)."""
        job = {
            "calls": [list(c) for c in calls],
            "config": config or {},
            "stop_on_error": stop_on_error,
        }
        result = subprocess.run(
            [self.python, "-c", _BOTO3_RUNNER],
            input=json.dumps(job),
            capture_output=True,
            text=True,
            timeout=120,
            env={**self.subprocess_env(), **(env or {})},
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        out = []
        for item in json.loads(result.stdout.strip().splitlines()[-1]):
            if "error" in item:
                error = AwsError(*item["error"])
                if stop_on_error:
                    raise error
                out.append(error)
            else:
                out.append(item["ok"])
        return out

    def boto3_client(self, service: str, region: str = "us-east-1", **config: Any) -> Boto3Client:
        return Boto3Client(self, service, region, **config)

    def run_python(self, script: str, env: dict[str, str] | None = None) -> str:
        """Runs a script in the fixture's venv (boto3 importable) with the cloud's env."""
        result = subprocess.run(
            [self.python, "-c", script],
            capture_output=True,
            text=True,
            timeout=120,
            env={**self.subprocess_env(), **(env or {})},
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout


def parse_exports(text: str) -> dict[str, str]:
    env = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line[len("export ") :].split("=", 1)
            env[key] = value
    return env


def up(directory: pathlib.Path, *args: str, python: str | None = None) -> AwsCloud:
    python = python or cloud_python()
    result = subprocess.run(
        [str(SCRIPT), "up", "--dir", str(directory), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={
            **os.environ,
            "SKYCORE_CLOUD_PYTHON": python,
            # The fixture stops by itself should this process die untidily.
            "SKYCORE_CLOUD_FIXTURE_PARENT": str(os.getpid()),
        },
        check=False,
    )
    if result.returncode != 0:
        down(directory)
        raise RuntimeError(f"cloud-test-fixture up failed: {result.stderr[-3000:]}")
    return AwsCloud(python, directory, parse_exports(result.stdout))


def down(directory: pathlib.Path) -> None:
    subprocess.run([str(SCRIPT), "down", "--dir", str(directory)], timeout=120, check=False)


@contextlib.contextmanager
def running_cloud(*args: str) -> Iterator[AwsCloud]:
    """A fixture of its own (args: e.g. "--sigv4"), always taken down."""
    python = cloud_python()
    reason = sshd_fixture.unavailable()
    if reason:
        pytest.skip(reason)
    directory = pathlib.Path(tempfile.mkdtemp(prefix="skyaws"))
    try:
        yield up(directory, *args, python=python)
    finally:
        down(directory)
        shutil.rmtree(directory, ignore_errors=True)
