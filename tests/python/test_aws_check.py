"""`sky check aws` with the real `sky` binary against the AWS test cloud
(scripts/cloud-test-fixture): one test per credential source of the chain
(environment, shared files, AssumeRole, credential_process, nothing at all),
each asserting that the message names the source it used or says why none
worked; SigV4 checked for real by moto (`--sigv4`); service-specific endpoint
variables; and the check's cache in the state directory.

Every test has a HOME of its own (so ~/.aws is the test's), no AWS_* variable
of the caller, and AWS_EC2_METADATA_DISABLED=true: nothing leaves loopback."""

from __future__ import annotations

import json
import os
import pathlib
import re
import socket
import stat
import subprocess
import textwrap
import time
from collections.abc import Iterator

import cloud_fixture
import pytest
from cloud_fixture import AwsCloud

MOTO_ACCOUNT = "123456789012"
ROLE_NAME = "sky-check-role"
ROLE_ARN = f"arn:aws:iam::{MOTO_ACCOUNT}:role/{ROLE_NAME}"
# Keys moto (without --sigv4) accepts as any other; unique so a grep finds them.
KEY_ID = "AKIASKYCHECKKEY00001"
SECRET = "sky-check-secret-7f3a9c1e5b2d4f60"


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sky_env(tmp_path: pathlib.Path, cloud: AwsCloud, keys: bool = True) -> dict[str, str]:
    """An isolated `sky`: its own state dir and HOME, the caller's AWS_*
    variables gone, the cloud's endpoint and region; its keys only if `keys`."""
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    (state / "config.yaml").write_text(
        f"aws:\n  ssh_user: {cloud.env['SKYCORE_TEST_NODE_USER']}\n  image_id: {cloud.image_id}\n"
    )
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(cloud.env)
    if not keys:
        del env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    env.update(
        SKYCORE_STATE_DIR=str(state),
        SKYCORE_SSH_CONTROL_DIR=f"/tmp/skyctl-{os.getpid()}-{tmp_path.name[-12:]}",
        AWS_EC2_METADATA_DISABLED="true",
        HOME=str(home),
        CI="true",
    )
    return env


def write(path: pathlib.Path, text: str, mode: int = 0o600) -> pathlib.Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip())
    path.chmod(mode)
    return path


def sky(
    sky_bin: str, env: dict, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sky_bin, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def check(sky_bin: str, env: dict, enabled: bool) -> str:
    """`sky check aws`, asserted enabled (or not); its output on one line
    (the reason may wrap) without a traceback."""
    result = sky(sky_bin, env, "check", "aws")
    out = result.stdout + result.stderr
    assert "Traceback" not in out and "AddressSanitizer" not in out, out
    if enabled:
        assert result.returncode == 0, out
        assert re.search(r"AWS: enabled", out), out
    else:
        assert result.returncode != 0, out
        assert re.search(r"AWS: disabled", out), out
    return " ".join(out.split())


def process_script(tmp_path: pathlib.Path, name: str, body: str) -> pathlib.Path:
    return write(tmp_path / "bin" / name, "#!/bin/sh\n" + textwrap.dedent(body), mode=0o700)


def credentials_json(expiration: str | None) -> str:
    document = {"Version": 1, "AccessKeyId": KEY_ID, "SecretAccessKey": SECRET}
    if expiration:
        document |= {"SessionToken": "sky-check-token", "Expiration": expiration}
    return json.dumps(document)


def iso(seconds_from_now: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds_from_now))


# ---------------------------------------------------------------- 1. environment


def test_environment_keys(sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud) -> None:
    env = sky_env(tmp_path, aws_cloud)
    out = check(sky_bin, env, enabled=True)
    assert "credentials from environment variables" in out, out
    identity = aws_cloud.boto3_client("sts").get_caller_identity()
    assert f"account {identity['Account']}" in out, out
    assert identity["Arn"] in out, out
    assert aws_cloud.count("GetCallerIdentity") == 2  # ours, then boto3's


