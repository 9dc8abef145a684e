"""The Azure VM sizes Lensflow knows: vCPU and memory of each, by name.

Shared by the local cluster (which sizes its nodes from them, as AKS would) and the Azure ML
workspace (which reports an AKS cluster's cores and memory from its VM size).
"""

from __future__ import annotations

from dataclasses import dataclass

from lensflow_protocol.errors import NotFound, Unschedulable


@dataclass(frozen=True)
class VmSize:
    name: str
    vcpus: int
    memory_gb: float


# Azure's published figures (vCPU, memory GiB). CPU-only sizes that AKS accepts as nodes.
_SIZES = [
    VmSize("Standard_A2_v2", 2, 4), VmSize("Standard_A4_v2", 4, 8), VmSize("Standard_A8_v2", 8, 16),
    VmSize("Standard_B2ms", 2, 8), VmSize("Standard_B4ms", 4, 16),
    VmSize("Standard_D1_v2", 1, 3.5), VmSize("Standard_D2_v2", 2, 7),
    VmSize("Standard_D3_v2", 4, 14), VmSize("Standard_D4_v2", 8, 28),
    VmSize("Standard_D5_v2", 16, 56),
    VmSize("Standard_D11_v2", 2, 14), VmSize("Standard_D12_v2", 4, 28),
    VmSize("Standard_D13_v2", 8, 56), VmSize("Standard_D14_v2", 16, 112),
    VmSize("Standard_DS1_v2", 1, 3.5), VmSize("Standard_DS2_v2", 2, 7),
    VmSize("Standard_DS3_v2", 4, 14), VmSize("Standard_DS4_v2", 8, 28),
    VmSize("Standard_DS5_v2", 16, 56),
    VmSize("Standard_D2s_v3", 2, 8), VmSize("Standard_D4s_v3", 4, 16),
    VmSize("Standard_D8s_v3", 8, 32), VmSize("Standard_D16s_v3", 16, 64),
    VmSize("Standard_F2s_v2", 2, 4), VmSize("Standard_F4s_v2", 4, 8),
    VmSize("Standard_F8s_v2", 8, 16), VmSize("Standard_F16s_v2", 16, 32),
    VmSize("Standard_F32s_v2", 32, 64), VmSize("Standard_F48s_v2", 48, 96),
    VmSize("Standard_F64s_v2", 64, 128), VmSize("Standard_F72s_v2", 72, 144),
    VmSize("Standard_E2s_v3", 2, 16), VmSize("Standard_E4s_v3", 4, 32),
    VmSize("Standard_E8s_v3", 8, 64), VmSize("Standard_E16s_v3", 16, 128),
    VmSize("Standard_E32s_v3", 32, 256), VmSize("Standard_E48s_v3", 48, 384),
    VmSize("Standard_E64s_v3", 64, 432),
]  # fmt: skip
# Keyed by the lowercase name: Azure compares VM sizes case-insensitively.
CATALOG: dict[str, VmSize] = {size.name.lower(): size for size in _SIZES}


# The CPU sizes Azure ML lists for managed online deployments (its "managed online endpoints
# SKU list": general purpose DS*_v2, compute optimized F*s_v2, memory optimized E*s_v3).
_MANAGED_NAMES = (
    "Standard_DS1_v2", "Standard_DS2_v2", "Standard_DS3_v2", "Standard_DS4_v2", "Standard_DS5_v2",
    "Standard_F2s_v2", "Standard_F4s_v2", "Standard_F8s_v2", "Standard_F16s_v2",
    "Standard_F32s_v2", "Standard_F48s_v2", "Standard_F64s_v2", "Standard_F72s_v2",
    "Standard_E2s_v3", "Standard_E4s_v3", "Standard_E8s_v3", "Standard_E16s_v3",
    "Standard_E32s_v3", "Standard_E48s_v3", "Standard_E64s_v3",
)  # fmt: skip
MANAGED_ONLINE = tuple(CATALOG[name.lower()] for name in _MANAGED_NAMES)


def smallest_managed(cpu_cores: float, memory_gb: float) -> VmSize:
    """The managed online instance type with the fewest cores, then the least memory, that
    holds a replica of `cpu_cores` and `memory_gb`."""
    fitting = [s for s in MANAGED_ONLINE if s.vcpus >= cpu_cores and s.memory_gb >= memory_gb]
    if not fitting:
        cores = max(MANAGED_ONLINE, key=lambda s: (s.vcpus, s.memory_gb))
        memory = max(MANAGED_ONLINE, key=lambda s: (s.memory_gb, s.vcpus))
        raise Unschedulable(
            f"No managed online instance type has {cpu_cores:g} cores and {memory_gb:g} GB for "
            f"one replica. The most cores: {cores.name} ({cores.vcpus} cores, "
            f"{cores.memory_gb:g} GB); the most memory: {memory.name} ({memory.vcpus} cores, "
            f"{memory.memory_gb:g} GB). Ask for less per replica, and more replicas.",
            cpuCores=cpu_cores, memoryGb=memory_gb,
        )  # fmt: skip
    return min(fitting, key=lambda s: (s.vcpus, s.memory_gb))


def vm_size(name: str) -> VmSize:
    """The catalog entry for `name` (case-insensitive, as Azure compares sizes)."""
    size = CATALOG.get(name.lower())
    if size is None:
        known = ", ".join(s.name for s in _SIZES)
        raise NotFound(f"Unknown VM size {name!r}. Known sizes: {known}.", vmSize=name)
    return size
