"""The AWS test cloud (scripts/cloud-test-fixture) for tests: moto behind a
proxy that serves every running instance as a loopback sshd machine, with
fault injection (tests/fixtures/cloud/README.md has the control API). The same
fixture process serves the Azure fake: `AwsCloud.azure()` / `AzureCloud`, the
GCP fake: `AwsCloud.gcp()` / `GcpCloud` (gcp_cloud.py), and the Lambda Cloud and
RunPod fakes: `AwsCloud.lambda_cloud()` / `LambdaCloud`, `AwsCloud.runpod()` /
`RunpodCloud` (cloud_fakes.py).

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
import ipaddress
import json
import os
import pathlib
import re
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
from cloud_fakes import LambdaCloud, RunpodCloud, is_fake_var
from gcp_cloud import GcpCloud

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


def is_azure_var(name: str) -> bool:
    return name.startswith(("AZURE_", "SKYCORE_AZURE_"))


def is_gcp_var(name: str) -> bool:
    return name.startswith(("GOOGLE_", "SKYCORE_GCP_"))


class AwsCloud:
    def __init__(self, python: str, directory: pathlib.Path, env: dict[str, str]) -> None:
        self.python = python
        self.directory = directory
        self.exports = env  # everything `up` printed, the Azure fake's too
        # Merge into a subprocess's environment: AWS only (no other cloud's credentials).
        self.env = {
            k: v
            for k, v in env.items()
            if not is_azure_var(k) and not is_gcp_var(k) and not is_fake_var(k)
        }
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

    def azure(self) -> AzureCloud:
        """The Azure fake the same fixture process serves."""
        return AzureCloud(self.python, self.directory, self.exports)

    def gcp(self) -> GcpCloud:
        """The GCP fake the same fixture process serves."""
        return GcpCloud(self.python, self.directory, self.exports)

    def lambda_cloud(self) -> LambdaCloud:
        """The Lambda Cloud fake the same fixture process serves."""
        return LambdaCloud(self.python, self.directory, self.exports)

    def runpod(self) -> RunpodCloud:
        """The RunPod fake the same fixture process serves."""
        return RunpodCloud(self.python, self.directory, self.exports)

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


# Runs in the fixture's venv before a test's script: `credential` (a
# TokenCredential that POSTs the exported service principal's secret to the
# fake's token endpoint), `client_kwargs` for the azure-mgmt-* clients (the
# fake's base URL, bearer tokens over http, fast LRO polling), `sub`.
AZURE_SDK_PRELUDE = textwrap.dedent(
    """
    import json, os, time, urllib.parse, urllib.request
    from azure.core.credentials import AccessToken
    from azure.core.exceptions import HttpResponseError
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.core.policies import ARMChallengeAuthenticationPolicy
    from azure.mgmt.network import NetworkManagementClient
    from azure.mgmt.resource.resources import ResourceManagementClient

    class FixtureCredential:
        def get_token(self, *scopes, **kwargs):
            authority = os.environ["AZURE_AUTHORITY_HOST"].rstrip("/")
            url = f"{authority}/{os.environ['AZURE_TENANT_ID']}/oauth2/v2.0/token"
            form = {"grant_type": "client_credentials", "scope": " ".join(scopes),
                    "client_id": os.environ["AZURE_CLIENT_ID"],
                    "client_secret": os.environ["AZURE_CLIENT_SECRET"]}
            data = urllib.parse.urlencode(form).encode()
            with urllib.request.urlopen(url, data=data, timeout=30) as response:
                body = json.load(response)
            return AccessToken(body["access_token"], int(time.time()) + body["expires_in"])

    class HttpBearerPolicy(ARMChallengeAuthenticationPolicy):
        # azure-core refuses bearer tokens over http unless the request's
        # options say enforce_https=False; a client-level kwarg does not reach it.
        def on_request(self, request):
            request.context.options["enforce_https"] = False
            super().on_request(request)

    credential = FixtureCredential()
    sub = os.environ["AZURE_SUBSCRIPTION_ID"]
    client_kwargs = {
        "base_url": os.environ["AZURE_RESOURCE_MANAGER_ENDPOINT"].rstrip("/"),
        "polling_interval": 0.01,
        "authentication_policy": HttpBearerPolicy(
            credential, "https://management.azure.com/.default"),
    }
    resource = ResourceManagementClient(credential, sub, **client_kwargs)
    network = NetworkManagementClient(credential, sub, **client_kwargs)
    compute = ComputeManagementClient(credential, sub, **client_kwargs)
    """
)


class ArmAnswer:
    """One answer of the Azure fake: status, headers, parsed JSON body (or None)."""

    def __init__(self, status: int, headers: dict[str, str], body: Any) -> None:
        self.status, self.headers, self.body = status, headers, body

    @property
    def code(self) -> str | None:
        error = self.body.get("error") if isinstance(self.body, dict) else None
        return error.get("code") if isinstance(error, dict) else error

    def __repr__(self) -> str:
        return f"ArmAnswer({self.status}, {self.body!r})"


class AzureCloud:
    """The Azure fake of a running fixture: its exports, control API, and a
    plain REST client (stdlib) for tests that check answers byte by byte."""

    COMPUTE_API = "2026-04-01"  # what azure-mgmt-compute 39.0.0 sends
    NETWORK_API = "2026-03-01"  # azure-mgmt-network 33.1.0
    RESOURCES_API = "2025-04-01"  # azure-mgmt-resource 26.0.0

    def __init__(self, python: str, directory: pathlib.Path, exports: dict[str, str]) -> None:
        self.python = python
        self.directory = directory
        keep = ("SKYCORE_CLOUD_FIXTURE_DIR", "SKYCORE_TEST_NODE_USER")
        self.env = {k: v for k, v in exports.items() if is_azure_var(k) or k in keep}
        self.url = self.env["SKYCORE_AZURE_FIXTURE_URL"]
        self.base = self.env["AZURE_RESOURCE_MANAGER_ENDPOINT"].rstrip("/")
        self.tenant = self.env["AZURE_TENANT_ID"]
        self.client_id = self.env["AZURE_CLIENT_ID"]
        self.secret = self.env["AZURE_CLIENT_SECRET"]
        self.subscription = self.env["AZURE_SUBSCRIPTION_ID"]
        self.token_url = f"{self.base}/{self.tenant}/oauth2/v2.0/token"
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
            raise RuntimeError(
                f"{method} /_fixture/azure/{path}: {e.code} {e.read().decode()}"
            ) from e

    def fault(self, code: str, times: int = 1, **match: Any) -> dict:
        """The next `times` matching requests fail with `code`. `match` keys:
        method, type ("virtualMachines", ..., "token"), action, location,
        vm_size, priority, name; also message, status, mode ("sync"/"async"),
        retry_after."""
        return self.control("POST", "fault", {"code": code, "times": times, **match})

    def clear_faults(self) -> None:
        self.control("DELETE", "faults")

    def evict(self, name: str, resource_group: str | None = None) -> dict:
        spec = {"name": name} | ({"resource_group": resource_group} if resource_group else {})
        return self.control("POST", "evict", spec)

    def kill_node(self, name: str) -> dict:
        """The VM's machine dies; ARM still says running."""
        return self.control("POST", "kill-node", {"name": name})

    def nodes(self) -> list[dict]:
        return self.control("GET", "nodes")

    def node(self, vm_name: str) -> dict:
        return next(n for n in self.nodes() if (n["vm"] or "").endswith(f"/{vm_name}"))

    def resources(self) -> list[str]:
        """Every resource id the fake holds (resource groups included)."""
        return self.control("GET", "resources")["resources"]

    def requests(self, **match: str) -> list[dict]:
        """The logged requests, oldest first; match: method, type, action, status."""
        query = urllib.parse.urlencode(match)
        return self.control("GET", "requests" + (f"?{query}" if query else ""))["requests"]

    def count(self, **match: str) -> int:
        return len(self.requests(**match))

    def reset(self) -> None:
        """No resources, machines, faults or logged requests; default settings."""
        self.control("POST", "reset")
        self._token = None

    def set_token(self, lifetime_s: int | None = None, revoke: bool = False) -> dict:
        """Lifetime of the tokens issued from now on; `revoke`: all issued ones die."""
        spec: dict[str, Any] = {"revoke": revoke}
        if lifetime_s is not None:
            spec["lifetime_s"] = lifetime_s
        return self.control("POST", "token", spec)

    def configure(self, **settings: Any) -> dict:
        """lro_polls (InProgress answers before an operation ends), retry_after
        (the Retry-After header), page_size (list answers per page)."""
        return self.control("POST", "config", settings)

    # ------------------------------------------------------------ REST

    def token_request(self, **form: str) -> ArmAnswer:
        """POSTs a form to the token endpoint (defaults: the service principal's secret)."""
        fields = {
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "scope": "https://management.azure.com/.default",
            **form,
        }
        if "client_assertion" not in fields:
            fields.setdefault("client_secret", self.secret)
        url = form.pop("url", None) or self.token_url
        fields.pop("url", None)
        data = urllib.parse.urlencode(fields).encode()
        return self._send(urllib.request.Request(url, data=data, method="POST"))

    def token(self) -> str:
        if self._token is None:
            answer = self.token_request()
            assert answer.status == 200, answer
            self._token = answer.body["access_token"]
        return self._token

    def arm(
        self,
        method: str,
        path: str,
        body: Any = None,
        api_version: str | None = None,
        token: str | None = None,
    ) -> ArmAnswer:
        """One ARM request; `path` starts at /subscriptions/... (or is a full
        URL, e.g. an Azure-AsyncOperation one); api-version added if absent."""
        url = path if path.startswith("http") else self.base + path
        if api_version is None and "api-version=" not in url:
            kind = "Network" if "Microsoft.Network" in url else "Compute"
            api_version = (
                self.RESOURCES_API
                if "Microsoft." not in url
                else (self.NETWORK_API if kind == "Network" else self.COMPUTE_API)
            )
        if api_version:
            url += ("&" if "?" in url else "?") + f"api-version={api_version}"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Content-Type", "application/json")
        request.add_header("Authorization", f"Bearer {token or self.token()}")
        return self._send(request)

    def wait(self, answer: ArmAnswer, polls: int = 50) -> ArmAnswer:
        """Polls an answer's Azure-AsyncOperation (else Location) URL until the
        operation ends; the last poll's answer."""
        url = answer.headers.get("azure-asyncoperation") or answer.headers.get("location")
        assert url, answer
        for _ in range(polls):
            last = self.arm("GET", url)
            if last.status != 202 and (last.body or {}).get("status") != "InProgress":
                return last
        raise AssertionError(f"operation still running after {polls} polls: {url}")

    def rg_path(self, rg: str) -> str:
        return f"/subscriptions/{self.subscription}/resourceGroups/{rg}"

    def _send(self, request: urllib.request.Request) -> ArmAnswer:
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                status, headers, raw = response.status, response.headers, response.read()
        except urllib.error.HTTPError as e:
            status, headers, raw = e.code, e.headers, e.read()
        lowered = {k.lower(): v for k, v in headers.items()}
        return ArmAnswer(status, lowered, json.loads(raw) if raw.strip() else None)

    def run_python(self, script: str, env: dict[str, str] | None = None) -> str:
        """Runs AZURE_SDK_PRELUDE + `script` in the fixture's venv with this cloud's env."""
        result = subprocess.run(
            [self.python, "-c", AZURE_SDK_PRELUDE + textwrap.dedent(script)],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, **self.env, **(env or {})},
            check=False,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        return result.stdout


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


