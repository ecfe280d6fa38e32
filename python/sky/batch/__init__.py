"""``sky.batch``: SkyPilot's batch processing over datasets. skycore has none yet:
the module exists so that code written for SkyPilot imports, and each name in it
raises ``sky.exceptions.NotSupportedError``.
"""

from __future__ import annotations

from sky import _unsupported

__getattr__ = _unsupported.module_getattr("sky.batch", "batch processing (sky.batch)")
