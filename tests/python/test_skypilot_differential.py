"""Differential test: every task YAML we have, loaded by SkyPilot 0.14.1 and by us.

The files: our corpus (tests/yaml/{valid,invalid,extensions}), the repository's
examples (examples/), and SkyPilot's own example YAMLs (tests/yaml/skypilot/,
see its README for their source). SkyPilot loads them all in one process of
the test-only virtual environment (tests/skypilot_venv.sh) through
tests/python/skypilot_verdicts.py, as `sky launch <file>` does; we load them
with `sky.load_chain_dag_from_yaml` in this interpreter. A file one side
accepts and the other rejects fails the test, as does a different number of
tasks, unless ALLOWED lists the file with its reason.

SKYCORE_SKYPILOT_PYTHON names the venv's python (scripts/test.sh sets it). Without
it the test is skipped, except in CI (CI=true), where it fails instead.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest
from skypilot_side import skypilot_python

import sky

REPO = pathlib.Path(__file__).resolve().parents[2]
SKYPILOT_VERSION = "0.14.1"

# Files where the verdicts differ on purpose or for a known, filed reason.
# Each entry: path (relative to the repository) -> (SkyPilot's verdict, reason).
# An entry whose file no longer differs fails the test: remove it.
ALLOWED: dict[str, tuple[bool, str]] = {
    # skycore's design lists `local` (this machine) as an infra; SkyPilot's
    # schema does not know it.
    "tests/yaml/extensions/01-infra-local.yaml": (False, "extension: infra local"),
    # A storage mount with neither a name nor a source cannot be created;
    # SkyPilot says so only at launch ("Storage source or storage name must be
    # specified."), we say so at load, at the line of the null `name:`.
    "tests/yaml/skypilot/examples/docker/echo_app.yaml": (True, "stricter: storage needs a name"),
    # A cloud's region or zone containing '/' loads in SkyPilot 0.14.1 (its
    # catalog refuses it only when the task is planned); `infra:` cannot write
    # it, so the task would not survive its own dump and reload: we refuse it
    # at load, at its line.
    "tests/yaml/invalid/62-region-with-slash.yaml": (True, "stricter: '/' in a cloud region"),
    "tests/yaml/invalid/63-zone-with-slash.yaml": (True, "stricter: '/' in a cloud zone"),
}


def _corpus_files() -> list[pathlib.Path]:
    files: list[pathlib.Path] = []
    for folder in ("tests/yaml/valid", "tests/yaml/invalid", "tests/yaml/extensions"):
        files += sorted((REPO / folder).glob("*.yaml"))
    files += sorted((REPO / "examples").rglob("*.yaml"))
    files += sorted((REPO / "tests/yaml/skypilot").rglob("*.yaml"))
    return files


def _header_overrides(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """needs-env / needs-secret headers of our corpus (tests/yaml/README.md)."""
    envs: dict[str, str] = {}
    secrets: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        for header, into in (("# needs-env:", envs), ("# needs-secret:", secrets)):
            if line.startswith(header):
                name, _, value = line[len(header) :].strip().partition("=")
                into[name] = value
    return envs, secrets


def _requests() -> list[dict]:
    requests = []
    for path in _corpus_files():
        relative = path.relative_to(REPO).as_posix()
        text = path.read_text(encoding="utf-8", errors="replace")
        # Our corpus says what it needs in headers; for the rest, a value for
        # every env left null, as `--env NAME=...` gives it (both loaders need
        # one). Null secrets get none: both take them as references given at
        # launch.
        envs, secrets = _header_overrides(text)
        fill = relative.startswith(("tests/yaml/skypilot/", "examples/"))
        requests.append(
            {
                "path": relative,
                "env_overrides": envs,
                "secrets_overrides": secrets,
                "fill_null_envs": fill,
            }
        )
    return requests


def _skypilot_verdicts(python: str, requests: list[dict], home: pathlib.Path) -> list[dict]:
    env = dict(os.environ)
    # A fresh HOME: no ~/.sky/config.yaml of this machine changes SkyPilot's verdicts.
    env.update(HOME=str(home), SKYPILOT_DISABLE_USAGE_COLLECTION="1", PYTHONNOUSERSITE="1")
    # Nothing of ours in SkyPilot's interpreter: not our modules, nor a sanitizer
    # runtime preloaded for an instrumented build of them.
    env.pop("PYTHONPATH", None)
    env.pop("LD_PRELOAD", None)
    result = subprocess.run(
        [python, str(REPO / "tests/python/skypilot_verdicts.py")],
        input=json.dumps(requests),
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"SkyPilot's loader failed to run:\n{result.stderr[-4000:]}"
    output = json.loads(result.stdout)
    assert output["version"] == SKYPILOT_VERSION, output["version"]
    return output["verdicts"]


def _our_verdict(request: dict) -> dict:
    try:
        dag = sky.load_chain_dag_from_yaml(
            request["path"], request["env_overrides"], request["secrets_overrides"]
        )
        return {"ok": True, "tasks": len(dag.tasks), "error": ""}
    except Exception as e:  # every rejection is a verdict
        return {"ok": False, "tasks": 0, "error": f"{type(e).__name__}: {' '.join(str(e).split())}"}


def test_skypilot_and_skycore_agree_on_every_yaml(tmp_path, monkeypatch) -> None:
    python = skypilot_python("the SkyPilot differential test")
    requests = _requests()
    assert len(requests) > 100, "the corpus went missing"
    theirs = _skypilot_verdicts(python, requests, tmp_path)
    assert [v["path"] for v in theirs] == [r["path"] for r in requests]
    monkeypatch.chdir(REPO)  # relative paths in the YAMLs resolve as for SkyPilot
    problems = []
    for request, their in zip(requests, theirs):
        path = request["path"]
        # The same overrides on both sides (SkyPilot's run filled the null envs).
        our = _our_verdict({**request, "env_overrides": their["env_overrides"]})
        differs = our["ok"] != their["ok"] or (our["ok"] and our["tasks"] != their["tasks"])
        both = (
            f"  SkyPilot {SKYPILOT_VERSION}: {_describe(their)}\n  skycore:        {_describe(our)}"
        )
        if path in ALLOWED:
            expected, reason = ALLOWED[path]
            if not differs:
                problems.append(f"{path}: allow-listed ({reason}) but no longer differs\n{both}")
            elif their["ok"] != expected:
                problems.append(f"{path}: allow-listed ({reason}) for another verdict\n{both}")
        elif differs:
            problems.append(f"{path}: the verdicts differ\n{both}")
    missing = sorted(set(ALLOWED) - {r["path"] for r in requests})
    problems += [f"{path}: allow-listed but not in the corpus" for path in missing]
    assert not problems, f"{len(problems)} difference(s):\n" + "\n".join(problems)


def _describe(verdict: dict) -> str:
    if verdict["ok"]:
        return f"accepts ({verdict['tasks']} task(s))"
    return f"rejects: {verdict['error'][:400]}"


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