# ---------------------------------------------------------------- 2. shared files


def test_profile_in_credentials_file(
    sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud
) -> None:
    env = sky_env(tmp_path, aws_cloud, keys=False)
    home = pathlib.Path(env["HOME"])
    write(
        home / ".aws" / "credentials",
        f"""
        [default]
        aws_access_key_id = AKIAOTHERPROFILE0001
        aws_secret_access_key = not-this-one
        [dev]
        aws_access_key_id = {KEY_ID}
        aws_secret_access_key = {SECRET}
        """,
    )
    out = check(sky_bin, {**env, "AWS_PROFILE": "dev"}, enabled=True)
    assert "credentials from profile 'dev' in ~/.aws/credentials" in out, out
    assert f"account {MOTO_ACCOUNT}" in out, out


def test_shared_files_elsewhere(sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud) -> None:
    env = sky_env(tmp_path, aws_cloud, keys=False)
    elsewhere = tmp_path / "elsewhere"
    credentials = write(
        elsewhere / "creds.ini",
        f"""
        [team]
        aws_access_key_id = {KEY_ID}
        aws_secret_access_key = {SECRET}
        """,
    )
    config = write(
        elsewhere / "config.ini",
        """
        [profile team]
        region = us-west-2
        """,
    )
    env |= {
        "AWS_PROFILE": "team",
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_CONFIG_FILE": str(config),
    }
    del env["AWS_DEFAULT_REGION"]
    out = check(sky_bin, env, enabled=True)
    assert f"credentials from profile 'team' in {credentials}" in out, out
    # The profile's region (from the config file elsewhere) is where the check went.
    regions = {r["region"] for r in aws_cloud.requests("GetCallerIdentity")}
    assert regions == {"us-west-2"}, regions


def test_missing_profile_names_the_existing_ones(
    sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud
) -> None:
    env = sky_env(tmp_path, aws_cloud, keys=False)
    home = pathlib.Path(env["HOME"])
    write(
        home / ".aws" / "credentials",
        f"""
        [default]
        aws_access_key_id = {KEY_ID}
        aws_secret_access_key = {SECRET}
        [staging]
        aws_access_key_id = {KEY_ID}
        aws_secret_access_key = {SECRET}
        """,
    )
    write(home / ".aws" / "config", "[profile prod]\nregion = us-east-1\n")
    out = check(sky_bin, {**env, "AWS_PROFILE": "stagin"}, enabled=False)
    assert "profile 'stagin' not in ~/.aws/credentials or ~/.aws/config" in out, out
    assert "named by AWS_PROFILE" in out, out
    assert "did you mean 'staging'?" in out, out
    assert "profiles there: 'default', 'prod' and 'staging'; did you mean" in out, out
    # A named profile that is missing is an error, not a fall-through to default.
    assert aws_cloud.count("GetCallerIdentity") == 0


# ---------------------------------------------------------------- 3. AssumeRole


def role_profiles(env: dict[str, str]) -> None:
    home = pathlib.Path(env["HOME"])
    write(
        home / ".aws" / "credentials",
        f"""
        [base]
        aws_access_key_id = {KEY_ID}
        aws_secret_access_key = {SECRET}
        """,
    )
    write(
        home / ".aws" / "config",
        f"""
        [profile deploy]
        role_arn = {ROLE_ARN}
        source_profile = base
        role_session_name = sky-check
        """,
    )


def create_role(cloud: AwsCloud) -> None:
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{MOTO_ACCOUNT}:root"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
    cloud.boto3_client("iam").create_role(
        RoleName=ROLE_NAME, AssumeRolePolicyDocument=json.dumps(trust)
    )


