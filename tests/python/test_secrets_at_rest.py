"""A task's secrets reach its job but are never at rest in clear, and what
skycore keeps is private: after launching a task with a secret on the local
infra and on an SSH node pool (real sshd hosts, tests/python/sshd_fixture.py),
no file skycore wrote here (the state dir, the home) or on the nodes (their
skycore home: agents' job tables, logs) holds the secret's value; its
directories are 0700 and its databases and logs 0600; and neither `sky
queue`, `sky logs` nor `sky status` prints it."""

from __future__ import annotations

import hashlib
import os
import pathlib
import stat
import subprocess
import uuid

import sshd_fixture
from sshd_fixture import SshdHosts
from test_cli_lifecycle import Sky
from test_ssh_launch import host_home, setup_pool
from test_ssh_pools import sky, sky_env

sshd_hosts = sshd_fixture.sshd_hosts  # the fixtures, registered in this module
sky_env = sky_env

# The job proves it sees the value by printing a digest of it: the value
# itself must not be in the task (the task is stored) nor in the output (logs).
TASK = """\
name: secretive
num_nodes: {nodes}
secrets:
  API_TOKEN: null
envs:
  PLAIN_SETTING: not-a-secret
run: |
  echo "rank $SKYPILOT_NODE_RANK digest=$(printf %s "$API_TOKEN" | sha256sum | cut -c1-16)"
"""


def new_secret() -> str:
    return f"tok-{uuid.uuid4().hex}"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


def files_holding(root: pathlib.Path, text: str) -> list[str]:
    """Every regular file under `root` whose bytes contain `text`."""
    needle = text.encode()
    found = []
    for directory, _, names in os.walk(root):
        for name in names:
            path = pathlib.Path(directory) / name
            try:
                if not stat.S_ISREG(path.lstat().st_mode):
                    continue
                if needle in path.read_bytes():
                    found.append(str(path))
            except OSError:
                continue  # gone meanwhile (a socket's lock, a temporary file)
    return found


def mode_problems(root: pathlib.Path) -> list[str]:
    """Directories under `root` (itself included) that are not 0700, and
    databases and logs that are not 0600. A job's working directory holds the
    job's own files: not skycore's to restrict."""
    problems = []
    for directory, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if d != "sky_workdir"]
        here = pathlib.Path(directory)
        mode = stat.S_IMODE(here.stat().st_mode)
        if mode != 0o700:
            problems.append(f"{here}: {oct(mode)}")
        for name in names:
            path = here / name
            if not stat.S_ISREG(path.lstat().st_mode):
                continue
            private = name.endswith((".db", ".db-wal", ".db-shm", ".log", ".lock"))
            mode = stat.S_IMODE(path.stat().st_mode)
            if private and mode != 0o600:
                problems.append(f"{path}: {oct(mode)}")
    return problems


def assert_never_printed(secret: str, *results: subprocess.CompletedProcess) -> None:
    for result in results:
        assert secret not in result.stdout + result.stderr, result.args


def test_local_secret_reaches_the_job_and_nothing_at_rest(sky_bin: str, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    tool = Sky(sky_bin, home)
    secret = new_secret()
    tool.env["API_TOKEN"] = secret  # `--secret API_TOKEN` takes it from here: not in argv
    task = home / "task.yaml"
    task.write_text(TASK.format(nodes=1))
    try:
        launched = tool.run(
            "launch", "-y", "-c", "sec", "--infra", "local", str(task), "--secret", "API_TOKEN"
        )
        assert launched.returncode == 0, launched.stdout + launched.stderr
        assert f"digest={digest(secret)}" in launched.stdout, launched.stdout
        executed = tool.run("exec", "sec", str(task), "--secret", "API_TOKEN")
        assert executed.returncode == 0, executed.stdout + executed.stderr
        assert f"digest={digest(secret)}" in executed.stdout, executed.stdout
        shown = [
            tool.run("queue", "sec"),
            tool.run("logs", "sec", "1"),
            tool.run("logs", "sec", "2", "--no-follow"),
            tool.run("status"),
            tool.run("status", "-v", "sec"),
        ]
        for result in shown:
            assert result.returncode == 0, result.stdout + result.stderr
        assert_never_printed(secret, launched, executed, *shown)

        state = home / ".sky"
        assert files_holding(home, secret) == []
        # The check sees text the way the secret would be: the env is there.
        assert files_holding(state, "not-a-secret"), "the job table holds the task's envs"
        assert mode_problems(state) == []
    finally:
        tool.run("down", "-a", "-y")


def test_ssh_pool_secret_reaches_every_rank_and_nothing_at_rest(
    sky_bin: str, sshd_hosts: SshdHosts, sky_env: dict, tmp_path
) -> None:
    setup_pool(sky_bin, sshd_hosts, sky_env)
    secret = new_secret()
    env = dict(sky_env, API_TOKEN=secret)
    task = tmp_path / "task.yaml"
    task.write_text(TASK.format(nodes=2))
    try:
        launched = sky(
            sky_bin, env, "launch", "-y", "-c", "sec", "--infra", "ssh/lab", str(task),
            "--secret", "API_TOKEN",
        )  # fmt: skip
        assert launched.returncode == 0, launched.stdout + launched.stderr
        # Rank 1 runs on the second host, started by the agent over ssh.
        for rank in (0, 1):
            assert f"rank {rank} digest={digest(secret)}" in launched.stdout, launched.stdout
        shown = [
            sky(sky_bin, env, "queue", "sec"),
            sky(sky_bin, env, "logs", "sec", "1", "--no-follow"),
            sky(sky_bin, env, "status", "-v"),
        ]
        for result in shown:
            assert result.returncode == 0, result.stdout + result.stderr
        assert_never_printed(secret, launched, *shown)

        state = pathlib.Path(sky_env["SKYCORE_STATE_DIR"])
        homes = [host_home(h) for h in sshd_hosts.hosts]
        for root in [state, *homes]:
            assert files_holding(root, secret) == [], root
        assert any(files_holding(h, "not-a-secret") for h in homes)
        assert mode_problems(state) == []
        for home in homes:
            # The agent's binary is a program, not state: only its directory counts.
            skycore_dirs = [p for p in home.iterdir() if p.is_dir()]
            assert stat.S_IMODE(home.stat().st_mode) == 0o700 or not skycore_dirs, home
            for directory in skycore_dirs:
                assert mode_problems(directory) == [], directory
    finally:
        sky(sky_bin, env, "down", "-y", "sec")
