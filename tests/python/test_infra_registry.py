"""The infra registry seen from the command line: every infra `sky check`
lists, and an infra a request names that no `sky check` enabled yet being
checked on the spot (as SkyPilot refreshes enabled clouds)."""

from __future__ import annotations

import pathlib

import sshd_fixture
from sshd_fixture import SshdHosts
from test_ssh_pools import host_entries, sky, sky_env, write_pools

sshd_hosts = sshd_fixture.sshd_hosts  # the fixtures, registered in this module
sky_env = sky_env


def test_check_lists_every_registered_infra(sky_bin: str, sky_env: dict) -> None:
    result = sky(sky_bin, sky_env, "check")
    assert result.returncode == 0, result.stdout + result.stderr
    for shown in ("Local", "Kubernetes", "SSH", "Slurm", "AWS", "GCP", "Azure", "Lambda", "RunPod"):
        assert shown in result.stdout, result.stdout
    # An alias checks the same infra; an unknown name is refused with close matches.
    alias = sky(sky_bin, sky_env, "check", "k8s")
    assert "Kubernetes" in alias.stdout, alias.stdout + alias.stderr
    typo = sky(sky_bin, sky_env, "check", "kubernets")
    assert typo.returncode != 0
    assert "kubernetes" in typo.stderr, typo.stderr


def test_launch_on_an_unchecked_ssh_pool_checks_it_first(
    sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict
) -> None:
    entries = host_entries(sshd_hosts, sky_env)
    write_pools(
        sky_env,
        f"lab:\n  user: root\n  identity_file: {sshd_hosts.user_key}\n"
        f"  hosts: [{', '.join(entries[:1])}]\n",
    )
    assert not (pathlib.Path(sky_env["SKYCORE_STATE_DIR"]) / "infras_checked").exists()
    launched = sky(
        sky_bin,
        sky_env,
        "launch",
        "-y",
        "-c",
        "fresh",
        "--infra",
        "ssh/lab",
        "--",
        "echo ran-on-the-pool",
    )
    try:
        assert launched.returncode == 0, launched.stdout + launched.stderr
        assert "Checking 'ssh' (not checked yet)" in launched.stdout + launched.stderr
        assert "ran-on-the-pool" in launched.stdout
        # Cached: the next launch does not check again.
        again = sky(sky_bin, sky_env, "exec", "fresh", "--", "echo again")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "not checked yet" not in again.stdout + again.stderr
    finally:
        down = sky(sky_bin, sky_env, "down", "-y", "fresh")
        assert down.returncode == 0, down.stdout + down.stderr


def test_named_infra_that_fails_its_check_says_why(sky_bin: str, sky_env: dict) -> None:
    # No pools file: the on-the-spot check says so, and the launch fails cleanly.
    launched = sky(sky_bin, sky_env, "launch", "-y", "-c", "nopool", "--infra", "ssh", "--", "true")
    assert launched.returncode != 0
    text = launched.stdout + launched.stderr
    assert "SSH is not enabled:" in text, text
    assert "ssh_node_pools.yaml" in text, text
    assert "Traceback" not in text
