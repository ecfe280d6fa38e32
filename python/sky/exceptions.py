"""Exceptions raised by skycore, named as SkyPilot names them.

Every error raised by the native core arrives as one of these classes, chosen by
the error's code. Each instance carries where the problem is (``file``, ``line``,
``column``, ``field_path``) and ``suggestions`` (close matches or valid values).
Validation errors are also ``ValueError`` so existing ``except ValueError`` code
keeps working.
"""

from __future__ import annotations


class SkyError(Exception):
    """Base class of every skycore error."""

    code: str = "Internal"
    field_path: str = ""
    file: str = ""
    line: int = 0
    column: int = 0
    suggestions: list[str] = []  # noqa: RUF012 - replaced per instance
    bare_message: str = ""


class InvalidTaskError(SkyError, ValueError):
    """A task YAML or task definition is invalid."""


class InvalidSkyPilotConfigError(SkyError, ValueError):
    """~/.sky/config.yaml or a task's ``config:`` section is invalid."""


class ResourcesUnavailableError(SkyError):
    """Nothing feasible matches the requested resources."""


class ResourcesMismatchError(SkyError):
    """The requested resources do not match an existing cluster."""


class NotSupportedError(SkyError):
    """The operation is not supported (by this infra, or yet)."""


class ClusterDoesNotExist(SkyError, ValueError):
    """No cluster with that name exists."""


class ClusterNotUpError(SkyError):
    """The cluster exists but is not UP."""


class JobNotFoundError(SkyError, ValueError):
    """No job with that id exists."""


class CommandError(SkyError):
    """A command run on a node failed."""


class LocalIOError(SkyError, OSError):
    """Reading or writing a local file failed."""


class StateError(SkyError):
    """The local state store cannot be used (corrupt, or from a newer version)."""


class NetworkError(SkyError, ConnectionError):
    """A connection to a remote service failed."""


class InvalidCloudCredentials(SkyError):
    """A cloud's credentials are missing, expired or refused (SkyPilot's name)."""


class RequestCancelled(SkyError):
    """The request was cancelled."""


class InternalError(SkyError, RuntimeError):
    """An invariant of skycore did not hold: a bug; please report it."""


_BY_CODE: dict[str, type[SkyError]] = {
    "InvalidTask": InvalidTaskError,
    "InvalidConfig": InvalidSkyPilotConfigError,
    "ResourcesUnavailable": ResourcesUnavailableError,
    "ResourcesMismatch": ResourcesMismatchError,
    "NotSupported": NotSupportedError,
    "ClusterDoesNotExist": ClusterDoesNotExist,
    "ClusterNotUp": ClusterNotUpError,
    "JobNotFound": JobNotFoundError,
    "Command": CommandError,
    "Io": LocalIOError,
    "State": StateError,
    "Network": NetworkError,
    "CloudCredentials": InvalidCloudCredentials,
    "Cancelled": RequestCancelled,
    "Internal": InternalError,
}


def _class_for_code(code: str) -> type[SkyError]:
    return _BY_CODE.get(code, InternalError)
