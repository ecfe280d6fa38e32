"""Autostop through the real `sky` command: an idle cluster stops (or is torn
down) by itself. A minute lasts SKYCORE_AUTOSTOP_MINUTE_S seconds here, so the
tests take seconds, not minutes; the agent's clock and hook are the real ones.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import time

import pytest


def _sky(sky_bin: str, home: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(
        os.environ,
        HOME=str(home),
        SKYCORE_STATE_DIR=str(home / ".sky"),
        SKYCORE_AUTOSTOP_MINUTE_S="1",
        CI="1",
    )
    return subprocess.run(
        [sky_bin, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        check=False,
    )


def _status_of(sky_bin: str, home: pathlib.Path, name: str) -> str:
    out = _sky(sky_bin, home, "status", name).stdout
    for line in out.splitlines():
        fields = line.split()
        if fields and fields[0] == name:
            return next((w for w in ("INIT", "UP", "STOPPED") if w in fields), "?")
    return "ABSENT"


def _wait_status(sky_bin: str, home: pathlib.Path, name: str, want: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    status = _status_of(sky_bin, home, name)
    while status != want and time.monotonic() < deadline:
        time.sleep(0.25)
        status = _status_of(sky_bin, home, name)
    return status


@pytest.fixture
def home(tmp_path: pathlib.Path, sky_bin: str):
    yield tmp_path
    _sky(sky_bin, tmp_path, "down", "-a", "-y", "--purge")


def test_idle_cluster_stops_after_its_idle_minutes(sky_bin: str, home: pathlib.Path) -> None:
    launched = _sky(sky_bin, home, "launch", "-y", "-c", "idle", "-i", "2", "--", "sleep 1")
    assert launched.returncode == 0, launched.stderr
    # Busy for a second, then idle for two "minutes" (2 s): stopped by the agent's hook.
    assert _wait_status(sky_bin, home, "idle", "STOPPED", 30) == "STOPPED"
    # It starts again, with its job history.
    assert _sky(sky_bin, home, "start", "-y", "idle").returncode == 0
    assert "SUCCEEDED" in _sky(sky_bin, home, "queue", "idle").stdout


def test_autostop_down_tears_the_cluster_down(sky_bin: str, home: pathlib.Path) -> None:
    assert _sky(sky_bin, home, "launch", "-y", "-c", "gone", "--", "true").returncode == 0
    set_ = _sky(sky_bin, home, "autostop", "-y", "gone", "-i", "1", "--down")
    assert set_.returncode == 0, set_.stdout + set_.stderr
    assert _wait_status(sky_bin, home, "gone", "ABSENT", 30) == "ABSENT"
    assert not (home / ".sky" / "clusters" / "gone").exists()


def test_a_running_job_keeps_the_cluster_up(sky_bin: str, home: pathlib.Path) -> None:
    launched = _sky(sky_bin, home, "launch", "-y", "-d", "-c", "busy", "-i", "1", "--", "sleep 8")
    assert launched.returncode == 0, launched.stderr
    time.sleep(4)  # four "minutes" busy: no autostop while the job runs
    assert _status_of(sky_bin, home, "busy") == "UP"
    assert _wait_status(sky_bin, home, "busy", "STOPPED", 30) == "STOPPED"
