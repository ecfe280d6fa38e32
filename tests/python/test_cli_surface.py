"""SkyPilot 0.14.1's CLI flags, compared with those of our `sky`.

SkyPilot's flags are read from its click commands (in the test-only virtual
environment, tests/skypilot_venv.sh): every name of every option, the hidden
ones (`--cloud`, ...) and the negative forms (`--no-use-spot`) included, as
users' scripts pass them. Each must be accepted by ours, or be listed in
NOT_ACCEPTED with the reason. Ours accepts a flag when `sky <cmd> --help` lists
it or, for a flag the help leaves out (hidden, as SkyPilot hides `--cloud`), when
a run with it gets past the parser and does not answer "not supported". A flag
NOT_ACCEPTED lists that ours now accepts fails the test too, so the list only
shrinks. The coverage table is printed (``pytest -s`` shows it).

SKYCORE_SKYPILOT_PYTHON names the venv's python (scripts/test.sh sets it). Without
it the comparison is skipped, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
from skypilot_side import skypilot_env, skypilot_python

# SkyPilot's commands compared, as words after `sky`.
COMMANDS = [
    "launch",
    "exec",
    "status",
    "queue",
    "logs",
    "cancel",
    "stop",
    "start",
    "down",
    "autostop",
    "check",
    "cost-report",
    "gpus list",
    "storage ls",
    "storage delete",
]

# Lists the options of SkyPilot's commands (run by SkyPilot's python).
_LIST_FLAGS = """
import json, sys
import click
from sky.client.cli import command

context = click.Context(command.cli)
out = {}
for words in json.loads(sys.argv[1]):
    cmd = command.cli
    for word in words.split():
        cmd = cmd.get_command(context, word)
    out[words] = [
        {"names": p.opts + p.secondary_opts, "flag": p.is_flag,
         "choices": list(getattr(p.type, "choices", []) or []),
         "int": p.type is click.INT or isinstance(p.type, click.IntRange)}
        for p in cmd.params if isinstance(p, click.Option)]
