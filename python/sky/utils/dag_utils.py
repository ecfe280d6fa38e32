"""``sky.utils.dag_utils``: load and dump pipeline (chain) YAMLs, as in SkyPilot.

Thin layer over the native loader and dumper, with SkyPilot 0.14.1's names and
signatures. A pipeline YAML is several documents, optionally led by one holding
only ``name:`` (the Dag's name); each task runs after the one before it.
Invalid YAML raises ``sky.exceptions.InvalidTaskError`` (also a ``ValueError``,
which is what SkyPilot raises) naming the file, line, column and field.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from typing import Any, Union

from sky import _skycore

# SkyPilot passes a list of (name, value) pairs; a dict is accepted as well.
_Overrides = Union[dict[str, str], Iterable[tuple[str, str]], None]

_ENTRYPOINT_IS_STRING = (
    "Expected a sky.Task or sky.Dag but received a string. To run a command, make it "
    "a task's run command: sky.launch(sky.Task(run=command), ...)"
)


def load_chain_dag_from_yaml(
    path: str | os.PathLike[str],
    env_overrides: _Overrides = None,
    secret_overrides: _Overrides = None,
) -> _skycore.Dag:
    """Loads a task or pipeline YAML file as a chain Dag (one task per document).

    The overrides replace the YAML's ``envs`` / ``secrets`` values of every task.
    """
    return _skycore.load_dag_from_yaml(path, env_overrides, secret_overrides)


def load_chain_dag_from_yaml_str(
    yaml_str: str,
    env_overrides: _Overrides = None,
    secrets_overrides: _Overrides = None,
) -> _skycore.Dag:
    """Loads task or pipeline YAML text as a chain Dag (one task per document)."""
    return _skycore.load_dag_from_yaml_str(yaml_str, env_overrides, secrets_overrides)


def dump_chain_dag_to_yaml_str(dag: _skycore.Dag, use_user_specified_yaml: bool = False) -> str:
    """The chain Dag as pipeline YAML text that loads back to an equal Dag.

    As in SkyPilot, secret values are written in clear so the text reloads;
    ``use_user_specified_yaml=True`` (SkyPilot's form for display) redacts them.
    Raises ValueError if ``dag`` is not a chain.
    """
    if not dag.is_chain():
        raise ValueError(f"{dag!r} is not a chain, so it has no pipeline YAML form")
    return dag.to_yaml(redact_secrets=use_user_specified_yaml)


def dump_chain_dag_to_yaml(dag: _skycore.Dag, path: str | os.PathLike[str]) -> None:
    """Writes the chain Dag to ``path`` as pipeline YAML (secrets in clear).

    A new file is created readable by its owner only, since it may hold secrets.
    """
    text = dump_chain_dag_to_yaml_str(dag)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "w", encoding="utf-8") as out:
        out.write(text)


def convert_entrypoint_to_dag(entrypoint: Any) -> _skycore.Dag:
    """A copy of ``entrypoint`` as a Dag: a Task becomes a one-task Dag of its name.

    Raises TypeError for anything but a sky.Task or sky.Dag.
    """
    if isinstance(entrypoint, str):
        raise TypeError(_ENTRYPOINT_IS_STRING)
    if isinstance(entrypoint, _skycore.Dag):
        return copy.deepcopy(entrypoint)
    if isinstance(entrypoint, _skycore.Task):
        dag = _skycore.Dag()
        dag.add(copy.deepcopy(entrypoint))
        dag.name = entrypoint.name
        return dag
    raise TypeError(
        f"Expected a sky.Task or sky.Dag but received argument of type: {type(entrypoint)}"
    )


__all__ = [
    "convert_entrypoint_to_dag",
    "dump_chain_dag_to_yaml",
    "dump_chain_dag_to_yaml_str",
    "load_chain_dag_from_yaml",
    "load_chain_dag_from_yaml_str",
]
