"""Kubernetes authentication with the real `sky` binary against the real test
control plane (scripts/k8s-test-cluster): a user whose credential comes from
an exec plugin (a script here, printing a service account's token), the
plugin's credential cached between `sky` runs and renewed when expired or
rejected, a failing or missing plugin, a rejected static token (check,
show-gpus and launch), an API server gone between `sky check` and `sky
launch`, and the in-cluster context of a pod."""

from __future__ import annotations

import base64
import json
import pathlib
import re
import stat
import time
import uuid
from collections.abc import Iterator

import k8s_fixture
import pytest
from k8s_fixture import K8sCluster, describe, sky

CONTEXT = "skycore-auth"
SERVICE_ACCOUNT = "skycore-auth-test"


@pytest.fixture(scope="module")
def admin_cluster(k8s_cluster: K8sCluster) -> dict:
    """The server and CA of context `skycore`, as the fixture's kubeconfig has them."""
    view = k8s_cluster.kubectl(
        "config", "view", "--raw", "--flatten", "--minify", "--context", "skycore", "-o", "json"
    )
    assert view.returncode == 0, view.stderr
    cluster = json.loads(view.stdout)["clusters"][0]["cluster"]
    server = cluster["server"]
    assert re.fullmatch(r"https://127\.0\.0\.1:\d+", server), server
    return {"server": server, "ca_data": cluster["certificate-authority-data"]}


@pytest.fixture(scope="module")
def sa_token(k8s_cluster: K8sCluster) -> Iterator[str]:
    """A token of a service account bound to cluster-admin."""
    created = k8s_cluster.kubectl("create", "serviceaccount", SERVICE_ACCOUNT, "-n", "default")
    assert created.returncode == 0, created.stderr
    bound = k8s_cluster.kubectl(
        "create",
        "clusterrolebinding",
        SERVICE_ACCOUNT,
        "--clusterrole=cluster-admin",
        f"--serviceaccount=default:{SERVICE_ACCOUNT}",
    )
    assert bound.returncode == 0, bound.stderr
    try:
        token = k8s_cluster.kubectl(
            "create", "token", SERVICE_ACCOUNT, "-n", "default", "--duration=1h"
        )
        assert token.returncode == 0, token.stderr
        yield token.stdout.strip()
    finally:
        k8s_cluster.kubectl("delete", "clusterrolebinding", SERVICE_ACCOUNT, "--wait=false")
        k8s_cluster.kubectl(
            "delete", "serviceaccount", SERVICE_ACCOUNT, "-n", "default", "--wait=false"
        )


def write_kubeconfig(path: pathlib.Path, server: str, ca_data: str, user: dict) -> pathlib.Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": CONTEXT,
        "clusters": [
            {"name": CONTEXT, "cluster": {"server": server, "certificate-authority-data": ca_data}}
        ],
        "users": [{"name": "auth-user", "user": user}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": "auth-user", "namespace": "default"},
            }
        ],
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


PLUGIN = """#!/usr/bin/env python3
import datetime, json, os, pathlib, sys
here = pathlib.Path(__file__).resolve().parent
with open(here / "count", "a") as counter:
    counter.write("run\\n")
(here / "request.json").write_text(os.environ.get("KUBERNETES_EXEC_INFO", ""))
if {fail!r}:
    print("error: the login session expired; run `auth-login`", file=sys.stderr)
    sys.exit(1)
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
print(json.dumps({{
    "apiVersion": "client.authentication.k8s.io/v1",
    "kind": "ExecCredential",
    "status": {{"token": {token!r}, "expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ")}},
}}))
"""


def write_plugin(dir: pathlib.Path, token: str, fail: bool = False) -> pathlib.Path:
    dir.mkdir(parents=True, exist_ok=True)
    path = dir / "auth-plugin"
    path.write_text(PLUGIN.format(token=token, fail=fail))
    path.chmod(0o755)
    return path


