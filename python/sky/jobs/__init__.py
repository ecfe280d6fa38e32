"""``sky.jobs``: SkyPilot's managed jobs. skycore has none yet: the names exist
so that code written for SkyPilot imports, and calling one raises
``sky.exceptions.NotSupportedError``."""

from __future__ import annotations

from sky import _unsupported
from sky._placeholders import ManagedJobStatus

_FEATURE = "managed jobs (sky.jobs)"

launch = _unsupported.function("sky.jobs.launch", _FEATURE)
queue = _unsupported.function("sky.jobs.queue", _FEATURE)
queue_v2 = _unsupported.function("sky.jobs.queue_v2", _FEATURE)
cancel = _unsupported.function("sky.jobs.cancel", _FEATURE)
tail_logs = _unsupported.function("sky.jobs.tail_logs", _FEATURE)
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