print(json.dumps(out))
"""


def _flags(reason: str, *names: str) -> dict[str, str]:
    return dict.fromkeys(names, reason)


_CONFIG = (
    "per-command config overrides are not applied yet: refused with the reason "
    "(put the setting in config.yaml)"
)
_ASYNC = "there is no API server to leave a request running on (issue: API server)"
_ASYNC_REFUSED = (
    "there is no API server to leave a request running on: refused with the reason "
    "(--no-async, the way skycore works, is accepted)"
)
_NO_D = (
    "SkyPilot's single-dash negative form of -d; the parser reads single-dash words as "
    "short flags (-n o-d), and not detaching is the default anyway"
)
_OUTPUT_JSON = "machine-readable (-o json) output is not built yet"
_USERS = "skycore has one user per state dir: cluster ownership across users is not built yet"
_GRACEFUL = "cached file mounts (MOUNT_CACHED), whose uploads --graceful waits for, are not built"
_WORKSPACE = "workspaces are not built yet"

# SkyPilot's flags ours does not accept yet, per command, with the reason.
NOT_ACCEPTED: dict[str, dict[str, str]] = {
    "storage ls": {**_flags(_CONFIG, "--config")},
    "storage delete": {
        **_flags(_CONFIG, "--config"),
        **_flags(_ASYNC, "--async", "--no-async"),
    },
    "launch": {
        **_flags(_CONFIG, "--config"),
        **_flags(_ASYNC_REFUSED, "--async"),
        **_flags(_NO_D, "-no-d"),
        **_flags("the deprecated local docker backend is not built", "--docker"),
        **_flags("resources.local_disk needs model support (src/model)", "--local-disk"),
        **_flags("creating an image from a cluster's disk is not built yet", "--clone-disk-from"),
        **_flags("--clone-disk-from's alias", "--clone"),
        **_flags("resizing a cluster's disk in place is not built yet", "--resize"),
        **_flags(_WORKSPACE, "--workspace", "-w"),
    },
    "exec": {
        **_flags(_CONFIG, "--config"),
        **_flags(_ASYNC_REFUSED, "--async"),
        **_flags("resources.local_disk needs model support (src/model)", "--local-disk"),
    },
    "status": {**_flags(_CONFIG, "--config")},
    "queue": {**_flags(_CONFIG, "--config")},
    "logs": {
        **_flags(_CONFIG, "--config"),
        **_flags("streaming a cluster's provisioning log is not built yet", "--provision"),
        **_flags("lifecycle hooks are not built yet", "--hook", "--autostop"),
        **_flags("the log of one worker (-w RANK) is not built yet", "--worker", "-w"),
        **_flags("tailing the last N lines is not built yet", "--tail"),
    },
    "cancel": {
        **_flags(_CONFIG, "--config"),
        **_flags(_USERS, "--all-users", "-u"),
        **_flags(_ASYNC, "--async", "--no-async"),
    },
    "stop": {
        **_flags(_CONFIG, "--config"),
        **_flags(_USERS, "--all-users", "-u"),
        **_flags(_GRACEFUL, "--graceful", "--graceful-timeout"),
        **_flags(_ASYNC, "--async", "--no-async"),
    },
    "start": {
        **_flags(_CONFIG, "--config"),
        **_flags(_ASYNC, "--async", "--no-async"),
    },
    "down": {
        **_flags(_CONFIG, "--config"),
        **_flags(_USERS, "--all-users", "-u"),
        **_flags(_GRACEFUL, "--graceful", "--graceful-timeout"),
        **_flags(_ASYNC, "--async", "--no-async"),
    },
    "autostop": {
        **_flags(_CONFIG, "--config"),
        **_flags(_USERS, "--all-users", "-u"),
        **_flags(_ASYNC, "--async", "--no-async"),
    },
    "check": {
        **_flags(_CONFIG, "--config"),
        **_flags(
            "detailed check output is not built yet (a disabled infra's reason is shown)",
            "--verbose",
            "-v",
        ),
        **_flags(_WORKSPACE, "--workspace", "-w"),
        **_flags(_OUTPUT_JSON, "--output", "-o"),
    },
    "cost-report": {
        **_flags(_CONFIG, "--config"),
        **_flags(_OUTPUT_JSON, "--output", "-o"),
    },
    "gpus list": {
        **_flags(_CONFIG, "--config"),
        **_flags("filtering the list by region is not wired to the CLI yet", "--region"),
        **_flags("the verbose per-GPU details are not built yet", "--verbose", "-v"),
        **_flags(_OUTPUT_JSON, "--output", "-o"),
    },
}

# Arguments that let a probe run of each command get past its parser without
# touching anything (a dry run, or a cluster that does not exist).
_PROBE_TAIL: dict[str, list[str]] = {
    "launch": ["--dryrun", "examples/hello.yaml"],
    "exec": ["no-such-cluster", "echo", "hi"],
    "logs": ["no-such-cluster"],
    "cancel": ["no-such-cluster", "1"],
    "stop": ["no-such-cluster"],
    "start": ["no-such-cluster"],
    "down": ["no-such-cluster"],
    "autostop": ["no-such-cluster"],
}

_HELP_NAMES = re.compile(r"^\s{2}(-[^\s]+)")


@pytest.fixture(scope="module")
def theirs() -> dict[str, list[dict]]:
    env = skypilot_env()
    run = subprocess.run(
        [skypilot_python("the SkyPilot CLI surface test"), "-c", _LIST_FLAGS, json.dumps(COMMANDS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def help_flags(sky_bin: str, command: str) -> set[str]:
    """The flag names `sky <command> --help` lists (`-c,--cluster TEXT`)."""
    run = subprocess.run(
        [sky_bin, *command.split(), "--help"], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    names: set[str] = set()
    for line in run.stdout.splitlines():
        match = _HELP_NAMES.match(line)
        if match:
            # "--show-pools,--no-show-pools{false}": a negated name shows its value.
            names.update(re.sub(r"\{.*\}$", "", name) for name in match.group(1).split(","))
    return names


def probe_accepts(sky_bin: str, repo, tmp_path, command: str, option: dict, name: str) -> bool:
    """Whether a run of `sky <command> <name> [value]` gets past the parser and
    is not refused as "not supported"."""
    if re.fullmatch(r"-[^-].+", name):
        return False  # a single-dash long name reads as short flags here
    value: list[str] = []
    if not option["flag"]:
        value = [option["choices"][0] if option["choices"] else "1" if option["int"] else "x"]
    env = {**os.environ, "HOME": str(tmp_path), "SKYCORE_STATE_DIR": str(tmp_path / "state")}
    run = subprocess.run(
        [sky_bin, *command.split(), name, *value, *_PROBE_TAIL.get(command, [])],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=repo,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    # The parser's errors (unknown flag, a positional it shifted) end with this.
    parse_error = "Run with --help for more information" in run.stderr
    return not parse_error and "not supported" not in run.stderr


@pytest.mark.parametrize("command", COMMANDS)
def test_skypilot_flags_are_accepted_or_listed(
    command: str, theirs, sky_bin: str, repo, tmp_path
) -> None:
    listed = help_flags(sky_bin, command)
    accepted, refused = set(), set()
    for option in theirs[command]:
        for name in option["names"]:
            if name in listed or probe_accepts(sky_bin, repo, tmp_path, command, option, name):
                accepted.add(name)
            else:
                refused.add(name)
    total = len(accepted) + len(refused)
    print(f"\nsky {command}: ours accepts {len(accepted)}/{total} of SkyPilot 0.14.1's flags")
    allowed = NOT_ACCEPTED.get(command, {})
    assert sorted(refused - allowed.keys()) == [], "not accepted, and not in NOT_ACCEPTED"
    assert sorted(allowed.keys() & accepted) == [], "in NOT_ACCEPTED but accepted now: remove"
    their_names = {name for option in theirs[command] for name in option["names"]}
    assert sorted(allowed.keys() - their_names) == [], "in NOT_ACCEPTED but not SkyPilot's"