# ---------------------------------------------------------------- a `sky` pointed at test clouds

# Every variable by which a cloud SDK or skycore finds a cloud: none of the
# caller's may reach a `sky` under test, only the fixtures' own.
CLOUD_VARIABLES = (
    "AWS_",
    "AZURE_",
    "GOOGLE_",
    "CLOUDSDK_",
    "LAMBDA_",
    "RUNPOD_",
    "SKYCORE_AZURE_",
    "SKYCORE_GCP_",
    "SKYCORE_LAMBDA_",
    "SKYCORE_RUNPOD_",
)


@contextlib.contextmanager
def cloud_env(
    tmp_path: pathlib.Path,
    sky_bin: str,
    config: str,
    *clouds: Any,
    down_timeout: float = 120,
) -> Iterator[dict[str, str]]:
    """The environment of one isolated `sky` pointed at `clouds` (fixtures
    with an `env`): its own state dir holding `config` as config.yaml, its own
    HOME and SSH control dir, and no cloud variable but the fixtures'. On exit
    every cluster a failed test left is taken down, then the control dir goes."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "config.yaml").write_text(config)
    home = tmp_path / "home"
    home.mkdir()
    control = pathlib.Path(f"/tmp/skyctl-{os.getpid()}-{tmp_path.name[-12:]}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(CLOUD_VARIABLES)}
    for cloud in clouds:
        env.update(cloud.env)
    env.update(
        SKYCORE_STATE_DIR=str(state),
        SKYCORE_SSH_CONTROL_DIR=str(control),
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(home),
        CI="true",
    )
    try:
        yield env
    finally:
        subprocess.run(
            [sky_bin, "down", "-a", "-y", "--purge"],
            env=env,
            capture_output=True,
            timeout=down_timeout,
            check=False,
        )
        sshd_fixture.remove_control_dir(control)


def node_user(cloud: Any) -> str:
    """The login user of the fixture's sshd nodes (the clouds' `ssh_user`)."""
    return cloud.env["SKYCORE_TEST_NODE_USER"]


def sky(sky_bin: str, env: dict, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sky_bin, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def launch(sky_bin: str, env: dict, name: str, *args: str) -> subprocess.CompletedProcess:
    return sky(sky_bin, env, "launch", "-y", "-c", name, *args)


def check_cloud(sky_bin: str, env: dict, cloud: str, enabled: str) -> str:
    """`sky check <cloud>` succeeds and its output matches `enabled` (a regex)."""
    check = sky(sky_bin, env, "check", cloud)
    assert check.returncode == 0, check.stdout + check.stderr
    assert re.search(enabled, check.stdout, re.I | re.S), check.stdout
    return check.stdout


def assert_loopback_only(text: str) -> None:
    """No IPv4 address outside 127.0.0.0/8 appears in `text`."""
    for match in re.findall(r"\b(\d{1,3}(?:\.\d{1,3}){3})\b", text):
        try:
            address = ipaddress.ip_address(match)
        except ValueError:
            continue
        assert address.is_loopback, f"non-loopback address {match} in:\n{text}"
