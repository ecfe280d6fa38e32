"""The Lambda Cloud and RunPod fakes of a running cloud test fixture
(tests/fixtures/cloud/lambda_fake.py, runpod_fake.py) for tests: their
exports, control APIs, and plain clients (stdlib) for tests that check
answers byte by byte. `AwsCloud.lambda_cloud()` / `AwsCloud.runpod()` make
them; conftest.py's `lambda_cloud` / `runpod_cloud` fixtures reset them.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import textwrap
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

PREFIXES = ("LAMBDA_", "SKYCORE_LAMBDA_", "RUNPOD_", "SKYCORE_RUNPOD_")


def is_fake_var(name: str) -> bool:
    return name.startswith(PREFIXES)


def send(request: urllib.request.Request) -> tuple[int, Any]:
    """(status, parsed JSON body or None) of one request, errors included."""
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as e:
        status, raw = e.code, e.read()
    return status, json.loads(raw) if raw.strip() else None


class FakeCloud:
    prefixes: tuple[str, ...] = ()
    fixture_var = ""

    def __init__(self, python: str, directory: pathlib.Path, exports: dict[str, str]) -> None:
        self.python = python
        self.directory = directory
        keep = ("SKYCORE_CLOUD_FIXTURE_DIR", "SKYCORE_TEST_NODE_USER")
        self.env = {k: v for k, v in exports.items() if k.startswith(self.prefixes) or k in keep}
        self.url = self.env[self.fixture_var]

    # ------------------------------------------------------------ control API

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        status, answer = send(request)
        if status != 200:
            raise RuntimeError(f"{method} {self.url}/{path}: {status} {answer}")
        return answer

    def fault(self, times: int = 1, **spec: Any) -> dict:
        """The next `times` matching requests fail. Match keys: operation,
        method, region, instance_type, gpu_type, cloud_type, name; also code,
        message, status, delay_s."""
        return self.control("POST", "fault", {"times": times, **spec})

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def kill_node(self, instance_id: str, **extra: Any) -> dict:
        """The machine dies; the API still says it runs."""
        return self.control("POST", "kill-node", {"id": instance_id, **extra})

    def nodes(self) -> list[dict]:
        return self.control("GET", "nodes")

    def node(self, instance_id: str) -> dict:
        return next(n for n in self.nodes() if n["id"] == instance_id)

    def resources(self) -> dict:
        """{"count", "resources": [...], ...}: what the fake holds (leaks)."""
        return self.control("GET", "resources")

    def requests(self, **match: str) -> list[dict]:
        """Logged requests, oldest first; match: method, path, operation, status."""
        query = urllib.parse.urlencode(match)
        return self.control("GET", "requests" + (f"?{query}" if query else ""))["requests"]

    def reset(self) -> None:
        self.control("POST", "reset")

    def configure(self, **settings: Any) -> dict:
        return self.control("POST", "config", settings)

    def run_python(self, script: str, env: dict[str, str] | None = None) -> str:
        """Runs `script` in the fixture's venv (the clouds' SDKs) with this cloud's env."""
        result = subprocess.run(
            [self.python, "-c", textwrap.dedent(script)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **self.env, **(env or {})},
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout


class LambdaCloud(FakeCloud):
    """Settings (configure): boot_polls, terminate_polls, launch_interval_s, quota."""

    prefixes = ("LAMBDA_", "SKYCORE_LAMBDA_")
    fixture_var = "SKYCORE_LAMBDA_FIXTURE_URL"

    def __init__(self, python: str, directory: pathlib.Path, exports: dict[str, str]) -> None:
        super().__init__(python, directory, exports)
        self.endpoint = self.env["SKYCORE_LAMBDA_ENDPOINT"]
        self.api_key = self.env["LAMBDA_API_KEY"]

    def api(self, method: str, path: str, body: Any = None, key: str | None = None):
        """One REST call: (status, body); `path` after /api/v1."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.endpoint}/{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {key or self.api_key}")
        request.add_header("Content-Type", "application/json")
        return send(request)

    def capacity(self, instance_type: str | None = None, **spec: Any) -> dict:
        """Where a type (None: every type) has capacity: regions=[...], or
        region=R with available=bool, or available=bool for all its regions."""
        body = {"instance_type": instance_type, **spec} if instance_type else spec
        return self.control("POST", "capacity", body)


class RunpodCloud(FakeCloud):
    """Settings (configure): start_polls."""

    prefixes = ("RUNPOD_", "SKYCORE_RUNPOD_")
    fixture_var = "SKYCORE_RUNPOD_FIXTURE_URL"

    def __init__(self, python: str, directory: pathlib.Path, exports: dict[str, str]) -> None:
        super().__init__(python, directory, exports)
        self.endpoint = self.env["SKYCORE_RUNPOD_ENDPOINT"]
        self.api_key = self.env["RUNPOD_API_KEY"]

    def graphql(self, query: str, variables: dict | None = None, key: str | None = None):
        """One GraphQL request: (status, body)."""
        body = {"query": query} | ({"variables": variables} if variables else {})
        request = urllib.request.Request(
            self.endpoint, data=json.dumps(body).encode(), method="POST"
        )
        request.add_header("Authorization", f"Bearer {key or self.api_key}")
        request.add_header("Content-Type", "application/json")
        return send(request)

    def preempt(self, pod_id: str, terminate: bool = False) -> dict:
        """An interruptible pod is outbid: EXITED (or gone), its machine killed."""
        return self.control("POST", "preempt", {"id": pod_id, "terminate": terminate})

    def capacity(self, gpu_type: str, gpus: int | None) -> dict:
        """How many GPUs of a type are free (None: any number)."""
        return self.control("POST", "capacity", {"gpu_type": gpu_type, "gpus": gpus})