def test_assume_role(sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud) -> None:
    create_role(aws_cloud)
    env = sky_env(tmp_path, aws_cloud, keys=False)
    role_profiles(env)
    out = check(sky_bin, {**env, "AWS_PROFILE": "deploy"}, enabled=True)
    assert f"credentials from role {ROLE_ARN} assumed with profile 'base'" in out, out
    # moto's identity for the assumed role's session.
    assert f"arn:aws:sts::{MOTO_ACCOUNT}:assumed-role/{ROLE_NAME}/sky-check" in out, out
    [assume] = aws_cloud.requests("AssumeRole")
    assert assume["params"]["RoleArn"] == ROLE_ARN, assume
    assert assume["params"]["RoleSessionName"] == "sky-check", assume


def test_assume_role_refused(sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud) -> None:
    create_role(aws_cloud)
    env = sky_env(tmp_path, aws_cloud, keys=False)
    role_profiles(env)
    aws_cloud.fault(
        "AssumeRole",
        "AccessDenied",
        message=f"User is not authorized to perform: sts:AssumeRole on resource: {ROLE_ARN}",
        http_status=403,
        times=-1,
    )
    out = check(sky_bin, {**env, "AWS_PROFILE": "deploy"}, enabled=False)
    assert f"AWS profile 'deploy': cannot assume role {ROLE_ARN}" in out, out
    assert "with profile 'base' in ~/.aws/credentials" in out, out
    assert "AccessDenied: User is not authorized to perform: sts:AssumeRole" in out, out
    assert "trust policy" in out, out
    # Refused is refused: no retry, and nothing called with the source's keys.
    assert aws_cloud.count("AssumeRole") == 1
    assert aws_cloud.count("GetCallerIdentity") == 0


# ---------------------------------------------------------------- 4. credential_process


def test_credential_process(sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud) -> None:
    env = sky_env(tmp_path, aws_cloud, keys=False)
    script = process_script(tmp_path, "creds", f"echo '{credentials_json(iso(3600))}'\n")
    write(
        pathlib.Path(env["HOME"]) / ".aws" / "config",
        f"[default]\ncredential_process = {script} --profile default\n",
    )
    out = check(sky_bin, env, enabled=True)
    assert "credentials from credential_process of profile 'default'" in out, out
    assert f"account {MOTO_ACCOUNT}" in out, out


def test_credential_process_fails(
    sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud
) -> None:
    env = sky_env(tmp_path, aws_cloud, keys=False)
    # Much more stderr than a message holds: the tail, with the last line, is kept.
    script = process_script(
        tmp_path,
        "creds-fail",
        """
        i=0
        while [ $i -lt 100 ]; do echo "noise line $i of the helper" >&2; i=$((i+1)); done
        echo 'Error: the SSO session has ended; run aws sso login' >&2
        exit 1
        """,
    )
    write(
        pathlib.Path(env["HOME"]) / ".aws" / "config", f"[default]\ncredential_process = {script}\n"
    )
    out = check(sky_bin, env, enabled=False)
    assert "credential_process of profile 'default'" in out, out
    assert "failed with exit code 1" in out, out
    assert "Error: the SSO session has ended; run aws sso login" in out, out
    assert "noise line 0 of" not in out, out
    assert aws_cloud.count("GetCallerIdentity") == 0


def test_credential_process_expired(
    sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud
) -> None:
    env = sky_env(tmp_path, aws_cloud, keys=False)
    expiration = iso(-7200)
    script = process_script(tmp_path, "creds-old", f"echo '{credentials_json(expiration)}'\n")
    write(
        pathlib.Path(env["HOME"]) / ".aws" / "config", f"[default]\ncredential_process = {script}\n"
    )
    out = check(sky_bin, env, enabled=False)
    assert "credentials from credential_process of profile 'default' expired at" in out, out
    assert expiration in out, out
    assert re.search(r"\(1[12]\d min ago\)", out), out
    assert aws_cloud.count("GetCallerIdentity") == 0


# ---------------------------------------------------------------- 5. nothing at all


