"""SkyPilot's members of ``Task``, ``Resources`` and ``Dag`` for features skycore
does not have yet, installed on the native classes when ``sky`` is imported.

Reading the state of such a feature gives what SkyPilot gives for a task that
does not use it (``task.storage_mounts == {}``, ``task.inputs is None``), so
code that only reads it runs unchanged. Asking for the feature (``set_inputs``,
``set_service``, a non-empty ``set_storage_mounts``, ...) raises
``sky.exceptions.NotSupportedError`` naming it; handing one of them "nothing"
(``None``, ``{}``) is accepted, as SkyPilot accepts it. Nothing here is
imported until used: ``networkx`` and ``sky.clouds`` load on first call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from sky import _skycore, _unsupported, exceptions

_INPUTS = "task inputs/outputs and time estimates"
_STORAGE = "storage buckets (sky.Storage)"
_VOLUMES = "volumes"
_JOBS = "managed jobs (sky.jobs)"
_SERVE = "serving (sky.serve)"
_JOB_GROUPS = "job groups (parallel Dags of primary and auxiliary tasks)"
_GIT = "reading git credentials for a git workdir from the environment"
_REGIONS = "per-cloud Region objects"
_RESERVATIONS = "capacity reservations"
_DEPLOY = "Ray cluster templates (provisioning is native)"
_HOOKS = "lifecycle hooks"

# SkyPilot's default for the legacy Task.docker_image attribute; skycore takes
# a container image from resources.image_id ('docker:...') instead.
_LEGACY_DOCKER_IMAGE = "gpuci/miniforge-cuda:11.4-devel-ubuntu18.04"


def _unsupported_call(owner: str, name: str, feature: str) -> NoReturn:
    _unsupported._raise(f"{owner}.{name}", feature)


def _constant(value: Callable[[], Any], owner: str, name: str, feature: str) -> property:
    """A property reading as ``value()``; setting anything but that raises."""

    def fget(self: object) -> Any:
        return value()

    def fset(self: object, new: Any) -> None:
        if new != value():
            _unsupported_call(owner, name, feature)

    return property(fget, fset, doc=f"Always {value()!r}: skycore has no {feature} yet.")


def _raising(owner: str, name: str, feature: str) -> Callable[..., NoReturn]:
    def method(self: object, *args: object, **kwargs: object) -> NoReturn:
        _unsupported_call(owner, name, feature)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Not supported by skycore yet ({feature})."
    return method


def _install(cls: type, members: dict[str, Any]) -> None:
    for name, member in members.items():
        # Native members win: a feature built later replaces its placeholder.
        if name not in cls.__dict__:
            setattr(cls, name, member)


# ------------------------------------------------------------------------ Task


def _storage_file_mounts(task: _skycore.Task) -> dict[str, dict[str, Any]]:
    # skycore keeps a bucket mount (a mapping) among file_mounts; SkyPilot
    # moves it to storage_mounts as a sky.Storage.
    return {dst: src for dst, src in (task.file_mounts or {}).items() if isinstance(src, dict)}


def _task_storage_mounts(self: _skycore.Task) -> dict[str, Any]:
    buckets = _storage_file_mounts(self)
    if buckets:
        where = ", ".join(sorted(buckets))
        _unsupported_call("Task", "storage_mounts", f"{_STORAGE} in file_mounts ({where})")
    return {}


def _task_set_storage_mounts(
    self: _skycore.Task, storage_mounts: dict[str, Any] | None
) -> _skycore.Task:
    if storage_mounts:
        _unsupported_call("Task", "set_storage_mounts", _STORAGE)
    return self


def _task_update_storage_mounts(
    self: _skycore.Task, storage_mounts: dict[str, Any] | None
) -> _skycore.Task:
    if storage_mounts:
        _unsupported_call("Task", "update_storage_mounts", _STORAGE)
    return self


def _task_sync_storage_mounts(self: _skycore.Task) -> None:
    # Nothing to sync when no bucket is mounted, as in SkyPilot.
    _task_storage_mounts(self)


def _task_volumes(self: _skycore.Task) -> dict[str, Any]:
    return self.to_yaml_config().get("volumes") or {}


def _task_set_volumes(self: _skycore.Task, volumes: dict[str, Any] | None) -> None:
    if volumes or _task_volumes(self):
        _unsupported_call("Task", "set_volumes", _VOLUMES)


def _task_update_volumes(self: _skycore.Task, volumes: dict[str, Any] | None) -> None:
    if volumes:
        _unsupported_call("Task", "update_volumes", _VOLUMES)


def _task_resolve_and_validate_volumes(self: _skycore.Task) -> None:
    if _task_volumes(self):
        _unsupported_call("Task", "resolve_and_validate_volumes", _VOLUMES)


def _task_set_service(self: _skycore.Task, service: object) -> _skycore.Task:
    if service is not None:
        _unsupported_call("Task", "set_service", _SERVE)
    return self


def _task_update_envs_and_secrets_from_workdir(self: _skycore.Task) -> _skycore.Task:
    # A local (or no) workdir has no git credentials to read, as in SkyPilot.
    if isinstance(self.workdir, dict):
        _unsupported_call("Task", "update_envs_and_secrets_from_workdir", _GIT)
    return self


def _task_required_cloud_features(self: _skycore.Task) -> set[Any]:
    from sky.clouds import CloudImplementationFeatures as Feature

    features = set()
    if self.num_nodes > 1:
        features.add(Feature.MULTI_NODE)
    mounted = ("MOUNT", "MOUNT_CACHED")
    if any(
        str(b.get("mode", "MOUNT")).upper() in mounted for b in _storage_file_mounts(self).values()
    ):
        features.add(Feature.STORAGE_MOUNTING)
    return features


_none = lambda: None  # noqa: E731
_empty_dict: Callable[[], dict[str, Any]] = dict
_empty_list: Callable[[], list[Any]] = list

_TASK_MEMBERS: dict[str, Any] = {
    # Inputs, outputs and the time estimator (SkyPilot's experimental optimizer inputs).
    "inputs": _constant(_none, "Task", "inputs", _INPUTS),
    "outputs": _constant(_none, "Task", "outputs", _INPUTS),
    "estimated_inputs_size_gigabytes": _constant(
        _none, "Task", "estimated_inputs_size_gigabytes", _INPUTS
    ),
    "estimated_outputs_size_gigabytes": _constant(
        _none, "Task", "estimated_outputs_size_gigabytes", _INPUTS
    ),
    "time_estimator_func": _constant(_none, "Task", "time_estimator_func", _INPUTS),
    "get_inputs": lambda self: None,
    "get_outputs": lambda self: None,
    "get_estimated_inputs_size_gigabytes": lambda self: None,
    "get_estimated_outputs_size_gigabytes": lambda self: None,
    "get_inputs_cloud": _raising("Task", "get_inputs_cloud", _INPUTS),
    "set_inputs": _raising("Task", "set_inputs", _INPUTS),
    "set_outputs": _raising("Task", "set_outputs", _INPUTS),
    "set_time_estimator": _raising("Task", "set_time_estimator", _INPUTS),
    "estimate_runtime": _raising("Task", "estimate_runtime", _INPUTS),
    # Buckets.
    "storage_mounts": property(_task_storage_mounts),
    "storage_plans": _constant(_empty_dict, "Task", "storage_plans", _STORAGE),
    "set_storage_mounts": _task_set_storage_mounts,
    "update_storage_mounts": _task_update_storage_mounts,
    "sync_storage_mounts": _task_sync_storage_mounts,
    # Volumes: read as the task declares them; using them is not built.
    "volumes": property(_task_volumes),
    "volume_mounts": _constant(_none, "Task", "volume_mounts", _VOLUMES),
    "set_volumes": _task_set_volumes,
    "update_volumes": _task_update_volumes,
    "resolve_and_validate_volumes": _task_resolve_and_validate_volumes,
    # Serving and managed jobs.
    "service_name": _constant(_none, "Task", "service_name", _SERVE),
    "set_service": _task_set_service,
    "managed_job_dag": _constant(_none, "Task", "managed_job_dag", _JOBS),
    "managed_secret_refs": property(lambda self: []),
    # Set by SkyPilot's API server; skycore runs in-process, with no server.
    "api_server_access": property(lambda self: True),
    "file_mounts_mapping": _constant(_none, "Task", "file_mounts_mapping", "an API server"),
    # skycore's optimizer takes them as sky.optimize(blocked_resources=...).
    "blocked_resources": _constant(
        _none, "Task", "blocked_resources", "blocked resources on a Task"
    ),
    "docker_image": _constant(
        lambda: _LEGACY_DOCKER_IMAGE,
        "Task",
        "docker_image",
        "the legacy docker_image attribute (use resources image_id 'docker:<image>')",
    ),
    "get_required_cloud_features": _task_required_cloud_features,
    "update_envs_and_secrets_from_workdir": _task_update_envs_and_secrets_from_workdir,
}

# ------------------------------------------------------------------- Resources


def _resources_required_cloud_features(self: _skycore.Resources) -> set[Any]:
    from sky.clouds import CloudImplementationFeatures as Feature

    features = set()
    if self.use_spot:
        features.add(Feature.SPOT_INSTANCE)
    if self.disk_tier is not None and str(self.disk_tier).lower() != "best":
        features.add(Feature.CUSTOM_DISK_TIER)
    if self.network_tier is not None and str(self.network_tier).lower() == "best":
        features.add(Feature.CUSTOM_NETWORK_TIER)
    if self.extract_docker_image() is not None:
        features.add(Feature.DOCKER_IMAGE)
    if self.get_cloud_image_id() is not None:
        features.add(Feature.IMAGE_ID)
    if self.ports is not None:
        features.add(Feature.OPEN_PORTS)
    for volume in self.volumes or []:
        tier = volume.get("disk_tier")
        if tier is not None and str(tier).lower() != "best":
            features.add(Feature.CUSTOM_DISK_TIER)
    if self.local_disk is not None:
        features.add(Feature.LOCAL_DISK)
    return features


def _resources_reservations(self: _skycore.Resources) -> dict[str, int]:
    # Spot capacity is never reserved (SkyPilot answers {} too).
    if self.use_spot:
        return {}
    _unsupported_call("Resources", "get_reservations_available_resources", _RESERVATIONS)


_RESOURCES_MEMBERS: dict[str, Any] = {
    "hooks": property(lambda self: None),
    "get_required_cloud_features": _resources_required_cloud_features,
    "get_valid_regions_for_launchable": _raising(
        "Resources", "get_valid_regions_for_launchable", _REGIONS
    ),
    "get_reservations_available_resources": _resources_reservations,
    "make_deploy_variables": _raising("Resources", "make_deploy_variables", _DEPLOY),
}

# ------------------------------------------------------------------------- Dag


def _dag_graph(self: _skycore.Dag) -> Any:
    try:
        import networkx
    except ImportError:
        raise exceptions.NotSupportedError(
            "Dag.graph: a networkx DiGraph needs networkx, which skycore does not "
            "depend on: `pip install networkx`, or use Dag.tasks, Dag.edges and "
            "Dag.topological_order()"
        ) from None
    tasks = self.tasks
    graph = networkx.DiGraph()
    graph.add_nodes_from(tasks)
    graph.add_edges_from((tasks[a], tasks[b]) for a, b in self.edges)
    return graph


def _dag_is_job_group(self: _skycore.Dag) -> bool:
    # SkyPilot's definition: a parallel Dag is a job group.
    return getattr(self.execution, "value", self.execution) == "parallel"


def _dag_pre_mount_volumes(self: _skycore.Dag) -> None:
    for task in self.tasks:
        if _task_volumes(task):
            _unsupported_call("Dag", "pre_mount_volumes", _VOLUMES)


def _dag_resolve_and_validate_volumes(self: _skycore.Dag) -> None:
    for task in self.tasks:
        _task_resolve_and_validate_volumes(task)


_DAG_MEMBERS: dict[str, Any] = {
    "graph": property(_dag_graph),
    "get_graph": _dag_graph,
    # Job groups: every task is primary, with no delay and in-group networking.
    "primary_tasks": _constant(_none, "Dag", "primary_tasks", _JOB_GROUPS),
    "termination_delay": _constant(_none, "Dag", "termination_delay", _JOB_GROUPS),
    "inter_connection": _constant(_none, "Dag", "inter_connection", _JOB_GROUPS),
    "inter_connection_enabled": lambda self: True,
    "is_job_group": _dag_is_job_group,
    "is_primary_task": lambda self, task_name: True,
    "get_auxiliary_task_names": lambda self: [],
    "get_termination_delay_secs": lambda self, task_name: 0,
    "pool": _constant(_none, "Dag", "pool", f"pools of {_JOBS}"),
    "pre_mount_volumes": _dag_pre_mount_volumes,
    "resolve_and_validate_volumes": _dag_resolve_and_validate_volumes,
}

_install(_skycore.Task, _TASK_MEMBERS)
_install(_skycore.Resources, _RESOURCES_MEMBERS)
_install(_skycore.Dag, _DAG_MEMBERS)
