"""``sky.serve``: SkyPilot's model serving. skycore has none yet: the names exist
so that code written for SkyPilot imports, and calling one raises
``sky.exceptions.NotSupportedError``."""

from __future__ import annotations

from sky import _unsupported

_FEATURE = "serving (sky.serve)"

up = _unsupported.function("sky.serve.up", _FEATURE)
update = _unsupported.function("sky.serve.update", _FEATURE)
down = _unsupported.function("sky.serve.down", _FEATURE)
status = _unsupported.function("sky.serve.status", _FEATURE)
tail_logs = _unsupported.function("sky.serve.tail_logs", _FEATURE)
sync_down_logs = _unsupported.function("sky.serve.sync_down_logs", _FEATURE)
terminate_replica = _unsupported.function("sky.serve.terminate_replica", _FEATURE)
SkyServiceSpec = _unsupported.cls("SkyServiceSpec", _FEATURE)

__all__ = [
    "SkyServiceSpec",
    "down",
    "status",
    "sync_down_logs",
    "tail_logs",
    "terminate_replica",
    "up",
    "update",
]
