"""``sky.jobs``: managed jobs, as SkyPilot's SDK has them.

``launch``, ``queue`` and ``cancel`` return a request id at once, and
``sky.get(request_id)`` waits for the result, as for the cluster calls;
``tail_logs`` blocks and returns an exit code, as SkyPilot's does. The jobs
run under the native controller daemon that the first launch starts (see the
README, "Managed jobs"). ``queue_v2``, ``download_logs``, ``wait``,
``dashboard``, pools and job groups are not supported yet: calling them
raises ``sky.exceptions.NotSupportedError``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import IO, Any

from sky import _sdk, _unsupported
from sky._placeholders import ManagedJobStatus

_FEATURE = "managed jobs (sky.jobs)"


def _launch_result(result: dict[str, Any]) -> tuple[list[int], None]:
    # SkyPilot's (job ids, handle of the controller); skycore's controller is
    # a local daemon, not a cluster, so there is no handle.
    return [int(job_id) for job_id in result["job_ids"]], None


def _job_record(job: dict[str, Any]) -> dict[str, Any]:
    record = dict(job)
    record["status"] = ManagedJobStatus(job["status"])
    return record


_sdk._RESULT_SHAPERS.update(
    {
        "jobs.launch": _launch_result,
        "jobs.queue": lambda result: [_job_record(job) for job in result],
        "jobs.cancel": lambda result: None,
    }
)


def _submit(request: str, body: dict[str, Any]) -> _sdk.RequestId:
    # Not _sdk._submit: its first parameter is called `name`, as is an
    # argument of these requests.
    return _sdk.get_context().native.submit(request, body)


def launch(
    task: _sdk.TaskOrDag,
    name: str | None = None,
    pool: str | None = None,
    num_jobs: int | None = None,
    _need_confirmation: bool = False,
) -> _sdk.RequestId:
    """Queues the task as a managed job. ``sky.get`` returns ``([job_id],
    None)``. The task is checked first (one task, no secrets, some enabled
    infra can run it): a failing check is recorded as FAILED_PRECHECKS and
    ``sky.get`` raises its error. The job's priority is the task's
    ``resources.priority`` (default 0). ``pool`` and ``num_jobs`` raise
    ``NotSupportedError``."""
    del _need_confirmation  # nothing is asked: the SDK never prompts
    _sdk._check_task(task)
    if pool is not None:
        _sdk._not_supported("sky.jobs.launch", "pool=...", "worker pools")
    if num_jobs is not None:
        _sdk._not_supported("sky.jobs.launch", "num_jobs=...", "launching several copies")
    return _submit("jobs.launch", {"task": task, "name": name})


def queue(
    refresh: bool,
    skip_finished: bool = False,
    all_users: bool = False,
    job_ids: Sequence[int] | None = None,
) -> _sdk.RequestId:
    """The managed jobs, newest first. ``sky.get`` returns a list of dicts
    with SkyPilot's fields (``job_id``, ``job_name``, ``status`` as a
    :class:`ManagedJobStatus`, ``submitted_at``, ``recovery_count``,
    ``failure_reason``, ...). ``refresh`` is accepted: the table is always
    current."""
    del refresh
    return _submit(
        "jobs.queue",
        {"skip_finished": skip_finished, "all_users": all_users, "job_ids": list(job_ids or [])},
    )


def cancel(
    name: str | None = None,
    job_ids: Sequence[int] | None = None,
    all: bool = False,  # SkyPilot's name (shadows the builtin here only)
    all_users: bool = False,
    pool: str | None = None,
) -> _sdk.RequestId:
    """Cancels managed jobs: by id, by name, or every unfinished one (``all``:
    yours; ``all_users``: everyone's). A PENDING job is cancelled at once and
    never launched; a started one goes through CANCELLING to CANCELLED."""
    if pool is not None:
        _sdk._not_supported("sky.jobs.cancel", "pool=...", "worker pools")
    return _submit(
        "jobs.cancel",
        {"name": name, "job_ids": list(job_ids or []), "all": all, "all_users": all_users},
    )


def tail_logs(
    name: str | None = None,
    job_id: int | None = None,
    follow: bool = True,
    controller: bool = False,
    refresh: bool = False,
    tail: int | None = None,
    output_stream: IO[str] | None = None,
) -> int:
    """Writes a managed job's output (the latest job's, or the latest of
    ``name``) to ``output_stream`` (default ``sys.stdout``); with ``follow``,
    until the job ends. ``controller``: what the controller did for the job
    instead. Blocks; returns 0 when the job succeeded, 100 when it failed,
    103 when it was cancelled, 101 when it has not finished. ``tail`` raises
    ``NotSupportedError``."""
    del refresh
    if tail:
        _sdk._not_supported("sky.jobs.tail_logs", f"tail={tail}", "tailing the last lines")
    request_id = _submit(
        "jobs.logs", {"name": name, "job_id": job_id, "follow": follow, "controller": controller}
    )
    context = _sdk.get_context()
    stream = output_stream if output_stream is not None else sys.stdout
    status = ManagedJobStatus(context.wait(request_id, stream))
    if status == ManagedJobStatus.SUCCEEDED:
        return 0
    if status == ManagedJobStatus.CANCELLED:
        return 103
    if status.value.startswith("FAILED"):
        return 100
    return 101


queue_v2 = _unsupported.function("sky.jobs.queue_v2", _FEATURE)
download_logs = _unsupported.function("sky.jobs.download_logs", _FEATURE)
wait = _unsupported.function("sky.jobs.wait", _FEATURE)
dashboard = _unsupported.function("sky.jobs.dashboard", _FEATURE)

__all__ = [
    "ManagedJobStatus",
    "cancel",
    "dashboard",
    "download_logs",
    "launch",
    "queue",
    "queue_v2",
    "tail_logs",
    "wait",
]
