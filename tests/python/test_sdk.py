"""The Python SDK objects: sky.Resources, sky.Task, sky.Dag, sky.exceptions."""

from __future__ import annotations

import pytest

import sky
from sky import _skycore


def test_resources_keyword_forms() -> None:
    r = sky.Resources(infra="aws/us-east-1", accelerators="A100:8", cpus="8+", use_spot=True)
    assert r.cloud == "aws"
    assert r.region == "us-east-1"
    assert r.accelerators == {"A100": 8}
    assert r.cpus == "8+"
    assert r.use_spot is True
    assert sky.Resources(accelerators={"H100": 0.5}).accelerators == {"H100": 0.5}
    assert sky.Resources(cloud="gcp", region="us-central1").infra == "gcp/us-central1"
    assert sky.Resources(ports=[8080, "9000-9010"]).ports == ["8080", "9000-9010"]


def test_resources_value_semantics() -> None:
    a = sky.Resources(accelerators="A100:8")
    b = sky.Resources(accelerators={"A100": 8})
    assert a == b
    assert hash(a) == hash(b)
    assert len({a, b}) == 1
    c = a.copy(use_spot=True, infra="gcp")
    assert c.use_spot and c.cloud == "gcp" and c.accelerators == {"A100": 8}
    assert a.use_spot is False
    assert a.to_yaml_config() == {"accelerators": {"A100": 8}}


@pytest.mark.parametrize(
    ("kwargs", "path", "suggestion"),
    [
        ({"accelerators": "A100:x"}, "resources.accelerators", "A100:1"),
        ({"infra": "awz/us-east-1"}, "resources.infra", "aws/us-east-1"),
        ({"disk_tier": "hgh"}, "resources.disk_tier", "high"),
        ({"cpus": "four"}, "resources.cpus", "4"),
    ],
)
def test_resources_errors_are_precise(kwargs: dict, path: str, suggestion: str) -> None:
    with pytest.raises(sky.exceptions.InvalidTaskError) as info:
        sky.Resources(**kwargs)
    err = info.value
    assert isinstance(err, ValueError)
    assert err.field_path == path
    assert suggestion in err.suggestions
    assert path in str(err)


def test_unknown_resources_keyword_suggests() -> None:
    with pytest.raises(ValueError, match="Did you mean 'accelerators'"):
        sky.Resources(acelerators="A100")


def test_task_from_yaml_with_overrides(repo) -> None:
    path = repo / "tests/yaml/valid/56-envs-null-needs-override.yaml"
    with pytest.raises(sky.exceptions.InvalidTaskError, match="--env"):
        sky.Task.from_yaml(str(path))
    lines = path.read_text().splitlines()
    pairs = [
        ln.split(":", 1)[1].strip().split("=", 1) for ln in lines if ln.startswith("# needs-env:")
    ]
    overrides = {name: value for name, value in pairs}
    task = sky.Task.from_yaml(str(path), env_overrides=overrides)
    for name, value in overrides.items():
        assert task.envs[name] == value
    # SkyPilot passes overrides as a list of tuples too.
    assert sky.Task.from_yaml(str(path), env_overrides=list(overrides.items())).envs == task.envs


def test_task_constructor_and_setters() -> None:
    task = sky.Task("train", run="python train.py", envs={"EPOCHS": 3}, num_nodes=2)
    assert task.name == "train"
    assert task.envs == {"EPOCHS": "3"}
    assert task.num_nodes == 2
    task.set_resources([sky.Resources(accelerators="H100:8"), sky.Resources(accelerators="A100:8")])
    assert task.resources_ordered
    assert [r.accelerators for r in task.resources] == [{"H100": 8}, {"A100": 8}]
    task.set_resources({sky.Resources(accelerators="H100:8"), sky.Resources(accelerators="A100:8")})
    assert isinstance(task.resources, set) and len(task.resources) == 2
    task.update_envs({"EPOCHS": "5", "LR": "0.1"})
    assert task.envs == {"EPOCHS": "5", "LR": "0.1"}
    with pytest.raises(ValueError, match="num_nodes"):
        task.num_nodes = 0
    with pytest.raises(ValueError, match="not a valid variable name"):
        task.update_envs({"1BAD": "x"})


def test_secrets_are_redacted() -> None:
    task = sky.Task(run="echo", secrets={"TOKEN": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(task)
    assert "s3cr3t-value" not in repr(task)
    assert task.to_yaml_config()["secrets"] == {"TOKEN": "<redacted>"}
    assert "s3cr3t-value" not in task.to_yaml()
    assert task.to_yaml_config(redact_secrets=False)["secrets"] == {"TOKEN": "s3cr3t-value"}


def test_task_round_trips_through_config(repo) -> None:
    for path in sorted((repo / "tests/yaml/valid").glob("*.yaml"))[:40]:
        text = path.read_text()
        if "needs-" in text or "dag-tasks" in text:
            continue
        task = sky.Task.from_yaml(str(path))
        again = sky.Task.from_yaml_config(task.to_yaml_config(redact_secrets=False))
        assert task == again, path.name


def test_dag_context_manager_and_edges() -> None:
    with sky.Dag() as dag:
        prep = sky.Task("prep", run="echo prep")
        train = sky.Task("train", run="echo train")
        prep >> train
    assert sky.get_current_dag() is None
    assert dag.tasks == [prep, train]
    assert dag.is_chain()
    assert dag.edges == [(0, 1)]
    outside = sky.Task("outside")
    assert outside not in dag.tasks
    with pytest.raises(ValueError, match="open Dag"):
        prep >> outside


def test_chain_yaml(repo) -> None:
    paths = [p for p in (repo / "tests/yaml/valid").glob("*.yaml") if "dag-tasks" in p.read_text()]
    assert paths
    for path in paths:
        expected = int(
            next(
                line.split(":")[1]
                for line in path.read_text().splitlines()
                if line.startswith("# dag-tasks:")
            )
        )
        overrides = {}
        for line in path.read_text().splitlines():
            if line.startswith("# needs-env:"):
                k, v = line.split(":", 1)[1].strip().split("=", 1)
                overrides[k] = v
        dag = sky.load_chain_dag_from_yaml(str(path), env_overrides=overrides)
        assert len(dag) == expected
        assert dag.is_chain()


def test_every_error_code_has_an_exception_class() -> None:
    for code in _skycore.error_code_names():
        cls = sky.exceptions._class_for_code(code)
        assert cls is not sky.exceptions.InternalError or code == "Internal", code


def test_config_errors_name_the_field() -> None:
    with pytest.raises(sky.exceptions.InvalidTaskError) as info:
        sky.Task.from_yaml_config({"resources": {"any_of": [{"cpus": 2}, {"cpus": "lots"}]}})
    assert info.value.field_path == "resources.any_of[1].cpus"


def test_multi_line_strings_round_trip_exactly() -> None:
    for run in ["a\nb", "a\nb\n", "a\n\n", "  indented\nx\n", "tab\there\n"]:
        task = sky.Task("t", run=run)
        again = sky.Task.from_yaml_str(task.to_yaml(redact_secrets=False))
        assert again.run == run, repr(run)
