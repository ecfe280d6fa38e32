"""The cluster life-cycle SDK: ``sky.launch``, ``sky.status``, ``sky.get``, ...

As in SkyPilot's client SDK, each operation returns a request id at once and
``sky.get(request_id)`` (or ``sky.stream_and_get``, which also shows the
request's output) waits for its result. Requests run in this process, on the
native context's worker pool; they are recorded in the state store.

The native context (state dir, catalog, executables, workers) is one explicit
:class:`Context`, created from the environment on first use. Tests replace it
with :func:`set_context`.

Waiting happens in short slices with the GIL released; the request's output is
written from this thread between slices, and Ctrl-C (or a Jupyter interrupt)
cancels the request before ``KeyboardInterrupt`` propagates.
"""

from __future__ import annotations

import enum
import os
import pathlib
import sys
import sysconfig
import threading
from collections.abc import Sequence
from typing import IO, Any, Callable, Union

from sky import _skycore
from sky._output import OutputWriter

# How long one native wait lasts before Python checks for signals and output.
_WAIT_SLICE_S = 0.1

RequestId = str
TaskOrDag = Union[_skycore.Task, _skycore.Dag]


class ClusterStatus(enum.Enum):
    """A cluster's status, as in SkyPilot (``sky.ClusterStatus``)."""

    INIT = "INIT"
    UP = "UP"
    STOPPED = "STOPPED"


class JobStatus(enum.Enum):
    """A job's status on its cluster, as in SkyPilot (``sky.JobStatus``)."""

    INIT = "INIT"
    PENDING = "PENDING"
    SETTING_UP = "SETTING_UP"
    RUNNING = "RUNNING"
    FAILED_DRIVER = "FAILED_DRIVER"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    FAILED_SETUP = "FAILED_SETUP"
    CANCELLED = "CANCELLED"

    def is_terminal(self) -> bool:
        return self not in (
            JobStatus.INIT,
            JobStatus.PENDING,
            JobStatus.SETTING_UP,
            JobStatus.RUNNING,
        )


class StatusRefreshMode(enum.Enum):
    """How ``sky.status`` refreshes clusters, as in SkyPilot."""

    NONE = "NONE"
    AUTO = "AUTO"
    FORCE = "FORCE"


