"""``sky.resources``: SkyPilot's module path of ``Resources``, the native class.

Loaded on first use (``import sky.resources`` or ``sky.resources``), not by ``import sky``.
"""

from __future__ import annotations

from sky._skycore import Resources

__all__ = ["Resources"]
