"""SkyPilot 0.14.1 beside skycore, for the tests that compare the two.

SkyPilot lives in a test-only virtual environment (tests/skypilot_venv.sh);
SKYCORE_SKYPILOT_PYTHON names its python (scripts/test.sh sets it). Without it
the comparisons are skipped, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import os

import pytest


def skypilot_python(test: str) -> str:
    """The venv's python; skips (fails in CI) `test` without it."""
    python = os.environ.get("SKYCORE_SKYPILOT_PYTHON", "")
    if python:
        return python
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(
            f"SKYCORE_SKYPILOT_PYTHON is not set: in CI {test} must run "
            "(scripts/test.sh sets it from tests/skypilot_venv.sh)"
        )
    pytest.skip("set SKYCORE_SKYPILOT_PYTHON=$(bash tests/skypilot_venv.sh) to run")


def skypilot_env() -> dict[str, str]:
    """This process's environment without PYTHONPATH, which may point at our
    `sky` package: SkyPilot's python must import its own."""
    return {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
