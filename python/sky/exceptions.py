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


# The rest of SkyPilot 0.14.1's exception names, with its class hierarchy, so
# that code written against SkyPilot (`except exceptions.StorageError:`) imports
# and runs. Those with no docstring are not raised by skycore yet; every one is
# also a SkyError, so `except SkyError` still catches all that skycore raises.


class CloudError(SkyError):
    pass


class KubeAPIUnreachableError(ResourcesUnavailableError):
    pass


class KubernetesValidationError(SkyError):
    pass


class InvalidCloudConfigs(SkyError):
    pass


class InconsistentHighAvailabilityError(SkyError):
    pass


class ProvisionPrechecksError(SkyError):
    pass


class ManagedJobReachedMaxRetriesError(SkyError):
    pass


class ManagedJobStatusError(SkyError):
    pass


class ProvisionUnsupportedError(SkyError):
    pass


class SkyPilotExcludeArgsBaseException(SkyError):
    pass


class CommandFailureException(SkyPilotExcludeArgsBaseException):
    pass


class CommandError(CommandFailureException):
    """A command run on a node failed."""


class ClusterSetUpError(SkyError):
    pass


class CachedClusterUnavailable(SkyError):
    pass


class StorageError(SkyError):
    pass


class StorageSpecError(SkyError, ValueError):
    pass


class StorageInitError(StorageError):
    pass


class StorageBucketCreateError(StorageInitError):
    pass


class StorageBucketGetError(StorageInitError):
    pass


class StorageBucketDeleteError(StorageError):
    pass


class StorageUploadError(StorageError):
    pass


class StorageSourceError(StorageSpecError):
    pass


class StorageNameError(StorageSpecError):
    pass


class StorageModeError(StorageSpecError):
    pass


class StorageExternalDeletionError(StorageBucketGetError):
    pass


class NonExistentStorageAccountError(StorageExternalDeletionError):
    pass


class FetchClusterInfoError(SkyError):
    pass


class ClusterStatusFetchingError(SkyError):
    pass


class ManagedJobUserCancelledError(SkyError):
    pass


class InvalidClusterNameError(SkyError):
    pass


class InvalidRecipeNameError(SkyError):
    pass


class InvalidWorkspaceNameError(SkyError):
    pass


class WorkspaceAmbiguousError(SkyPilotExcludeArgsBaseException):
    pass


class RecipeAlreadyExistsError(SkyError):
    pass


class CloudUserIdentityError(SkyError):
    pass


class ClusterOwnerIdentityMismatchError(SkyError):
    pass


class NoCloudAccessError(SkyError):
    pass


class AWSAzFetchingError(SkyPilotExcludeArgsBaseException):
    pass


class ServeUserTerminatedError(SkyError):
    pass


class PortDoesNotExistError(SkyError):
    pass


class PoolDoesNotExistError(SkyError):
    pass


class UserRequestRejectedByPolicy(SkyError):
    pass


class NoClusterLaunchedError(SkyError):
    pass


class ApiServerConnectionError(SkyError, RuntimeError):
    pass


class ApiServerAuthenticationError(SkyError, RuntimeError):
    pass


class APIVersionMismatchError(SkyError, RuntimeError):
    pass


class APINotSupportedError(SkyError, RuntimeError):
    pass


class ExecutionRetryableError(SkyError):
    pass


class ExecutionPausedError(ExecutionRetryableError):
    pass


class ExecutionPoolFullError(SkyError):
    pass


class RequestAlreadyExistsError(SkyError):
    pass


class PermissionDeniedError(SkyError):
    pass


class NoWorkspaceAccessError(PermissionDeniedError):
    pass


class VolumeNotReadyError(SkyError):
    pass


class VolumeNotFoundError(SkyError):
    pass


class VolumeTopologyConflictError(SkyError):
    pass


class ServerTemporarilyUnavailableError(SkyError):
    pass


class RestfulPolicyError(SkyError):
    pass


class GitError(SkyError):
    pass


class RequestInterruptedError(SkyError):
    pass


class SkyletInternalError(SkyError):
    pass


class SkyletMethodNotImplementedError(SkyError):
    pass


class SkyletUnavailableError(SkyError):
    pass


class ClientError(SkyError):
    pass


class ConcurrentWorkerExhaustedError(SkyError):
    pass


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