def test_no_credentials(sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud) -> None:
    env = sky_env(tmp_path, aws_cloud, keys=False)
    out = check(sky_bin, env, enabled=False)
    assert (
        "no AWS credentials found: environment variables not set; "
        "profile 'default' not in ~/.aws/credentials or ~/.aws/config; "
        "instance metadata disabled (AWS_EC2_METADATA_DISABLED=true)"
    ) in out, out
    assert "aws configure" in out, out

    launch = sky(sky_bin, env, "launch", "-y", "-c", "nocreds", "--infra", "aws", "--", "true")
    launched = launch.stdout + launch.stderr
    assert launch.returncode != 0, launched
    assert "Traceback" not in launched and "AddressSanitizer" not in launched, launched
    # The launch checks AWS on the spot and says why it is off, then refuses.
    assert "AWS is not enabled: no AWS credentials found: environment variables not set" in (
        launched
    ), launched
    assert "`sky check`" in launched, launched
    # The error is AWS's reason, not the optimizer's "nothing fits" that
    # would suggest infras the task did not ask for.
    assert "asks only for infras that are not enabled" in launched, launched
    assert "Did you mean" not in launched, launched
    assert aws_cloud.count("RunInstances") == 0
    status = sky(sky_bin, env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "nocreds" not in status.stdout, status.stdout
    assert "INIT" not in status.stdout, status.stdout


# ---------------------------------------------------------------- 6. expired sessions


def test_expired_session_credentials(
    sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud
) -> None:
    """moto accepts any AWS_SESSION_TOKEN (it never checks tokens, nor their
    age), so an expired session cannot come from the cloud's refusal here.
    What skycore can and does check is the expiry the source itself states:
    AWS_CREDENTIAL_EXPIRATION next to environment keys, and the Expiration of
    a named profile's credential_process (as `aws sso`/`aws configure
    export-credentials` print): both in the past are refused before any call."""
    env = sky_env(tmp_path, aws_cloud)
    env |= {"AWS_SESSION_TOKEN": "sky-check-token", "AWS_CREDENTIAL_EXPIRATION": iso(-600)}
    out = check(sky_bin, env, enabled=False)
    assert "credentials from environment variables expired at" in out, out
    assert "renew them" in out, out

    env = sky_env(tmp_path, aws_cloud, keys=False)
    script = process_script(tmp_path, "sso-export", f"echo '{credentials_json(iso(-60))}'\n")
    write(
        pathlib.Path(env["HOME"]) / ".aws" / "config",
        f"[profile sso]\ncredential_process = {script}\nregion = us-east-1\n",
    )
    out = check(sky_bin, {**env, "AWS_PROFILE": "sso"}, enabled=False)
    assert "credentials from credential_process of profile 'sso' expired at" in out, out
    assert aws_cloud.count("GetCallerIdentity") == 0


# ---------------------------------------------------------------- 7. SigV4 for real


@pytest.fixture(scope="module")
def sigv4_cloud() -> Iterator[AwsCloud]:
    """A second test cloud whose moto checks every signature against an IAM
    user's real keys (the ones it exports)."""
    with cloud_fixture.running_cloud("--sigv4") as cloud:
        yield cloud


def test_sigv4_checked(sky_bin: str, tmp_path: pathlib.Path, sigv4_cloud: AwsCloud) -> None:
    env = sky_env(tmp_path, sigv4_cloud)
    key_id, secret = env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    assert key_id != "testing" and secret != "testing", "--sigv4 exports a real IAM user's keys"
    out = check(sky_bin, env, enabled=True)
    assert "credentials from environment variables" in out, out
    assert re.search(rf"arn:aws:iam::{MOTO_ACCOUNT}:user/\S+", out), out

    # The right key id with a wrong secret, from a profile.
    profile_env = sky_env(tmp_path, sigv4_cloud, keys=False)
    wrong = secret[:-4] + ("AAAA" if not secret.endswith("AAAA") else "BBBB")
    write(
        pathlib.Path(profile_env["HOME"]) / ".aws" / "credentials",
        f"""
        [bad]
        aws_access_key_id = {key_id}
        aws_secret_access_key = {wrong}
        [tampered]
        aws_access_key_id = {key_id[:-1]}{"X" if not key_id.endswith("X") else "Y"}
        aws_secret_access_key = {secret}
        """,
    )
    out = check(sky_bin, {**profile_env, "AWS_PROFILE": "bad"}, enabled=False)
    assert "refused the credentials from profile 'bad' in ~/.aws/credentials" in out, out
    assert "SignatureDoesNotMatch" in out, out
    assert "secret access key does not belong to the access key id" in out, out
    assert wrong not in out, out

    out = check(sky_bin, {**profile_env, "AWS_PROFILE": "tampered"}, enabled=False)
    assert "refused the credentials from profile 'tampered' in ~/.aws/credentials" in out, out
    assert "InvalidClientTokenId" in out, out


# ---------------------------------------------------------------- 8. endpoints


def test_service_endpoints_win(sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud) -> None:
    env = sky_env(tmp_path, aws_cloud)
    dead = f"http://127.0.0.1:{closed_port()}"
    env |= {
        "AWS_ENDPOINT_URL": dead,
        "AWS_ENDPOINT_URL_STS": aws_cloud.endpoint,
        "AWS_ENDPOINT_URL_EC2": aws_cloud.endpoint,
    }
    out = check(sky_bin, env, enabled=True)
    assert "credentials from environment variables" in out, out
    assert aws_cloud.count("GetCallerIdentity") == 1
    assert aws_cloud.count("DescribeRegions") == 1

    env |= {"AWS_ENDPOINT_URL": aws_cloud.endpoint, "AWS_ENDPOINT_URL_STS": dead}
    start = time.monotonic()
    out = check(sky_bin, env, enabled=False)
    assert time.monotonic() - start < 20, out
    assert f"cannot reach {dead}" in out, out
    assert "AWS STS GetCallerIdentity in us-east-1" in out, out
    assert aws_cloud.count("GetCallerIdentity") == 1  # nothing new reached the cloud


def test_silent_endpoint_is_bounded(
    sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud
) -> None:
    """An STS endpoint that accepts connections and never answers (a hung
    proxy, a firewall that swallows packets): the check gives up within
    20 s, saying where it waited."""
    env = sky_env(tmp_path, aws_cloud)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel accepts; nobody reads or answers
        endpoint = f"http://127.0.0.1:{silent.getsockname()[1]}"
        start = time.monotonic()
        out = check(sky_bin, {**env, "AWS_ENDPOINT_URL_STS": endpoint}, enabled=False)
        elapsed = time.monotonic() - start
    assert elapsed < 20, (elapsed, out)
    assert f"AWS STS GetCallerIdentity in us-east-1: timed out at {endpoint}" in out, out
    assert "2 times over" in out and "giving up" in out, out


# ---------------------------------------------------------------- 9. the cache


def test_check_cache(sky_bin: str, tmp_path: pathlib.Path, aws_cloud: AwsCloud) -> None:
    env = sky_env(tmp_path, aws_cloud)
    env |= {"AWS_ACCESS_KEY_ID": KEY_ID, "AWS_SECRET_ACCESS_KEY": SECRET}
    check(sky_bin, env, enabled=True)
    state = pathlib.Path(env["SKYCORE_STATE_DIR"])
    cache = state / "aws" / "check.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    cached = json.loads(cache.read_text())
    assert cached["enabled"] is True and cached["source"] == "environment variables", cached
    for path in state.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path

    # `sky status` reads the cache: no AWS request, even with AWS unreachable.
    aws_cloud.control("DELETE", "requests")
    offline = {**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}"}
    status = sky(sky_bin, offline, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    enabled = re.search(r"Enabled Infra:(.*)", status.stdout)
    assert enabled and "AWS" in enabled.group(1).upper(), status.stdout
    assert aws_cloud.requests() == []
