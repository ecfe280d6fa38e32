"""skycore: run AI and batch jobs on any infra, and pick the cheapest place that fits.

A SkyPilot-compatible SDK over a native C++ core. ``import sky`` stays cheap: only
the native module and small pure-Python helpers load here; SkyPilot's other module
paths (``sky.task``, ``sky.resources``, ``sky.utils.dag_utils``, ...) load on first use.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

from sky import _skycore, exceptions
from sky._sdk import (
    ClusterStatus,
    JobStatus,
    StatusRefreshMode,
    api_cancel,
    autostop,
    cancel,
    check,
    cost_report,
    down,
    download_logs,
    endpoints,
    exec,
    get,
    job_status,
    launch,
    optimize,
    queue,
    ssh_down,
    ssh_up,
    start,
    status,
    stop,
    stream_and_get,
    tail_logs,
)
from sky.dag import Dag, get_current_dag

# SkyPilot's Task/Resources/Dag members for features not built yet, set on the
# native classes (cheap: nothing else loads).
from sky import _members  # noqa: F401  # isort: skip

if TYPE_CHECKING:
    from sky import backends as backends
    from sky import batch as batch
    from sky import clouds as clouds
    from sky import jobs as jobs
    from sky import resources as resources
    from sky import serve as serve
    from sky import task as task
    from sky import utils as utils

__version__: str = _skycore.__version__

Resources = _skycore.Resources
Task = _skycore.Task
OptimizeTarget = _skycore.OptimizeTarget
# sky.optimize is SkyPilot's request form (sky.get returns the plan); this
# blocking call returns the plan at once, in-process.
optimize_plan = _skycore.optimize
list_accelerators = _skycore.list_accelerators


def load_chain_dag_from_yaml(
    path: str | os.PathLike[str],
    env_overrides: dict[str, str] | list[tuple[str, str]] | None = None,
    secrets_overrides: dict[str, str] | list[tuple[str, str]] | None = None,
) -> Dag:
    """Loads a task YAML; several documents give a chain of tasks."""
    return _skycore.load_dag_from_yaml(path, env_overrides, secrets_overrides)


# SkyPilot's installed package folder; ours, for code that finds files beside it.
__root_dir__: str = os.path.dirname(os.path.abspath(__file__))

# SkyPilot's module paths, imported when first named (`sky.utils.dag_utils...`), so
# that `import sky` does not pay for them.
_LAZY_SUBMODULES = frozenset(
    {"backends", "batch", "clouds", "jobs", "resources", "serve", "task", "utils"}
)

# Top-level names that live in a submodule, loaded on first use for the same reason.
_CLOUD_NAMES = (
    "AWS",
    "Azure",
    "Cudo",
    "GCP",
    "IBM",
    "Kubernetes",
    "K8s",
    "SSH",
    "Lambda",
    "OCI",
    "Paperspace",
    "PrimeIntellect",
    "RunPod",
    "Vast",
    "SCP",
    "Slurm",
    "Vsphere",
    "Fluidstack",
    "Nebius",
    "Hyperbolic",
    "Mithril",
    "Shadeform",
    "Seeweb",
    "Yotta",
    "CLOUD_REGISTRY",
)
_PLACEHOLDER_NAMES = (
    "AdminPolicy",
    "AdminPolicyRequestName",
    "Config",
    "DagExecution",
    "FileMountType",
    "JOBS_RECOVERY_STRATEGY_REGISTRY",
    "ManagedJobStatus",
    "MutatedUserRequest",
    "Optimizer",
    "Storage",
    "StorageMode",
    "StoreType",
    "UserRequest",
    "api_info",
    "api_login",
    "api_server_logs",
    "api_start",
    "api_status",
    "api_stop",
    "create_debug_dump",
    "download_debug_dump",
    "get_user_workspace",
    "reload_config",
    "set_preferred_workspace",
    "storage_delete",
    "storage_ls",
)
_LAZY_NAMES = dict.fromkeys(_CLOUD_NAMES, "clouds") | dict.fromkeys(
    _PLACEHOLDER_NAMES, "_placeholders"
)


def __getattr__(name: str) -> object:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    module = _LAZY_NAMES.get(name)
    if module is not None:
        value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    *_CLOUD_NAMES,
    *_PLACEHOLDER_NAMES,
    "__root_dir__",
    "backends",
    "batch",
    "ClusterStatus",
    "Dag",
    "JobStatus",
    "OptimizeTarget",
    "Resources",
    "StatusRefreshMode",
    "Task",
    "__version__",
    "api_cancel",
    "autostop",
    "cancel",
    "check",
    "cost_report",
    "down",
    "download_logs",
    "endpoints",
    "exceptions",
    "exec",
    "get",
    "get_current_dag",
    "job_status",
    "launch",
    "list_accelerators",
    "load_chain_dag_from_yaml",
    "optimize",
    "optimize_plan",
    "queue",
    "ssh_down",
    "ssh_up",
    "start",
    "status",
    "stop",
    "stream_and_get",
    "tail_logs",
]