def runs(plugin: pathlib.Path) -> int:
    counter = plugin.parent / "count"
    return len(counter.read_text().splitlines()) if counter.exists() else 0


def exec_user(command: str, **extra: object) -> dict:
    return {
        "exec": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": command,
            "interactiveMode": "Never",
            **extra,
        }
    }


@pytest.fixture
def env(tmp_path: pathlib.Path, sky_bin: str, k8s_cluster: K8sCluster) -> dict:
    """A `sky` whose kubeconfig each test writes (at tmp_path/kubeconfig)."""
    env = k8s_fixture.sky_environment(tmp_path, k8s_cluster, sky_bin, check=False)
    env["KUBECONFIG"] = str(tmp_path / "kubeconfig")
    return env


def cache_files(env: dict) -> list[pathlib.Path]:
    return sorted((pathlib.Path(env["SKYCORE_STATE_DIR"]) / "kubernetes" / "credentials").glob("*"))


def test_exec_plugin_credential_is_cached_between_runs(
    sky_bin: str, env: dict, admin_cluster: dict, sa_token: str, tmp_path: pathlib.Path
) -> None:
    plugin = write_plugin(tmp_path / "plugin", sa_token)
    # A relative command with a '/' is relative to the kubeconfig's directory.
    write_kubeconfig(
        pathlib.Path(env["KUBECONFIG"]),
        admin_cluster["server"],
        admin_cluster["ca_data"],
        exec_user("./plugin/auth-plugin", provideClusterInfo=True),
    )
    check = sky(sky_bin, env, "check", "kubernetes")
    assert check.returncode == 0, describe(check)
    assert "Kubernetes: enabled" in check.stdout, describe(check)
    assert f"context '{CONTEXT}': 4 of 4 nodes ready" in check.stdout, describe(check)
    assert runs(plugin) == 1
    request = json.loads((plugin.parent / "request.json").read_text())
    assert request["kind"] == "ExecCredential", request
    assert request["apiVersion"] == "client.authentication.k8s.io/v1", request
    assert request["spec"]["interactive"] is False, request
    assert request["spec"]["cluster"]["server"] == admin_cluster["server"], request

    [cached] = cache_files(env)
    assert stat.S_IMODE(cached.stat().st_mode) == 0o600
    assert stat.S_IMODE(cached.parent.stat().st_mode) == 0o700

    # The next `sky` process reuses the credential.
    shown = sky(sky_bin, env, "show-gpus", "--infra", "k8s")
    assert shown.returncode == 0, describe(shown)
    assert f"Context: {CONTEXT}" in shown.stdout, describe(shown)
    assert runs(plugin) == 1

    # An expired credential is not used: the plugin runs again.
    entry = json.loads(cached.read_text())
    entry["expires_at"] = int(time.time()) - 5
    cached.write_text(json.dumps(entry))
    shown = sky(sky_bin, env, "show-gpus", "--infra", "k8s")
    assert shown.returncode == 0, describe(shown)
    assert runs(plugin) == 2
    assert json.loads(cached.read_text())["expires_at"] > time.time() + 3000

    # A cached token the server rejects is dropped and the plugin run again,
    # within the same command.
    entry = json.loads(cached.read_text())
    entry["token"] = "revoked-" + uuid.uuid4().hex
    cached.write_text(json.dumps(entry))
    shown = sky(sky_bin, env, "show-gpus", "--infra", "k8s")
    assert shown.returncode == 0, describe(shown)
    assert runs(plugin) == 3
    assert json.loads(cached.read_text())["token"] == sa_token


