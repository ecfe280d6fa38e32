"""``sky.clouds``: SkyPilot's cloud classes, as names for ``Resources(cloud=...)``.

skycore's ``Resources`` takes its cloud as a name (``"aws"``); these classes let
code written for SkyPilot pass ``sky.AWS()`` instead. Each instance *is* that
name (a ``str`` subclass), so the native core accepts it unchanged, while it
prints and compares as SkyPilot's objects do: ``repr(sky.AWS()) == "AWS"`` and
``sky.Resources(cloud=sky.AWS()).cloud == sky.AWS()``. They carry no cloud logic:
catalogs, credentials and provisioning live in the native core.
"""

from __future__ import annotations

import enum
from typing import ClassVar

# SkyPilot's other spellings of a cloud's name.
_ALIASES = {"k8s": "kubernetes", "digitalocean": "do"}


def _canonical(name: str) -> str:
    lowered = str.lower(name)
    return _ALIASES.get(lowered, lowered)


class Cloud(str):
    """A cloud, named as skycore's ``Resources(cloud=...)`` names it."""

    _NAME: ClassVar[str] = ""
    _DISPLAY: ClassVar[str] = ""

    def __new__(cls) -> Cloud:
        if not cls._NAME:
            raise TypeError("sky.clouds.Cloud is abstract: use a cloud such as sky.AWS()")
        return super().__new__(cls, cls._NAME)

    # A str subclass defines __reduce__ through str; rebuild from the class so
    # copies and pickles stay cloud objects.
    def __reduce__(self) -> tuple[type[Cloud], tuple[()]]:
        return (type(self), ())

    def __repr__(self) -> str:
        return self._DISPLAY

    def __str__(self) -> str:
        return self._DISPLAY

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            return str.__eq__(str(_canonical(other)), self._NAME)
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        return str.__hash__(self._NAME)

    @classmethod
    def canonical_name(cls) -> str:
        """The lower-case name skycore and task YAML use (``aws``)."""
        return cls._NAME

    @classmethod
    def display_name(cls) -> str:
        """The name as SkyPilot prints it (``AWS``)."""
        return cls._DISPLAY

    def is_same_cloud(self, other: object) -> bool:
        """True when ``other`` (a cloud or a cloud's name) names this cloud."""
        return self == other


def _cloud(class_name: str, name: str, display: str | None = None) -> type[Cloud]:
    return type(class_name, (Cloud,), {"_NAME": name, "_DISPLAY": display or class_name})


AWS = _cloud("AWS", "aws")
Azure = _cloud("Azure", "azure")
Cudo = _cloud("Cudo", "cudo")
DO = _cloud("DO", "do")
Fluidstack = _cloud("Fluidstack", "fluidstack")
GCP = _cloud("GCP", "gcp")
Hyperbolic = _cloud("Hyperbolic", "hyperbolic")
IBM = _cloud("IBM", "ibm")
Kubernetes = _cloud("Kubernetes", "kubernetes")
Lambda = _cloud("Lambda", "lambda")
Mithril = _cloud("Mithril", "mithril")
Nebius = _cloud("Nebius", "nebius")
OCI = _cloud("OCI", "oci")
Paperspace = _cloud("Paperspace", "paperspace")
PrimeIntellect = _cloud("PrimeIntellect", "primeintellect")
RunPod = _cloud("RunPod", "runpod")
SCP = _cloud("SCP", "scp")
Seeweb = _cloud("Seeweb", "seeweb")
Shadeform = _cloud("Shadeform", "shadeform")
Slurm = _cloud("Slurm", "slurm")
SSH = _cloud("SSH", "ssh")
Vast = _cloud("Vast", "vast")
Verda = _cloud("Verda", "verda")
Vsphere = _cloud("Vsphere", "vsphere")
Yotta = _cloud("Yotta", "yotta")
# SkyPilot's short name for Kubernetes: the same class.
K8s = Kubernetes


class CloudImplementationFeatures(enum.Enum):
    """What a task or resources ask of a cloud (SkyPilot's names), as
    ``Task.get_required_cloud_features()`` and ``Resources.get_required_cloud_features()``
    list them."""

    STOP = "stop"
    MULTI_NODE = "multi-node"
    CLONE_DISK_FROM_CLUSTER = "clone_disk_from_cluster"
    IMAGE_ID = "image_id"
    DOCKER_IMAGE = "docker_image"
    SPOT_INSTANCE = "spot_instance"
    CUSTOM_DISK_TIER = "custom_disk_tier"
    CUSTOM_NETWORK_TIER = "custom_network_tier"
    OPEN_PORTS = "open_ports"
    STORAGE_MOUNTING = "storage_mounting"
    HOST_CONTROLLERS = "host_controllers"
    HIGH_AVAILABILITY_CONTROLLERS = "high_availability_controllers"
    AUTO_TERMINATE = "auto_terminate"
    AUTOSTOP = "autostop"
    AUTODOWN = "autodown"
    CUSTOM_MULTI_NETWORK = "custom_multi_network"
    LOCAL_DISK = "local_disk"


class _CloudRegistry(dict[str, Cloud]):
    """Cloud name -> cloud, with SkyPilot's ``from_str``."""

    def from_str(self, name: str | None) -> Cloud | None:
        """The cloud named ``name`` (any case, or an alias); None for None."""
        if name is None:
            return None
        cloud = self.get(_canonical(name))
        if cloud is None:
            raise ValueError(f"Cloud {name!r} is not a valid cloud among {sorted(self)}.")
        return cloud


CLOUD_REGISTRY = _CloudRegistry(
    (cls._NAME, cls())
    for cls in (
        AWS,
        Azure,
        Cudo,
        DO,
        Fluidstack,
        GCP,
        Hyperbolic,
        IBM,
        Kubernetes,
        Lambda,
        Mithril,
        Nebius,
        OCI,
        Paperspace,
        PrimeIntellect,
        RunPod,
        SCP,
        Seeweb,
        Shadeform,
        Slurm,
        SSH,
        Vast,
        Verda,
        Vsphere,
        Yotta,
    )
)


def cloud_in_iterable(cloud: Cloud, clouds: object) -> bool:
    """True when ``clouds`` (an iterable of clouds or names) holds ``cloud``."""
    return any(cloud == other for other in clouds)  # type: ignore[attr-defined]


__all__ = [
    "AWS",
    "DO",
    "GCP",
    "IBM",
    "OCI",
    "SCP",
    "SSH",
    "Azure",
    "Cloud",
    "CloudImplementationFeatures",
    "Cudo",
    "Fluidstack",
    "Hyperbolic",
    "Kubernetes",
    "Lambda",
    "Mithril",
    "Nebius",
    "Paperspace",
    "PrimeIntellect",
    "RunPod",
    "Seeweb",
    "Shadeform",
    "Slurm",
    "Vast",
    "Verda",
    "Vsphere",
    "Yotta",
    "cloud_in_iterable",
]