class ResourceHandle:
    """A launched cluster, as ``sky.get(sky.launch(...))`` returns it.

    Read-only: the attributes SkyPilot's handle is mostly used for
    (``cluster_name``, ``launched_nodes``, ``head_ip``) plus every field of
    the native handle as an attribute (``handle.cluster_dir``, ...).
    """

    def __init__(self, cluster_name: str, fields: dict[str, Any] | None) -> None:
        self.cluster_name = cluster_name
        self._fields: dict[str, Any] = dict(fields) if fields else {}

    @property
    def cluster_name_on_cloud(self) -> str:
        return str(self._fields.get("cluster_name_on_cloud", self.cluster_name))

    @property
    def launched_nodes(self) -> int:
        return int(self._fields.get("num_nodes", 1))

    @property
    def head_ip(self) -> str | None:
        return self._fields.get("head_ip")

    def get_cluster_name(self) -> str:
        return self.cluster_name

    def to_dict(self) -> dict[str, Any]:
        return {**self._fields, "cluster_name": self.cluster_name}

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("_fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ResourceHandle) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(self.cluster_name)

    def __repr__(self) -> str:
        return (
            f"ResourceHandle(cluster_name={self.cluster_name!r}, "
            f"launched_nodes={self.launched_nodes}, head_ip={self.head_ip!r})"
        )


# ------------------------------------------------------------------- context


def _default_bin_dir() -> str | None:
    """The environment's scripts dir when ``skyletd`` was installed there.

    A Jupyter kernel does not run from that dir, so the native default (beside
    the running executable) would not find it. $SKYCORE_BIN_DIR wins.
    """
    if os.environ.get("SKYCORE_BIN_DIR"):
        return None
    scripts = sysconfig.get_path("scripts")
    if scripts and (pathlib.Path(scripts) / "skyletd").exists():
        return scripts
    return None


class Context:
    """One native :class:`sky._skycore.Sky` and the requests submitted through it."""

    def __init__(self, native: _skycore.Sky) -> None:
        self.native = native
        self._request_names: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_environment(cls, state_dir: str | os.PathLike[str] | None = None) -> Context:
        """A context configured like the ``sky`` command ($SKYCORE_STATE_DIR, ...)."""
        return cls(
            _skycore.Sky(
                state_dir=os.fspath(state_dir) if state_dir is not None else None,
                bin_dir=_default_bin_dir(),
            )
        )

    def submit(self, name: str, **body: Any) -> RequestId:
        request_id = self.native.submit(name, body)
        with self._lock:
            self._request_names[request_id] = name
        return request_id

    def request_name(self, request_id: str) -> str | None:
        with self._lock:
            name = self._request_names.get(request_id)
        return name if name is not None else self.native.request_name(request_id)

    def wait(self, request_id: str, output_stream: IO[str] | None = None) -> Any:
        """Waits for the request and returns its raw result; streams its output
        to ``output_stream`` when given. Ctrl-C cancels the request."""
        waiter = self.native.wait_for(request_id, stream=output_stream is not None)
        writer = OutputWriter(output_stream) if output_stream is not None else None
        try:
            while not waiter.wait(_WAIT_SLICE_S):
                if writer is not None:
                    writer.write_events(waiter.drain())
        except KeyboardInterrupt:
            self.native.api_cancel(request_id)
            # Let the cancellation finish and show its output; a second Ctrl-C
            # abandons the wait (the native thread ends on its own).
            while not waiter.wait(_WAIT_SLICE_S):
                if writer is not None:
                    writer.write_events(waiter.drain())
            if writer is not None:
                writer.write_events(waiter.drain())
                writer.message(f"Request {request_id} cancelled.")
            raise
        except BaseException:
            # The caller gave up waiting (a signal handler raised, the output
            # stream failed): the request must not run on unseen.
            self.native.api_cancel(request_id)
            raise
        if writer is not None:
            writer.write_events(waiter.drain())
            writer.close()
        return waiter.result()


_context: Context | None = None
_context_lock = threading.Lock()


def get_context() -> Context:
    """The process-wide context, created from the environment on first use."""
    global _context
    with _context_lock:
        if _context is None:
            _context = Context.from_environment()
        return _context


def set_context(context: Context | None) -> Context | None:
    """Replaces the process-wide context (None: recreate from the environment
    on next use). Returns the previous one."""
    global _context
    with _context_lock:
        previous, _context = _context, context
        return previous


# ------------------------------------------------------------ result shaping


def _cluster_status(value: Any) -> ClusterStatus | None:
    return ClusterStatus(value) if value is not None else None


def _job_status(value: Any) -> JobStatus | None:
    return JobStatus(value) if value is not None else None


def _cluster_dict(cluster: dict[str, Any]) -> dict[str, Any]:
    """A cluster record as SkyPilot's ``sky.status`` gives it."""
    record = dict(cluster)
    record["status"] = _cluster_status(record.get("status"))
    record["handle"] = ResourceHandle(cluster["name"], cluster.get("handle"))
    return record


def _job_dict(job: dict[str, Any]) -> dict[str, Any]:
    record = dict(job)
    record["status"] = _job_status(record.get("status"))
    return record


def _launch_result(result: dict[str, Any]) -> tuple[int | None, ResourceHandle | None]:
    """SkyPilot's ``(job_id, handle)``; a dry run has neither."""
    handle = result.get("handle")
    if not handle:
        return result.get("job_id"), None
    return result.get("job_id"), ResourceHandle(result["cluster_name"], handle)


def _start_result(cluster: dict[str, Any]) -> ResourceHandle:
    return ResourceHandle(cluster["name"], cluster.get("handle"))


def _job_status_result(result: dict[str, Any]) -> dict[int, JobStatus | None]:
    return {int(job_id): _job_status(status) for job_id, status in result.items()}


def _endpoints_result(result: dict[str, Any]) -> dict[int, str]:
    return {int(port): url for port, url in result.items()}


def _cost_report_row(row: dict[str, Any]) -> dict[str, Any]:
    record = dict(row)
    record["status"] = _cluster_status(record.get("status"))
    return record


def _check_result(result: dict[str, Any]) -> dict[str, list[str]]:
    """SkyPilot's {workspace: [enabled infra]}; one workspace, 'default'."""
    return {"default": sorted(infra for infra, check in result.items() if check["enabled"])}


_RESULT_SHAPERS: dict[str, Callable[[Any], Any]] = {
    "launch": _launch_result,
    "exec": _launch_result,
    "optimize": lambda result: result,
    "start": _start_result,
    "status": lambda result: [_cluster_dict(c) for c in result],
    "queue": lambda result: [_job_dict(j) for j in result],
    "job_status": _job_status_result,
    "cancel": lambda result: None,
    "stop": lambda result: None,
    "down": lambda result: None,
    "autostop": lambda result: None,
    "endpoints": _endpoints_result,
    "cost_report": lambda result: [_cost_report_row(r) for r in result],
    "check": _check_result,
}


def _shape(context: Context, request_id: str, result: Any) -> Any:
    name = context.request_name(request_id)
    shaper = _RESULT_SHAPERS.get(name or "")
    return shaper(result) if shaper is not None else result


# ------------------------------------------------------------------ requests


def get(request_id: RequestId) -> Any:
    """Waits for a request and returns its result; raises its error (a
    ``sky.exceptions`` class). Ctrl-C cancels the request."""
    context = get_context()
    return _shape(context, request_id, context.wait(request_id))


def stream_and_get(
    request_id: RequestId | None = None, *, output_stream: IO[str] | None = None
) -> Any:
    """Like :func:`get`, writing the request's output (steps, job logs) to
    ``output_stream`` (default ``sys.stdout``) as it comes."""
    if request_id is None:
        raise ValueError("stream_and_get needs a request id (as returned by sky.launch, ...)")
    context = get_context()
    stream = output_stream if output_stream is not None else sys.stdout
    return _shape(context, request_id, context.wait(request_id, stream))


def api_cancel(request_ids: RequestId | Sequence[RequestId]) -> list[RequestId]:
    """Cancels pending or running requests; returns the ids actually cancelled
    (those not already finished). Unlike SkyPilot, this acts at once and
    returns the list, not a request id."""
    ids = [request_ids] if isinstance(request_ids, str) else list(request_ids)
    native = get_context().native
    return [request_id for request_id in ids if native.api_cancel(request_id)]


# ---------------------------------------------------------------- operations


def _submit(name: str, **body: Any) -> RequestId:
    return get_context().submit(name, **body)


def _check_task(task: Any) -> None:
    if not isinstance(task, (_skycore.Task, _skycore.Dag)):
        raise TypeError(f"expected a sky.Task or sky.Dag, got {type(task).__name__}")


def _not_supported(call: str, argument: str, why: str) -> None:
    from sky import exceptions

    raise exceptions.NotSupportedError(f"{call}({argument}): {why} is not supported by skycore yet")


def _wait_for_value(call: str, wait_for: Any) -> str | None:
    """SkyPilot's ``AutostopWaitFor`` (or its value) as the native string."""
    if wait_for is None:
        return None
    value = str(getattr(wait_for, "value", wait_for)).lower()
    if value not in ("jobs_and_ssh", "jobs", "none"):
        raise ValueError(
            f"{call}: wait_for must be 'jobs_and_ssh', 'jobs' or 'none', not {value!r}"
        )
    return value


def _target_name(target: Any) -> str:
    return str(getattr(target, "name", target)).upper()


def launch(
    task: TaskOrDag,
    cluster_name: str | None = None,
    retry_until_up: bool = False,
    idle_minutes_to_autostop: int | None = None,
    wait_for: Any = None,
    dryrun: bool = False,
    down: bool = False,
    backend: Any = None,
    optimize_target: _skycore.OptimizeTarget = _skycore.OptimizeTarget.COST,
    no_setup: bool = False,
    clone_disk_from: str | None = None,
    fast: bool = False,
    resize: bool = False,
    *,
    detach_run: bool = False,
) -> RequestId:
    """Launches a cluster (or reuses/starts one of that name) and runs the
    task's ``run`` as a job. ``sky.get`` returns ``(job_id, handle)``; a dry
    run returns ``(None, None)``. The parameters are SkyPilot's, in its order;
    ``detach_run`` (skycore's) returns once the job is submitted instead of
    when it finishes. ``wait_for`` other than "jobs", a ``backend``,
    ``clone_disk_from`` and ``resize`` raise ``NotSupportedError``."""
    _check_task(task)
    if _wait_for_value("sky.launch", wait_for) not in (None, "jobs"):
        _not_supported("sky.launch", f"wait_for={wait_for!r}", "autostop idleness other than jobs")
    if backend is not None:
        _not_supported("sky.launch", "backend=...", "a Python backend (provisioning is native)")
    if clone_disk_from is not None:
        _not_supported("sky.launch", "clone_disk_from=...", "creating an image from a disk")
    if resize:
        _not_supported("sky.launch", "resize=True", "resizing a cluster's disk")
    return _submit(
        "launch",
        task=task,
        cluster_name=cluster_name,
        dryrun=dryrun,
        detach_run=detach_run,
        idle_minutes_to_autostop=idle_minutes_to_autostop,
        down=down,
        fast=fast,
        retry_until_up=retry_until_up,
        no_setup=no_setup,
        optimize_target=_target_name(optimize_target),
    )


def exec(  # SkyPilot's name (shadows the builtin here only)
    task: TaskOrDag,
    cluster_name: str | None = None,
    dryrun: bool = False,
    down: bool = False,
    backend: Any = None,
    *,
    detach_run: bool = False,
) -> RequestId:
    """Runs the task as a job on an UP cluster (no setup). ``sky.get`` returns
    ``(job_id, handle)``; a dry run checks the cluster and returns
    ``(None, None)``. ``down`` tears the cluster down once its jobs finish."""
    _check_task(task)
    if not cluster_name:
        raise ValueError("sky.exec needs the name of an existing cluster")
    if backend is not None:
        _not_supported("sky.exec", "backend=...", "a Python backend (provisioning is native)")
    return _submit(
        "exec",
        task=task,
        cluster_name=cluster_name,
        detach_run=detach_run,
        dryrun=dryrun,
        down=down,
    )


def optimize(
    dag: TaskOrDag,
    minimize: _skycore.OptimizeTarget = _skycore.OptimizeTarget.COST,
    admin_policy_request_options: Any = None,
) -> RequestId:
    """Chooses where each task runs. ``sky.get`` returns the plan, as
    :func:`optimize_plan` does (SkyPilot's returns the Dag with each task's
    ``best_resources`` set)."""
    _check_task(dag)
    if admin_policy_request_options is not None:
        _not_supported("sky.optimize", "admin_policy_request_options=...", "admin policies")
    return _submit("optimize", task=dag, minimize=_target_name(minimize))


def status(
    cluster_names: str | Sequence[str] | None = None,
    refresh: bool | StatusRefreshMode = StatusRefreshMode.NONE,
    all_users: bool = False,
) -> RequestId:
    """Clusters (names or globs; None: all). ``sky.get`` returns a list of
    dicts: name, status (``sky.ClusterStatus``), launched_at, handle, ...

    All clusters of this state dir are listed; ``all_users`` is accepted for
    SkyPilot compatibility.
    """
    del all_users  # one user per local state dir
    names = [cluster_names] if isinstance(cluster_names, str) else list(cluster_names or [])
    if isinstance(refresh, StatusRefreshMode):
        refresh = refresh is not StatusRefreshMode.NONE
    return _submit("status", cluster_names=names, refresh=bool(refresh))


def queue(cluster_name: str, skip_finished: bool = False, all_users: bool = False) -> RequestId:
    """The cluster's jobs, newest first. ``sky.get`` returns a list of dicts:
    job_id, job_name, username, submitted_at, start_at, end_at, resources,
    status (``sky.JobStatus``), log_path."""
    return _submit(
        "queue", cluster_name=cluster_name, skip_finished=skip_finished, all_users=all_users
    )


def job_status(cluster_name: str, job_ids: Sequence[int] | None = None) -> RequestId:
    """``sky.get`` returns {job_id: sky.JobStatus} (None: the latest job)."""
    return _submit("job_status", cluster_name=cluster_name, job_ids=list(job_ids or []))


def cancel(
    cluster_name: str,
    all: bool = False,  # SkyPilot's name
    all_users: bool = False,
    job_ids: Sequence[int] | None = None,
) -> RequestId:
    """Cancels the given jobs, every unfinished one (``all``), or the latest."""
    del all_users  # one user per local state dir
    return _submit("cancel", cluster_name=cluster_name, job_ids=list(job_ids or []), all=all)


def tail_logs(
    cluster_name: str,
    job_id: int | None,
    follow: bool,
    tail: int = 0,
    output_stream: IO[str] | None = None,
    *,
    preload_content: bool = True,
) -> int:
    """Writes a job's output (None: the latest job) to ``output_stream``
    (default ``sys.stdout``), until it finishes with ``follow``. Blocks;
    returns SkyPilot's exit code (0: the job succeeded). ``tail`` (the last N
    lines; 0: all) and ``preload_content=False`` (an iterator of lines) raise
    ``NotSupportedError``."""
    if tail:
        _not_supported("sky.tail_logs", f"tail={tail}", "tailing the last lines")
    if not preload_content:
        _not_supported("sky.tail_logs", "preload_content=False", "iterating over log lines")
    request_id = _submit("tail_logs", cluster_name=cluster_name, job_id=job_id, follow=follow)
    context = get_context()
    stream = output_stream if output_stream is not None else sys.stdout
    return _tail_logs_exit_code(context.wait(request_id, stream))


def _tail_logs_exit_code(result: Any) -> int:
    if isinstance(result, dict) and "exit_code" in result:
        return int(result["exit_code"])
    return int(result)


def download_logs(cluster_name: str, job_ids: Sequence[int | str] | None) -> dict[str, str]:
    """Copies the jobs' log directories here. Blocks; returns {job_id: local dir}."""
    request_id = _submit(
        "download_logs",
        cluster_name=cluster_name,
        job_ids=[int(j) for j in job_ids] if job_ids else [],
    )
    result = get_context().wait(request_id)
    return {str(job_id): path for job_id, path in result.items()}


def start(
    cluster_name: str,
    idle_minutes_to_autostop: int | None = None,
    wait_for: Any = None,
    retry_until_up: bool = False,
    down: bool = False,
    force: bool = False,
) -> RequestId:
    """Starts a STOPPED cluster. ``sky.get`` returns its handle.
    ``wait_for`` other than "jobs", ``retry_until_up`` and ``force`` raise
    ``NotSupportedError``."""
    if _wait_for_value("sky.start", wait_for) not in (None, "jobs"):
        _not_supported("sky.start", f"wait_for={wait_for!r}", "autostop idleness other than jobs")
    if retry_until_up:
        _not_supported("sky.start", "retry_until_up=True", "retrying a start from the SDK")
    if force:
        _not_supported("sky.start", "force=True", "restarting an UP cluster from the SDK")
    return _submit(
        "start",
        cluster_name=cluster_name,
        idle_minutes_to_autostop=idle_minutes_to_autostop,
        down=down,
    )


def stop(
    cluster_name: str,
    purge: bool = False,
    graceful: bool = False,
    graceful_timeout: int | None = None,
) -> RequestId:
    """Stops a cluster: its jobs are killed, its disks and job table stay.
    ``graceful`` waits for cached file-mount uploads in SkyPilot; skycore has
    none to wait for, so it changes nothing."""
    del graceful, graceful_timeout
    return _submit("stop", cluster_name=cluster_name, purge=purge)


def down(
    cluster_name: str,
    purge: bool = False,
    graceful: bool = False,
    graceful_timeout: int | None = None,
) -> RequestId:
    """Tears a cluster down (``purge``: forget it even when cleanup fails).
    ``graceful`` as in :func:`stop`: nothing to wait for."""
    del graceful, graceful_timeout
    return _submit("down", cluster_name=cluster_name, purge=purge)


def autostop(
    cluster_name: str,
    idle_minutes: int,
    wait_for: Any = None,
    down: bool = False,
    hook: str | None = None,
    hook_timeout: int | None = None,
) -> RequestId:
    """Stops (or with ``down`` tears down) the cluster after ``idle_minutes``
    idle; a negative value cancels autostop. A ``hook`` raises
    ``NotSupportedError``."""
    if hook is not None or hook_timeout is not None:
        _not_supported("sky.autostop", "hook=...", "autostop hooks")
    body: dict[str, Any] = {"idle_minutes": idle_minutes, "down": down}
    wait_for = _wait_for_value("sky.autostop", wait_for)
    if wait_for is not None:
        body["wait_for"] = wait_for
    return _submit("autostop", cluster_name=cluster_name, **body)


def cost_report(days: int | None = None) -> RequestId:
    """Cost of clusters used in the last ``days`` (None: all). ``sky.get``
    returns a list of dicts: name, launched_at, duration, num_nodes,
    resources, total_cost, status, ..."""
    return _submit("cost_report", days=days)


def check(infra_list: Sequence[str] | None = None, verbose: bool = False) -> RequestId:
    """Checks which infras can be used."""
    del verbose
    return _submit("check", infras=list(infra_list or []))


def ssh_up(infra: str | None = None) -> RequestId:
    """Probes the hosts of the SSH node pools (all, or the pool ``infra``) and
    installs the skycore agent on each. ``sky.get`` returns one dict per host:
    ``{"pool", "host", "ok", "detail"}``."""
    return _submit("ssh_up", infra=infra)


def ssh_down(infra: str | None = None) -> RequestId:
    """Removes everything skycore put on the hosts of the SSH node pools (all,
    or the pool ``infra``); refused while clusters run there."""
    return _submit("ssh_down", infra=infra)


def endpoints(cluster: str, port: int | str | None = None) -> RequestId:
    """Open ports of an UP cluster. ``sky.get`` returns {port: url}."""
    return _submit("endpoints", cluster=cluster, port=int(port) if port is not None else None)
