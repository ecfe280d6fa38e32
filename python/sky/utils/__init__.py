"""``sky.utils``: SkyPilot's utility module paths that user scripts import.

Each submodule is a thin layer over the native core, loaded on first use.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sky.utils import dag_utils as dag_utils

_LAZY_SUBMODULES = frozenset({"dag_utils"})


def __getattr__(name: str) -> ModuleType:
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["dag_utils"]