def test_failing_plugin_names_the_context_and_its_message(
    sky_bin: str, env: dict, admin_cluster: dict, tmp_path: pathlib.Path
) -> None:
    plugin = write_plugin(tmp_path / "plugin", "unused", fail=True)
    write_kubeconfig(
        pathlib.Path(env["KUBECONFIG"]),
        admin_cluster["server"],
        admin_cluster["ca_data"],
        exec_user(str(plugin)),
    )
    check = sky(sky_bin, env, "check", "kubernetes")
    assert check.returncode != 0, describe(check)
    assert "Kubernetes: disabled" in check.stdout, describe(check)
    assert f"Kubernetes context '{CONTEXT}'" in check.stdout, describe(check)
    assert "failed (exit code 1)" in check.stdout, describe(check)
    assert "the login session expired; run `auth-login`" in check.stdout, describe(check)
    shown = sky(sky_bin, env, "show-gpus", "--infra", "k8s")
    assert shown.returncode != 0, describe(shown)
    assert f"Kubernetes context '{CONTEXT}'" in shown.stderr, describe(shown)
    assert "the login session expired" in shown.stderr, describe(shown)
    for result in (check, shown):
        assert "Traceback" not in result.stdout + result.stderr
    assert cache_files(env) == []


def test_missing_plugin_shows_its_install_hint(
    sky_bin: str, env: dict, admin_cluster: dict
) -> None:
    write_kubeconfig(
        pathlib.Path(env["KUBECONFIG"]),
        admin_cluster["server"],
        admin_cluster["ca_data"],
        exec_user(
            "skycore-test-no-such-auth-plugin",
            installHint="Install skycore-test-no-such-auth-plugin from the admin's wiki.",
        ),
    )
    check = sky(sky_bin, env, "check", "kubernetes")
    assert check.returncode != 0, describe(check)
    out = check.stdout
    assert f"Kubernetes context '{CONTEXT}'" in out, describe(check)
    assert "'skycore-test-no-such-auth-plugin' of user 'auth-user' was not found" in out, out
    assert "Install skycore-test-no-such-auth-plugin from the admin's wiki." in out, out
    assert "Traceback" not in out + check.stderr


def launch_env_checked(sky_bin: str, env: dict, admin_cluster: dict, sa_token: str) -> None:
    """`sky check` with a working token: the context is in the catalog."""
    write_kubeconfig(
        pathlib.Path(env["KUBECONFIG"]),
        admin_cluster["server"],
        admin_cluster["ca_data"],
        {"token": sa_token},
    )
    check = sky(sky_bin, env, "check", "kubernetes")
    assert check.returncode == 0, describe(check)


def down_with_working_credentials(
    sky_bin: str, env: dict, admin_cluster: dict, sa_token: str, cluster: str
) -> None:
    """`sky down` of the failed launch: refused while the API server cannot
    say whether pods exist, done once the credentials work again."""
    down = sky(sky_bin, env, "down", "-y", cluster)
    assert down.returncode != 0, describe(down)
    assert f"Kubernetes context '{CONTEXT}'" in down.stdout + down.stderr, describe(down)
    assert "Traceback" not in down.stdout + down.stderr
    launch_env_checked(sky_bin, env, admin_cluster, sa_token)
    down = sky(sky_bin, env, "down", "-y", cluster)
    assert down.returncode == 0, describe(down)
    status = sky(sky_bin, env, "status")
    assert cluster not in status.stdout, describe(status)


