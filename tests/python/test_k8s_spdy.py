"""Kubernetes exec over SPDY/3.1, kubectl's fallback when the websocket
upgrade is refused, forced here with `SKYCORE_K8S_EXEC_PROTOCOL=spdy` (the
analogue of `KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false`) against the real test
control plane: the agent copied in and reached over exec, jobs run, an exit
code carried on the error stream, output beyond SPDY's 64 KiB initial window
arriving whole with no flow-control frames sent, and `sky down`; and the
fallback itself, through a proxy in front of the API server that refuses
websocket upgrades."""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
import ssl
import subprocess
import threading
from collections.abc import Iterator

import k8s_fixture
import pytest
from k8s_fixture import K8sCluster, describe, sky, wait_for_no_pods


@pytest.fixture
def spdy_env(tmp_path: pathlib.Path, k8s_cluster: K8sCluster, sky_bin: str) -> dict:
    env = k8s_fixture.sky_environment(tmp_path, k8s_cluster, sky_bin)
    env["SKYCORE_K8S_EXEC_PROTOCOL"] = "spdy"
    return env


def test_launch_exec_and_down_over_spdy(
    sky_bin: str, spdy_env: dict, k8s_cluster: K8sCluster
) -> None:
    launch = sky(
        sky_bin, spdy_env, "launch", "-y", "-c", "ks1", "--infra", "k8s/skycore", "--", "echo hi"
    )
    try:
        assert launch.returncode == 0, describe(launch)
        assert "hi" in launch.stdout.splitlines(), describe(launch)

        run = sky(sky_bin, spdy_env, "exec", "ks1", "--", "echo from-exec")
        assert run.returncode == 0, describe(run)
        assert "from-exec" in run.stdout, describe(run)

        failing = sky(sky_bin, spdy_env, "exec", "ks1", "--", "exit 3")
        assert failing.returncode != 0, describe(failing)
        queue = sky(sky_bin, spdy_env, "queue", "ks1")
        assert queue.returncode == 0, describe(queue)
        assert "FAILED" in queue.stdout, queue.stdout

        # `skyletd kexec` streams stdin in (its end closes the SPDY stdin
        # stream, so `cat` ends) and hands back the exit code.
        skyletd = pathlib.Path(sky_bin).resolve().parent / "skyletd"
        kexec = subprocess.run(
            [
                *(str(skyletd), "kexec", "--kubeconfig", str(k8s_cluster.kubeconfig)),
                *("--context", "skycore", "--namespace", "default", "--pod", "ks1-head"),
                *("--container", "ray-node", "--", "sh", "-c", "cat; exit 7"),
            ],
            input="piped-in\n",
            capture_output=True,
            text=True,
            timeout=60,
            env=spdy_env,
            check=False,
        )
        assert (kexec.returncode, kexec.stdout) == (7, "piped-in\n"), describe(kexec)

        # Far beyond SPDY/3.1's 64 KiB initial window, which skycore (like
        # kubectl) never gives back: the exec servers keep no window.
        large = sky(sky_bin, spdy_env, "exec", "ks1", "--", "head -c 300000 /dev/zero | tr '\\0' x")
        assert large.returncode == 0, describe(large)[:2000]
        runs = [len(line) for line in large.stdout.splitlines() if line.strip("x") == ""]
        assert max(runs, default=0) == 300000, runs
    finally:
        down = sky(sky_bin, spdy_env, "down", "-y", "ks1")
    assert down.returncode == 0, describe(down)
    assert wait_for_no_pods(k8s_cluster, "ks1", 1) == []


def test_unknown_protocol_is_refused(sky_bin: str, spdy_env: dict) -> None:
    env = dict(spdy_env, SKYCORE_K8S_EXEC_PROTOCOL="carrier-pigeon")
    launch = sky(sky_bin, env, "launch", "-y", "-c", "ks2", "--infra", "k8s/skycore", "--", "true")
    try:
        assert launch.returncode != 0, describe(launch)
        assert "SKYCORE_K8S_EXEC_PROTOCOL='carrier-pigeon'" in launch.stdout + launch.stderr, (
            describe(launch)
        )
    finally:
        sky(sky_bin, env, "down", "-y", "ks2")


