"""``sky.dag``: ``sky.Dag`` as a context manager, as in SkyPilot.

Inside ``with sky.Dag() as dag:``, every ``sky.Task`` created joins ``dag`` and
``a >> b`` adds the edge a -> b. The stack of open Dags is per thread;
``push_dag``/``pop_dag``/``get_current_dag`` are SkyPilot's names for it.

``execution`` and ``policy_applied`` are plain attributes, as in SkyPilot.
"""

from __future__ import annotations

import enum
import threading

from sky import _skycore

_local = threading.local()


class DagExecution(enum.Enum):
    """How the tasks of a multi-task Dag run."""

    SERIAL = "serial"  # one after another (a pipeline)
    PARALLEL = "parallel"  # all at once (a job group)


def get_current_dag() -> _skycore.Dag | None:
    """The innermost Dag opened with ``with`` on this thread, if any."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


def push_dag(dag: _skycore.Dag) -> None:
    """Makes ``dag`` the current Dag of this thread (what ``with dag:`` does)."""
    if not hasattr(_local, "stack"):
        _local.stack = []
    _local.stack.append(dag)


def pop_dag() -> _skycore.Dag | None:
    """Closes the current Dag of this thread and returns it (None if none is open)."""
    stack = getattr(_local, "stack", None)
    return stack.pop() if stack else None


def _enter(self: _skycore.Dag) -> _skycore.Dag:
    push_dag(self)
    return self


def _exit(self: _skycore.Dag, *exc_info: object) -> None:
    pop_dag()


_native_task_init = _skycore.Task.__init__


def _task_init(self: _skycore.Task, *args: object, **kwargs: object) -> None:
    _native_task_init(self, *args, **kwargs)
    dag = get_current_dag()
    if dag is not None:
        dag.add(self)


def _task_rshift(self: _skycore.Task, other: _skycore.Task) -> _skycore.Task:
    dag = get_current_dag()
    if dag is None:
        raise ValueError("`a >> b` needs an open Dag: use it inside `with sky.Dag():`")
    dag.add_edge(self, other)
    return other


def _set_execution(self: _skycore.Dag, execution: DagExecution | None) -> None:
    self.execution = execution


_skycore.Dag.execution = None
_skycore.Dag.policy_applied = False
_skycore.Dag.set_execution = _set_execution
_skycore.Dag.__enter__ = _enter
_skycore.Dag.__exit__ = _exit
_skycore.Task.__init__ = _task_init
_skycore.Task.__rshift__ = _task_rshift

Dag = _skycore.Dag
