"""The GCP fake of the cloud test fixture (tests/fixtures/cloud/gcp_fake.py)
for tests: its exports, control API, a plain REST client (stdlib) and a way to
run google-api-python-client against it in the fixture's venv. Reached through
`AwsCloud.gcp()` (cloud_fixture.py) or conftest.py's `gcp_cloud` fixture."""

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

# Runs in the fixture's venv before a test's script: `creds` (google-auth's
# service-account credentials from GOOGLE_APPLICATION_CREDENTIALS, refreshed at
# the fake's token endpoint), `compute` and `tpu` (googleapiclient resources
# built from the shipped discovery documents, pointed at the fake), `project`,
# `HttpError`.
GOOGLE_SDK_PRELUDE = textwrap.dedent(
    """
    import json, os, pathlib
    import googleapiclient
    from googleapiclient.discovery import build_from_document
    from googleapiclient.errors import HttpError
    from google.oauth2 import service_account

    DOCS = pathlib.Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    creds = service_account.Credentials.from_service_account_file(
        os.environ["GOOGLE_APPLICATION_CREDENTIALS"],
        scopes=["https://www.googleapis.com/auth/cloud-platform"])
    project = os.environ["GOOGLE_CLOUD_PROJECT"]
    compute = build_from_document(
        (DOCS / "compute.v1.json").read_text(), credentials=creds,
        client_options={"api_endpoint": os.environ["SKYCORE_GCP_COMPUTE_ENDPOINT"]})
    # TPU paths start with v2/: the client's endpoint is the one above them.
    tpu = build_from_document(
        (DOCS / "tpu.v2.json").read_text(), credentials=creds,
        client_options={"api_endpoint": os.environ["SKYCORE_GCP_TPU_ENDPOINT"][: -len("v2/")]})
    """
)


class GcpAnswer:
    """One answer of the GCP fake: status, headers, parsed JSON body (or None)."""

    def __init__(self, status: int, headers: dict[str, str], body: Any) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def reason(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        if isinstance(error, dict):
            return ((error.get("errors") or [{}])[0]).get("reason") or error.get("status")
        return error

    def __repr__(self) -> str:
        return f"GcpAnswer({self.status}, {self.body!r})"


class GcpCloud:
    def __init__(self, python: str, directory: pathlib.Path, exports: dict[str, str]) -> None:
        self.python = python
        self.directory = directory
        keep = ("SKYCORE_CLOUD_FIXTURE_DIR", "SKYCORE_TEST_NODE_USER")
        self.env = {
            k: v
            for k, v in exports.items()
            if k.startswith(("GOOGLE_", "SKYCORE_GCP_")) or k in keep
        }
        self.url = self.env["SKYCORE_GCP_FIXTURE_URL"]
        self.compute_endpoint = self.env["SKYCORE_GCP_COMPUTE_ENDPOINT"]
        self.tpu_endpoint = self.env["SKYCORE_GCP_TPU_ENDPOINT"]
        self.token_uri = self.env["SKYCORE_GCP_TOKEN_URI"]
        self.project = self.env["GOOGLE_CLOUD_PROJECT"]
        self.key_file = pathlib.Path(self.env["GOOGLE_APPLICATION_CREDENTIALS"])
        self.adc_file = pathlib.Path(self.env["SKYCORE_GCP_ADC_FILE"])
        self._token: str | None = None

    # ------------------------------------------------------------ control API

    def control(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.load(response)
        except urllib.error.HTTPError as e:
            detail = e.read().decode()
            raise RuntimeError(f"{method} /_fixture/gcp/{path}: {e.code} {detail}") from e

    def fault(self, code: str, times: int = 1, **match: Any) -> dict:
        """The next `times` matching calls fail with `code`. `match` keys:
        method ("instances.insert", "nodes.create", "oauth2.token", ...), zone,
        machine_type, provisioning_model ("SPOT"/"STANDARD"), name,
        accelerator_type; also message, status, mode ("operation"/"http")."""
        return self.control("POST", "fault", {"code": code, "times": times, **match})

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def preempt(self, name: str, zone: str | None = None) -> dict:
        return self.control("POST", "preempt", {"name": name} | ({"zone": zone} if zone else {}))

    def kill_node(self, name: str) -> dict:
        """The instance's machine dies; GCE still says RUNNING."""
        return self.control("POST", "kill-node", {"name": name})

    def nodes(self) -> list[dict]:
        return self.control("GET", "nodes")

    def node(self, instance: str) -> dict:
        return next(n for n in self.nodes() if n["instance"] == instance)

    def resources(self) -> dict:
        """{"instances", "firewalls", "tpu_nodes": [links], "count"}: leaks."""
        return self.control("GET", "resources")

    def requests(self, **match: str) -> list[dict]:
        """The logged API calls, oldest first; match: method, operation, status."""
        query = urllib.parse.urlencode(match)
        return self.control("GET", "requests" + (f"?{query}" if query else ""))["requests"]

    def count(self, **match: str) -> int:
        return len(self.requests(**match))

    def reset(self) -> None:
        """No instances, firewalls, TPU nodes, machines, faults or logged calls."""
        self.control("POST", "reset")
        self._token = None

    def set_token(self, lifetime_s: int | None = None, revoke: bool = False) -> dict:
        spec: dict[str, Any] = {"revoke": revoke}
        if lifetime_s is not None:
            spec["lifetime_s"] = lifetime_s
        return self.control("POST", "token", spec)

    def configure(self, **settings: Any) -> dict:
        """op_polls (polls an operation answers before DONE), wait_finishes
        (zoneOperations.wait ends the operation), page_size, validate."""
        return self.control("POST", "config", settings)

    # ------------------------------------------------------------ REST

    def token_request(self, **form: str) -> GcpAnswer:
        """POSTs a form to the token endpoint (default: the ADC file's refresh token)."""
        if not form:
            adc = json.loads(self.adc_file.read_text())
            form = {
                "grant_type": "refresh_token",
                "client_id": adc["client_id"],
                "client_secret": adc["client_secret"],
                "refresh_token": adc["refresh_token"],
            }
        data = urllib.parse.urlencode(form).encode()
        return self._send(urllib.request.Request(self.token_uri, data=data, method="POST"))

    def token(self) -> str:
        if self._token is None:
            answer = self.token_request()
            assert answer.status == 200, answer
            self._token = answer.body["access_token"]
        return self._token

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> GcpAnswer:
        """One API request; `path` is relative to the Compute endpoint
        (`projects/P/zones/Z/instances`), or a full URL (TPU, selfLinks)."""
        url = path if path.startswith("http") else self.compute_endpoint + path
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        if token != "":
            request.add_header("Authorization", f"Bearer {token or self.token()}")
        return self._send(request)

    def _send(self, request: urllib.request.Request) -> GcpAnswer:
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            status, headers, raw = e.code, e.headers, e.read()
        lowered = {k.lower(): v for k, v in headers.items()}
        return GcpAnswer(status, lowered, json.loads(raw) if raw.strip() else None)

    def run_python(self, script: str, env: dict[str, str] | None = None) -> str:
        """Runs GOOGLE_SDK_PRELUDE + `script` in the fixture's venv with this cloud's env."""
        result = subprocess.run(
            [self.python, "-c", GOOGLE_SDK_PRELUDE + textwrap.dedent(script)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **self.env, **(env or {})},
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout
