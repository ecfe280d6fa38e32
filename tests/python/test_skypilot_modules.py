"""SkyPilot's module paths (sky.task, sky.resources, sky.dag, sky.utils.dag_utils),
called exactly as a SkyPilot 0.14.1 user script calls them."""

from __future__ import annotations

import copy
import pathlib
import stat
import subprocess
import sys

import pytest

import sky
from sky import dag as dag_lib
from sky import exceptions
from sky.resources import Resources
from sky.task import Task
from sky.utils import dag_utils

PIPELINE = """\
name: pipeline
---
name: prep
resources:
  cpus: 2+
envs:
  STAGE: prep
run: echo prep $STAGE
---
name: train
resources:
  accelerators: A100:1
secrets:
  HF_TOKEN: token-from-yaml
run: echo train
---
name: eval
num_nodes: 2
run: echo eval
"""


@pytest.fixture
def pipeline_yaml(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(PIPELINE)
    return path


def _assert_pipeline(dag: sky.Dag) -> None:
    assert dag.name == "pipeline"
    assert [t.name for t in dag.tasks] == ["prep", "train", "eval"]
    assert dag.edges == [(0, 1), (1, 2)]
    assert dag.is_chain()
    prep, train, evaluate = dag.tasks
    assert prep.envs == {"STAGE": "prep"}
    assert train.resources == {Resources(accelerators="A100:1")}
    assert train.secrets == {"HF_TOKEN": "token-from-yaml"}
    assert evaluate.num_nodes == 2


def test_module_paths_name_the_native_classes() -> None:
    assert Task is sky.Task
    assert Resources is sky.Resources
    assert dag_lib.Dag is sky.Dag
    assert sky.task.Task is sky.Task
    assert sky.resources.Resources is sky.Resources
    assert sky.utils.dag_utils is dag_utils


def test_import_sky_loads_the_module_paths_only_when_named() -> None:
    script = (
        "import sys, sky\n"
        "lazy = ['sky.task', 'sky.resources', 'sky.utils', 'sky.utils.dag_utils']\n"
        "assert not [m for m in lazy if m in sys.modules], sys.modules.keys()\n"
        "assert callable(sky.utils.dag_utils.load_chain_dag_from_yaml)\n"
        "assert 'sky.utils.dag_utils' in sys.modules\n"
        "try:\n"
        "    sky.no_such_module\n"
        "except AttributeError as e:\n"
        "    assert 'no_such_module' in str(e)\n"
        "else:\n"
        "    raise SystemExit('sky.no_such_module resolved')\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)


def test_pipeline_yaml_loads_as_a_chain(pipeline_yaml: pathlib.Path) -> None:
    _assert_pipeline(dag_utils.load_chain_dag_from_yaml(str(pipeline_yaml)))
    _assert_pipeline(dag_utils.load_chain_dag_from_yaml_str(PIPELINE))


def test_paths_may_be_pathlib_paths(pipeline_yaml: pathlib.Path, tmp_path: pathlib.Path) -> None:
    _assert_pipeline(dag_utils.load_chain_dag_from_yaml(pipeline_yaml))
    _assert_pipeline(sky.load_chain_dag_from_yaml(pipeline_yaml))
    single = tmp_path / "task.yaml"
    single.write_text("name: one\nrun: echo one\n")
    assert Task.from_yaml(single).name == "one"
    assert sky.Task.from_yaml(str(single)).name == "one"
    dag = dag_utils.load_chain_dag_from_yaml(single)
    assert dag.name == "one" and [t.name for t in dag.tasks] == ["one"]


def test_task_from_yaml_expands_the_home_directory(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "task.yaml").write_text("name: home\nrun: echo home\n")
    assert Task.from_yaml("~/task.yaml").name == "home"
    assert Task.from_yaml(pathlib.Path("~") / "task.yaml").name == "home"


def test_overrides_apply_to_every_task(pipeline_yaml: pathlib.Path) -> None:
    dag = dag_utils.load_chain_dag_from_yaml(
        pipeline_yaml,
        env_overrides=[("STAGE", "override")],
        secret_overrides=[("HF_TOKEN", "from-cli")],
    )
    assert all(t.envs["STAGE"] == "override" for t in dag.tasks)
    assert all(t.secrets["HF_TOKEN"] == "from-cli" for t in dag.tasks)
    dag = dag_utils.load_chain_dag_from_yaml_str(
        PIPELINE, env_overrides=[("X", "1")], secrets_overrides=[("HF_TOKEN", "s")]
    )
    assert dag.tasks[2].envs == {"X": "1"} and dag.tasks[1].secrets == {"HF_TOKEN": "s"}


def test_dump_then_load_round_trips(pipeline_yaml: pathlib.Path, tmp_path: pathlib.Path) -> None:
    dag = dag_utils.load_chain_dag_from_yaml(pipeline_yaml)
    out = tmp_path / "dumped.yaml"
    dag_utils.dump_chain_dag_to_yaml(dag, out)
    # Secrets are written so the file reloads (as SkyPilot does): owner-only file.
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    again = dag_utils.load_chain_dag_from_yaml(out)
    _assert_pipeline(again)
    assert again.tasks == dag.tasks
    assert dag_utils.load_chain_dag_from_yaml_str(
        dag_utils.dump_chain_dag_to_yaml_str(dag)
    ).tasks == list(dag.tasks)
    shown = dag_utils.dump_chain_dag_to_yaml_str(dag, use_user_specified_yaml=True)
    assert "token-from-yaml" not in shown and "HF_TOKEN" in shown


def test_dag_built_in_python_round_trips(tmp_path: pathlib.Path) -> None:
    with sky.Dag() as dag:
        assert dag_lib.get_current_dag() is dag
        prep = Task("prep", run="echo prep", envs={"A": "1"})
        train = Task("train", run="python train.py", num_nodes=2)
        train.set_resources({Resources(accelerators="H100:8"), Resources(accelerators="A100:8")})
        prep >> train
    dag.name = "built"
    assert dag_lib.get_current_dag() is None
    out = tmp_path / "built.yaml"
    dag_utils.dump_chain_dag_to_yaml(dag, str(out))
    again = dag_utils.load_chain_dag_from_yaml(out)
    assert again.name == "built"
    assert again.tasks == [prep, train]
    assert again.edges == [(0, 1)]


def test_dump_refuses_a_dag_that_is_not_a_chain() -> None:
    with sky.Dag() as dag:
        a, b, c = Task("a"), Task("b"), Task("c")
        a >> b
        a >> c
    with pytest.raises(ValueError, match="not a chain"):
        dag_utils.dump_chain_dag_to_yaml_str(dag)


def test_dag_stack_by_skypilot_names() -> None:
    outer, inner = sky.Dag(), sky.Dag()
    dag_lib.push_dag(outer)
    try:
        with inner:
            assert dag_lib.get_current_dag() is inner
            task = Task("joins-inner")
        assert dag_lib.get_current_dag() is outer
        assert task in inner.tasks and task not in outer.tasks
    finally:
        assert dag_lib.pop_dag() is outer
    assert dag_lib.get_current_dag() is None
    assert dag_lib.pop_dag() is None


def test_convert_entrypoint_to_dag_copies() -> None:
    task = Task("solo", run="echo hi")
    dag = dag_utils.convert_entrypoint_to_dag(task)
    assert dag.name == "solo" and dag.tasks == [task]
    dag.tasks[0].run = "echo changed"
    assert task.run == "echo hi"

    with sky.Dag() as chain:
        first, second = Task("first"), Task("second")
        first >> second
    chain.name = "chain"
    copied = dag_utils.convert_entrypoint_to_dag(chain)
    assert copied.name == "chain" and copied.edges == [(0, 1)]
    assert copied.tasks == [first, second]
    assert copied.tasks[0] is not first
    assert copy.copy(chain).tasks[0] is first

    with pytest.raises(TypeError, match="make it"):
        dag_utils.convert_entrypoint_to_dag("echo hi")
    with pytest.raises(TypeError, match="int"):
        dag_utils.convert_entrypoint_to_dag(3)


def test_invalid_pipeline_raises_what_skypilot_users_catch(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: p\n---\nrun: echo ok\n---\nresources:\n  cpus: lots\n")
    with pytest.raises(ValueError) as info:
        dag_utils.load_chain_dag_from_yaml(path)
    error = info.value
    assert isinstance(error, exceptions.InvalidTaskError)
    assert error.file == str(path)
    assert error.line == 6
    assert error.field_path == "resources.cpus"
    with pytest.raises(exceptions.InvalidTaskError):
        dag_utils.load_chain_dag_from_yaml(tmp_path / "missing.yaml")


def test_pipeline_of_an_unnamed_dag_as_skypilot_writes_it(tmp_path: pathlib.Path) -> None:
    # SkyPilot dumps an unnamed Dag with a `name: null` header document.
    path = tmp_path / "unnamed.yaml"
    path.write_text("name: null\n---\nname: first\n---\nrun: echo second\n")
    dag = dag_utils.load_chain_dag_from_yaml(path)
    assert dag.name is None
    assert [t.name for t in dag.tasks] == ["first", None]
    # The first task holds only a name: the dump must not turn it into a header.
    again = dag_utils.load_chain_dag_from_yaml_str(dag_utils.dump_chain_dag_to_yaml_str(dag))
    assert again.name is None and again.tasks == dag.tasks
