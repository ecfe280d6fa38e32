"""`skyserve-lb` as the serve controller runs it: a process in front of
replicas, driven one JSON line at a time on stdin."""

from __future__ import annotations

import http.server
import json
import pathlib
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest


class _Hello(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        body = b"hello from the replica"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def replica() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def lb_bin(sky_bin: str) -> str:
    path = pathlib.Path(sky_bin).resolve().parent / "skyserve-lb"
    assert path.exists(), f"skyserve-lb not built beside {sky_bin}"
    return str(path)


def _ask(process: subprocess.Popen[str], command: dict) -> dict:
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(json.dumps(command) + "\n")
    process.stdin.flush()
    return json.loads(process.stdout.readline())


def test_proxies_reports_and_follows_the_controller(lb_bin: str, replica: str) -> None:
    process = subprocess.Popen(
        [lb_bin, "--port", "0", "--replica", replica, "--control-stdin", "--queue-timeout", "1"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = json.loads(process.stdout.readline())["port"]
        url = f"http://127.0.0.1:{port}/"
        with urllib.request.urlopen(url, timeout=5) as answer:
            assert answer.read() == b"hello from the replica"
        stats = _ask(process, {"stats": True})
        assert stats["requests_total"] == 1
        assert stats["in_flight"] == 0
        assert [r["url"] for r in stats["replicas"]] == [replica]

        assert _ask(process, {"replicas": []}) == {"ok": True}
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=5)
        assert refused.value.code == 503
        assert "No ready replicas" in json.loads(refused.value.read())["detail"]

        assert "error" in _ask(process, {"replicas": ["ftp://x"]})
        assert process.stdin is not None
        process.stdin.close()  # the controller is gone: the balancer ends
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_unknown_policy_names_the_valid_ones(lb_bin: str) -> None:
    result = subprocess.run(
        [lb_bin, "--policy", "fastest"], capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 1
    assert "unknown load balancing policy 'fastest'" in result.stderr
    assert "least_load" in result.stderr
