"""SkyPilot's top-level names that skycore has as names only (see sky._unsupported),
and its small enums. Loaded on first use of one of them, not by ``import sky``."""

from __future__ import annotations

import enum

from sky import _unsupported
from sky.dag import DagExecution as DagExecution  # one enum, as in SkyPilot


class StorageMode(enum.Enum):
    """How a bucket is attached to a node (SkyPilot's names)."""

    MOUNT = "MOUNT"
    COPY = "COPY"
    MOUNT_CACHED = "MOUNT_CACHED"


class StoreType(enum.Enum):
    """A bucket's storage service (SkyPilot's names)."""

    S3 = "S3"
    GCS = "GCS"
    AZURE = "AZURE"
    R2 = "R2"
    IBM = "IBM"
    OCI = "OCI"
    NEBIUS = "NEBIUS"
    COREWEAVE = "COREWEAVE"
    VASTDATA = "VASTDATA"
    HF = "HF"
    VOLUME = "VOLUME"


class FileMountType(enum.Enum):
    """What a file mount holds (SkyPilot's names)."""

    MODEL_CHECKPOINT_RO = "MODEL_CHECKPOINT_RO"
    MODEL_CHECKPOINT_RW = "MODEL_CHECKPOINT_RW"
    DATASET_RO = "DATASET_RO"
    DATASET_RW = "DATASET_RW"


class ManagedJobStatus(enum.Enum):
    """A managed job's state, by SkyPilot's names (never SUBMITTED or WINDING_DOWN here)."""

    PENDING = "PENDING"
    DEPRECATED_SUBMITTED = "SUBMITTED"
    STARTING = "STARTING"
    RUNNING = "RUNNING"
    WINDING_DOWN = "WINDING_DOWN"
    RECOVERING = "RECOVERING"
    CANCELLING = "CANCELLING"
    SUCCEEDED = "SUCCEEDED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"
    FAILED_SETUP = "FAILED_SETUP"
    FAILED_PRECHECKS = "FAILED_PRECHECKS"
    FAILED_NO_RESOURCE = "FAILED_NO_RESOURCE"
    FAILED_CONTROLLER = "FAILED_CONTROLLER"


_API_SERVER = "the SkyPilot API server (skycore runs in-process)"
_STORAGE = "sky.Storage buckets"
_POLICY = "admin policies"
_WORKSPACES = "workspaces"

api_info = _unsupported.function("sky.api_info", _API_SERVER)
api_login = _unsupported.function("sky.api_login", _API_SERVER)
api_server_logs = _unsupported.function("sky.api_server_logs", _API_SERVER)
api_start = _unsupported.function("sky.api_start", _API_SERVER)
api_status = _unsupported.function("sky.api_status", _API_SERVER)
api_stop = _unsupported.function("sky.api_stop", _API_SERVER)
create_debug_dump = _unsupported.function("sky.create_debug_dump", _API_SERVER)
download_debug_dump = _unsupported.function("sky.download_debug_dump", _API_SERVER)
reload_config = _unsupported.function("sky.reload_config", "reloading the config in-process")
storage_delete = _unsupported.function("sky.storage_delete", _STORAGE)
storage_ls = _unsupported.function("sky.storage_ls", _STORAGE)
get_user_workspace = _unsupported.function("sky.get_user_workspace", _WORKSPACES)
set_preferred_workspace = _unsupported.function("sky.set_preferred_workspace", _WORKSPACES)
Storage = _unsupported.cls("Storage", _STORAGE)
Optimizer = _unsupported.cls(
    "Optimizer", "the Optimizer class (use sky.optimize or sky.optimize_plan)"
)
AdminPolicy = _unsupported.cls("AdminPolicy", _POLICY)
AdminPolicyRequestName = _unsupported.cls("AdminPolicyRequestName", _POLICY)
Config = _unsupported.cls("Config", _POLICY)
MutatedUserRequest = _unsupported.cls("MutatedUserRequest", _POLICY)
UserRequest = _unsupported.cls("UserRequest", _POLICY)
# SkyPilot's registry of managed-job recovery strategies (name -> executor class).
JOBS_RECOVERY_STRATEGY_REGISTRY = _unsupported.value(
    "sky.JOBS_RECOVERY_STRATEGY_REGISTRY", "managed jobs (sky.jobs)"
)
