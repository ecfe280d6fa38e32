"""The signatures of the SDK calls, compared with SkyPilot 0.14.1's.

For each call, SkyPilot's public parameters (those not starting with "_") must
be ours too, in the same order, with the same kind (positional or keyword-only)
and default, so that a script calling SkyPilot's SDK calls ours unchanged.
A parameter only ours has must be listed in EXTRA with the reason.

SKYCORE_SKYPILOT_PYTHON names the venv's python (scripts/test.sh sets it). Without
it the comparison is skipped, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys

import pytest
from skypilot_side import skypilot_env, skypilot_python

import sky

CALLS = [
    "launch",
    "exec",
    "optimize",
    "status",
    "down",
    "stop",
    "start",
    "queue",
    "cancel",
    "tail_logs",
    "autostop",
]

# Parameters only ours has, per call, with the reason.
EXTRA: dict[str, dict[str, str]] = {
    "launch": {"detach_run": "keyword-only: skycore's request returns once the job is submitted"},
    "exec": {"detach_run": "keyword-only: skycore's request returns once the job is submitted"},
}

# Prints each call's parameters as [name, kind, default] (run by either python).
_SIGNATURES = """
import enum, inspect, json, sys
import sky

def default(value):
    if value is inspect.Parameter.empty:
        return "<required>"
    if value is None or isinstance(value, (bool, int, float, str)):
        return repr(value)
    return str(value)  # an enum member: "OptimizeTarget.COST"

out = {}
for name in json.loads(sys.argv[1]):
    parameters = inspect.signature(getattr(sky, name)).parameters.values()
    out[name] = [[p.name, p.kind.name, default(p.default)] for p in parameters]
print(json.dumps(out))
"""


def _signatures(python: str, env: dict[str, str]) -> dict[str, list[list[str]]]:
    run = subprocess.run(
        [python, "-c", _SIGNATURES, json.dumps(CALLS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def theirs() -> dict[str, list[list[str]]]:
    env = skypilot_env()
    return _signatures(skypilot_python("the SDK signature test"), env)


@pytest.fixture(scope="module")
def ours() -> dict[str, list[list[str]]]:
    return _signatures(sys.executable, dict(os.environ))


@pytest.mark.parametrize("call", CALLS)
def test_signature_matches_skypilot(call: str, theirs, ours) -> None:
    their_parameters = [p for p in theirs[call] if not p[0].startswith("_")]
    extra = EXTRA.get(call, {})
    our_parameters = [p for p in ours[call] if p[0] not in extra]
    assert our_parameters == their_parameters
    our_names = {p[0] for p in ours[call]}
    assert sorted(extra.keys() - our_names) == [], "in EXTRA but not ours: remove"
    for name in extra:
        kind = next(p[1] for p in ours[call] if p[0] == name)
        assert kind == "KEYWORD_ONLY", f"{name}: an extra parameter must be keyword-only"


def test_optimize_is_a_request() -> None:
    task = sky.Task(run="echo hi")
    request_id = sky.optimize(task, minimize=sky.OptimizeTarget.TIME)
    assert isinstance(request_id, str)
    plan = sky.get(request_id)
    assert plan["minimize"] == "TIME"
    # The shape of the blocking call's plan.
    assert plan.keys() == sky.optimize_plan(task).keys()
    assert plan["tasks"][0]["chosen"]["infra"]
    assert plan["table"]


def test_unsupported_arguments_say_so() -> None:
    task = sky.Task(run="echo hi")
    for call in (
        lambda: sky.launch(task, "c", clone_disk_from="other"),
        lambda: sky.launch(task, "c", resize=True),
        lambda: sky.launch(task, "c", backend=object()),
        lambda: sky.start("c", force=True),
        lambda: sky.autostop("c", 5, hook="echo bye"),
        lambda: sky.tail_logs("c", 1, True, tail=10),
    ):
        with pytest.raises(sky.exceptions.NotSupportedError, match="not supported by skycore"):
            call()
    with pytest.raises(ValueError, match="wait_for"):
        sky.autostop("c", 5, wait_for="forever")


def test_signatures_are_inspectable() -> None:
    # SkyPilot's scripts bind arguments by position: check the order here too,
    # without SkyPilot installed.
    names = list(inspect.signature(sky.launch).parameters)
    assert names[:7] == [
        "task",
        "cluster_name",
        "retry_until_up",
        "idle_minutes_to_autostop",
        "wait_for",
        "dryrun",
        "down",
    ]
    assert list(inspect.signature(sky.exec).parameters)[:4] == [
        "task",
        "cluster_name",
        "dryrun",
        "down",
    ]
