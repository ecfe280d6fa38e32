"""Names of SkyPilot features that skycore does not have yet.

Code written for SkyPilot can import and name them; calling one raises
``sky.exceptions.NotSupportedError`` naming the feature, rather than failing
with an ``AttributeError`` far from the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn

from sky import exceptions


def _raise(name: str, feature: str) -> NoReturn:
    raise exceptions.NotSupportedError(f"{name}: {feature} is not supported by skycore yet")


def function(name: str, feature: str) -> Callable[..., Any]:
    """A function named ``name`` that raises NotSupportedError when called."""

    def unsupported(*args: object, **kwargs: object) -> NoReturn:
        _raise(name, feature)

    unsupported.__name__ = unsupported.__qualname__ = name.rsplit(".", 1)[-1]
    unsupported.__doc__ = f"Not supported by skycore yet ({feature})."
    return unsupported


class _UnsupportedMeta(type):
    # Class attributes (`sky.Optimizer.optimize`) raise too, with the reason.
    def __getattr__(cls, attr: str) -> Any:
        if attr.startswith("__"):
            raise AttributeError(attr)
        _raise(f"{cls.__name__}.{attr}", cls._feature)  # type: ignore[attr-defined]


def cls(name: str, feature: str) -> type:
    """A class named ``name`` whose construction raises NotSupportedError."""

    def new(klass: type, *args: object, **kwargs: object) -> NoReturn:
        _raise(name, feature)

    return _UnsupportedMeta(
        name.rsplit(".", 1)[-1],
        (),
        {
            "__new__": new,
            "_feature": feature,
            "__doc__": f"Not supported by skycore yet ({feature}).",
        },
    )


class _UnsupportedValue:
    # A module-level object of an unbuilt feature (a registry, ...): it can be
    # named and printed; looking into it raises, with the reason.
    def __init__(self, name: str, feature: str) -> None:
        self._name = name
        self._feature = feature

    def __repr__(self) -> str:
        return f"<{self._name}: not supported by skycore yet ({self._feature})>"

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        _raise(f"{self._name}.{attr}", self._feature)

    def _use(self, *args: object) -> NoReturn:
        _raise(self._name, self._feature)

    __getitem__ = __contains__ = __iter__ = __len__ = __call__ = _use

    def __bool__(self) -> bool:
        return True


def value(name: str, feature: str) -> Any:
    """An object named ``name`` whose every use (items, attributes, calls) raises."""
    return _UnsupportedValue(name, feature)


def module_getattr(module: str, feature: str) -> Callable[[str], Any]:
    """A module ``__getattr__`` for which each public name raises NotSupportedError."""

    def getattr_(attr: str) -> Any:
        # Private and dunder names stay AttributeErrors, for import machinery
        # and tools that probe modules with hasattr().
        if attr.startswith("_"):
            raise AttributeError(f"module {module!r} has no attribute {attr!r}")
        _raise(f"{module}.{attr}", feature)

    return getattr_