class RefusingProxy:
    """A TLS proxy in front of the API server that answers every websocket
    upgrade with 400, as proxies that do not pass them do, and passes
    everything else through, authenticating upstream with the context's
    client certificate."""

    def __init__(self, tmp_path: pathlib.Path, config: dict) -> None:
        cluster = config["clusters"][0]["cluster"]
        user = config["users"][0]["user"]
        self.upstream = cluster["server"].removeprefix("https://").rsplit(":", 1)
        pki = tmp_path / "proxy-pki"
        pki.mkdir()
        for name, key in (("ca.crt", cluster), ("client.crt", user), ("client.key", user)):
            field = {
                "ca.crt": "certificate-authority-data",
                "client.crt": "client-certificate-data",
                "client.key": "client-key-data",
            }[name]
            (pki / name).write_bytes(base64.b64decode(key[field]))
        subprocess.run(
            [
                *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
                *("-subj", "/CN=127.0.0.1", "-keyout", str(pki / "proxy.key")),
                *("-out", str(pki / "proxy.crt")),
            ],
            check=True,
            capture_output=True,
        )
        self.server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_tls.load_cert_chain(pki / "proxy.crt", pki / "proxy.key")
        self.client_tls = ssl.create_default_context(cafile=str(pki / "ca.crt"))
        self.client_tls.check_hostname = False
        self.client_tls.load_cert_chain(pki / "client.crt", pki / "client.key")
        self.upgrades: list[str] = []  # the Upgrade header of each exec seen
        self.loop = asyncio.new_event_loop()
        self.port = 0
        started = threading.Event()
        threading.Thread(target=self._run, args=(started,), daemon=True).start()
        assert started.wait(10)

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        server = self.loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.server_tls)
        )
        self.port = server.sockets[0].getsockname()[1]
        started.set()
        self.loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").lower().split("\r\n")
            upgrade = next(
                (x.split(":", 1)[1].strip() for x in lines if x.startswith("upgrade:")), ""
            )
            if upgrade:
                self.upgrades.append(upgrade)
            if upgrade == "websocket":
                body = b"websocket upgrades are not passed here"
                writer.write(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\n"
                    + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                    + body
                )
                await writer.drain()
                return
            host, port = self.upstream
            up_reader, up_writer = await asyncio.open_connection(
                host, int(port), ssl=self.client_tls
            )
            up_writer.write(head)

            async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
                try:
                    while data := await source.read(65536):
                        sink.write(data)
                        await sink.drain()
                finally:
                    sink.close()

            await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def refusing_proxy(tmp_path: pathlib.Path, k8s_cluster: K8sCluster) -> Iterator[RefusingProxy]:
    view = k8s_cluster.kubectl(
        "config", "view", "--raw", "--minify", "--context", "skycore", "-o", "json"
    )
    assert view.returncode == 0, view.stderr
    proxy = RefusingProxy(tmp_path, json.loads(view.stdout))
    yield proxy
    proxy.close()


def test_auto_falls_back_to_spdy_when_websockets_are_refused(
    tmp_path: pathlib.Path, k8s_cluster: K8sCluster, sky_bin: str, refusing_proxy: RefusingProxy
) -> None:
    view = k8s_cluster.kubectl(
        "config", "view", "--raw", "--minify", "--context", "skycore", "-o", "json"
    )
    config = json.loads(view.stdout)
    cluster = config["clusters"][0]["cluster"]
    cluster["server"] = f"https://127.0.0.1:{refusing_proxy.port}"
    cluster.pop("certificate-authority-data", None)
    cluster["insecure-skip-tls-verify"] = True
    kubeconfig = tmp_path / "behind-proxy.kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    env = k8s_fixture.sky_environment(tmp_path, k8s_cluster, sky_bin, check=False)
    env["KUBECONFIG"] = str(kubeconfig)
    env.pop("SKYCORE_K8S_EXEC_PROTOCOL", None)
    checked = sky(sky_bin, env, "check", "kubernetes")
    assert checked.returncode == 0, describe(checked)

    launch = sky(
        sky_bin, env, "launch", "-y", "-c", "ks3", "--infra", "k8s/skycore", "--", "echo hi"
    )
    try:
        assert launch.returncode == 0, describe(launch)
        assert "hi" in launch.stdout.splitlines(), describe(launch)
        assert "websocket" in refusing_proxy.upgrades, refusing_proxy.upgrades
        assert "spdy/3.1" in refusing_proxy.upgrades, refusing_proxy.upgrades
        # Told to keep to websockets, exec fails rather than fall back.
        env["SKYCORE_K8S_EXEC_PROTOCOL"] = "websocket"
        spdy_before = refusing_proxy.upgrades.count("spdy/3.1")
        refused = sky(sky_bin, env, "exec", "ks3", "--", "echo never")
        assert refused.returncode != 0, describe(refused)
        assert refusing_proxy.upgrades.count("spdy/3.1") == spdy_before, refusing_proxy.upgrades
    finally:
        env.pop("SKYCORE_K8S_EXEC_PROTOCOL", None)
        down = sky(sky_bin, env, "down", "-y", "ks3")
    assert down.returncode == 0, describe(down)
    assert wait_for_no_pods(k8s_cluster, "ks3", 1) == []
