"""Open ports on an SSH node pool with the real `sky` binary against throwaway
sshd hosts (tests/python/sshd_fixture.py): `sky status --endpoints` gives the
head host's address, and an HTTP server in the job answers there."""

from __future__ import annotations

import pathlib
import socket
import time
import urllib.request

import sshd_fixture
from sshd_fixture import SshdHosts
from test_ssh_launch import launch, setup_pool
from test_ssh_pools import sky, sky_env

sshd_hosts = sshd_fixture.sshd_hosts  # the fixtures, registered in this module
sky_env = sky_env

MARKER = "served-from-the-head-host"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_endpoints_are_the_head_host_address(
    sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict, tmp_path: pathlib.Path
) -> None:
    setup_pool(sky_bin, sshd_hosts, sky_env)
    site = tmp_path / "site"
    site.mkdir()
    (site / "marker.txt").write_text(MARKER + "\n")
    port = free_port()
    task = tmp_path / "serve.yaml"
    task.write_text(
        f"workdir: {site}\nresources:\n  ports: {port}\nrun: |\n"
        f'  exec python3 -m http.server {port} --bind "$(echo "$SKYPILOT_NODE_IPS" | head -n1)"\n'
    )
    result = launch(sky_bin, sky_env, "sp1", "-d", str(task))
    assert result.returncode == 0, result.stdout + result.stderr
    try:
        endpoints = sky(sky_bin, sky_env, "status", "--endpoints", "sp1")
        assert endpoints.returncode == 0, endpoints.stdout + endpoints.stderr
        head, _, address = endpoints.stdout.strip().partition(": ")
        assert head == str(port), endpoints.stdout
        host = address.rpartition(":")[0]
        assert host in [h.address for h in sshd_hosts.hosts], endpoints.stdout
        assert host != "127.0.0.1", endpoints.stdout
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/marker.txt", timeout=3) as answer:
                    assert answer.read().decode().strip() == MARKER
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "sp1")
    assert down.returncode == 0, down.stdout + down.stderr