def test_rejected_static_token(
    sky_bin: str, env: dict, admin_cluster: dict, sa_token: str, k8s_cluster: K8sCluster
) -> None:
    launch_env_checked(sky_bin, env, admin_cluster, sa_token)
    write_kubeconfig(
        pathlib.Path(env["KUBECONFIG"]),
        admin_cluster["server"],
        admin_cluster["ca_data"],
        {"token": "garbage"},
    )
    check = sky(sky_bin, env, "check", "kubernetes")
    assert check.returncode != 0, describe(check)
    assert f"Kubernetes context '{CONTEXT}'" in check.stdout, describe(check)
    assert "HTTP 401 Unauthorized" in check.stdout, describe(check)
    shown = sky(sky_bin, env, "show-gpus", "--infra", f"k8s/{CONTEXT}")
    assert shown.returncode != 0, describe(shown)
    assert f"Kubernetes context '{CONTEXT}'" in shown.stderr, describe(shown)
    assert "HTTP 401 Unauthorized" in shown.stderr, describe(shown)

    # The catalog still names the context (`sky check` found it earlier).
    launch_env_checked(sky_bin, env, admin_cluster, sa_token)
    write_kubeconfig(
        pathlib.Path(env["KUBECONFIG"]),
        admin_cluster["server"],
        admin_cluster["ca_data"],
        {"token": "garbage"},
    )
    launch = sky(
        sky_bin, env, "launch", "-y", "-c", "ka1", "--infra", f"k8s/{CONTEXT}", "--", "true"
    )
    assert launch.returncode != 0, describe(launch)
    err = launch.stdout + launch.stderr
    assert f"Kubernetes context '{CONTEXT}'" in err, describe(launch)
    assert "HTTP 401 Unauthorized" in err, describe(launch)
    assert "Traceback" not in err
    assert k8s_cluster.pods("ka1") == []
    down_with_working_credentials(sky_bin, env, admin_cluster, sa_token, "ka1")


def test_unreachable_server_during_launch_is_bounded(
    sky_bin: str, env: dict, admin_cluster: dict, sa_token: str, k8s_cluster: K8sCluster
) -> None:
    launch_env_checked(sky_bin, env, admin_cluster, sa_token)
    write_kubeconfig(
        pathlib.Path(env["KUBECONFIG"]),
        "https://127.0.0.1:1",
        admin_cluster["ca_data"],
        {"token": sa_token},
    )
    started = time.monotonic()
    launch = sky(
        sky_bin, env, "launch", "-y", "-c", "ka2", "--infra", f"k8s/{CONTEXT}", "--", "true"
    )
    elapsed = time.monotonic() - started
    assert launch.returncode != 0, describe(launch)
    assert elapsed < 60, elapsed
    err = launch.stdout + launch.stderr
    assert f"Kubernetes context '{CONTEXT}'" in err, describe(launch)
    assert "https://127.0.0.1:1 is unreachable" in err, describe(launch)
    assert "Traceback" not in err
    assert k8s_cluster.pods("ka2") == []
    down_with_working_credentials(sky_bin, env, admin_cluster, sa_token, "ka2")


def test_in_cluster_context(
    sky_bin: str, env: dict, admin_cluster: dict, sa_token: str, tmp_path: pathlib.Path
) -> None:
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(sa_token)
    (account / "ca.crt").write_bytes(base64.b64decode(admin_cluster["ca_data"]))
    (account / "namespace").write_text("default")
    port = admin_cluster["server"].rsplit(":", 1)[1]
    env.update(
        KUBECONFIG=str(tmp_path / "no-such-kubeconfig"),
        KUBERNETES_SERVICE_HOST="127.0.0.1",
        KUBERNETES_SERVICE_PORT=port,
        SKYCORE_K8S_SERVICEACCOUNT_DIR=str(account),
    )
    check = sky(sky_bin, env, "check", "kubernetes")
    assert check.returncode == 0, describe(check)
    assert "Kubernetes: enabled" in check.stdout, describe(check)
    assert "context 'in-cluster': 4 of 4 nodes ready" in check.stdout, describe(check)
    shown = sky(sky_bin, env, "show-gpus", "--infra", "k8s")
    assert shown.returncode == 0, describe(shown)
    assert "Context: in-cluster" in shown.stdout, describe(shown)
    # The token is read again at each use (the kubelet rotates it).
    (account / "token").write_text("rotated-away")
    shown = sky(sky_bin, env, "show-gpus", "--infra", "k8s")
    assert shown.returncode != 0, describe(shown)
    assert "Kubernetes context 'in-cluster'" in shown.stderr, describe(shown)
    assert "HTTP 401 Unauthorized" in shown.stderr, describe(shown)
