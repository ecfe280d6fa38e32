"""SkyPilot 0.14.1's public Python names, compared with ours.

SkyPilot (in the test-only virtual environment, tests/skypilot_venv.sh) lists
``sky.__all__``, the public members of a ``sky.Task``, ``sky.Resources`` and
``sky.Dag`` (instances, so that attributes set in ``__init__`` count), and its
exception classes; this interpreter lists ours. A name SkyPilot has and we lack
fails the test unless MISSING lists it with its reason; a name MISSING lists
that we now have fails it too, so the list only shrinks. The coverage summary
is printed (``pytest -s`` shows it).

SKYCORE_SKYPILOT_PYTHON names the venv's python (scripts/test.sh sets it). Without
it the SkyPilot comparisons are skipped, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import copy
import json
import os
import pickle
import subprocess
import sys

import pytest
from skypilot_side import skypilot_env, skypilot_python

import sky
from sky import exceptions

# Lists the public names on whichever side runs it (SkyPilot's python or ours).
_LIST_NAMES = """
import builtins, inspect, json
import sky
from sky import exceptions

def public(obj):
    return sorted(n for n in dir(obj) if not n.startswith("_"))

errors = {}
for name, value in vars(exceptions).items():
    if (inspect.isclass(value) and issubclass(value, BaseException)
            and not name.startswith("_")
            and value.__module__ == exceptions.__name__):
        # The class's ancestors that code can name: SkyPilot's own, or builtins.
        errors[name] = sorted(
            base.__name__ for base in value.__mro__[1:]
            if base.__module__ in (exceptions.__name__, "builtins")
            and base not in (object, BaseException, Exception))
print(json.dumps({
    "__all__": sorted(sky.__all__),
    "Task": public(sky.Task(run="echo hi")),
    "Resources": public(sky.Resources()),
    "Dag": public(sky.Dag()),
    "exceptions": errors,
}))
"""


# Names SkyPilot 0.14.1 has and skycore does not yet, by where they live, each
# with its reason: {"Task": {"name": "why"}}. Features skycore has not built
# (jobs, serve, storage, volumes, ...) are names that raise NotSupportedError
# (sky._members, sky._placeholders), so nothing is missing today.
MISSING: dict[str, dict[str, str]] = {"__all__": {}, "Task": {}, "Resources": {}, "Dag": {}}


def _list_names(python: str, env: dict[str, str]) -> dict:
    run = subprocess.run(
        [python, "-c", _LIST_NAMES],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def theirs() -> dict:
    # Without PYTHONPATH, which may point at our package.
    env = skypilot_env()
    return _list_names(skypilot_python("the SkyPilot surface test"), env)


@pytest.fixture(scope="module")
def ours() -> dict:
    # In a child, like theirs, so that names loaded lazily by other tests
    # do not count.
    return _list_names(sys.executable, dict(os.environ))


@pytest.mark.parametrize("where", ["__all__", "Task", "Resources", "Dag"])
def test_public_names(where: str, theirs: dict, ours: dict) -> None:
    their_names, our_names = set(theirs[where]), set(ours[where])
    covered = their_names & our_names
    print(f"\n{where}: ours {len(covered)}/{len(their_names)} of SkyPilot 0.14.1's names")
    allowed = MISSING[where]
    missing = their_names - our_names
    assert sorted(missing - allowed.keys()) == [], "missing, and not in MISSING"
    assert sorted(allowed.keys() & our_names) == [], "in MISSING but present now: remove"
    assert sorted(allowed.keys() - their_names) == [], "in MISSING but not SkyPilot's"


def test_exception_names_and_hierarchy(theirs: dict, ours: dict) -> None:
    their_errors, our_errors = theirs["exceptions"], ours["exceptions"]
    print(f"\nexceptions: ours {len(their_errors.keys() & our_errors.keys())}/{len(their_errors)}")
    assert sorted(their_errors.keys() - our_errors.keys()) == []
    # `except <SkyPilot's base>:` must catch ours as it catches theirs.
    for name, bases in their_errors.items():
        assert set(bases) <= set(our_errors[name]), name


def test_all_names_resolve() -> None:
    assert [name for name in sky.__all__ if not hasattr(sky, name)] == []


def test_cloud_objects_are_resources_clouds() -> None:
    resources = sky.Resources(cloud=sky.AWS(), cpus="2")
    assert resources.cloud == sky.AWS()
    assert resources == sky.Resources(cloud="aws", cpus="2")
    assert repr(sky.AWS()) == str(sky.AWS()) == "AWS"
    assert sky.Resources(cloud=sky.K8s()).cloud == sky.Kubernetes()
    assert sky.K8s is sky.Kubernetes
    assert sky.AWS() == "AWS" and sky.AWS() != sky.GCP()
    assert len({sky.Lambda(), sky.Lambda(), sky.clouds.Lambda()}) == 1
    assert sky.AWS().is_same_cloud("aws") and sky.AWS().canonical_name() == "aws"
    assert repr(copy.deepcopy(sky.RunPod())) == "RunPod"
    assert pickle.loads(pickle.dumps(sky.SSH())) == sky.SSH()
    assert sky.CLOUD_REGISTRY.from_str("k8s") == sky.Kubernetes()
    assert sky.CLOUD_REGISTRY.from_str(None) is None
    with pytest.raises(ValueError, match="not a valid cloud"):
        sky.CLOUD_REGISTRY.from_str("nowhere")
    with pytest.raises(TypeError):
        sky.clouds.Cloud()


@pytest.mark.parametrize(
    "call",
    [
        lambda: sky.jobs.queue_v2(refresh=False),
        lambda: sky.serve.up(sky.Task(run="echo"), "svc"),
        lambda: sky.storage_ls(),
        lambda: sky.api_status(),
        lambda: sky.Storage(name="bucket"),
        lambda: sky.Optimizer.optimize,
    ],
)
def test_features_not_built_raise_not_supported(call) -> None:
    with pytest.raises(exceptions.NotSupportedError, match="not supported by skycore yet"):
        call()


def test_skypilot_exception_bases() -> None:
    # Errors skycore raises stay catchable by both families of names.
    assert issubclass(exceptions.CommandError, exceptions.CommandFailureException)
    assert issubclass(exceptions.KubeAPIUnreachableError, exceptions.ResourcesUnavailableError)
    assert issubclass(exceptions.StorageSpecError, ValueError)
    assert issubclass(exceptions.StorageSpecError, exceptions.SkyError)
