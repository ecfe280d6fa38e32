"""``sky.task``: SkyPilot's module path of ``Task``, the native class.

Loaded on first use (``import sky.task`` or ``sky.task``), not by ``import sky``.
"""

from __future__ import annotations

from sky._skycore import Task

__all__ = ["Task"]
