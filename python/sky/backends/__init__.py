"""``sky.backends``: SkyPilot's provisioning backends (``CloudVmRayBackend``, ...).

skycore provisions natively and has no Python backend layer: the module exists so
that code written for SkyPilot imports, and each name in it raises
``sky.exceptions.NotSupportedError``.
"""

from __future__ import annotations

from sky import _unsupported

__getattr__ = _unsupported.module_getattr(
    "sky.backends", "a Python backend layer (provisioning is native)"
)
