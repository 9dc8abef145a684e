"""Cluster rules and pod admission for the local inference cluster, on `catalog`'s VM sizes.

The local cluster admits or refuses services exactly as Azure ML on AKS would: the cluster's
purpose limits its shape, and each replica is a pod that must fit on one node's allocatable
resources next to the pods already placed there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lensflow_protocol.errors import Unschedulable

from ..catalog import VmSize, vm_size

FASTPROD_MIN_VCPUS = 12

# AKS kube-reserved CPU by node core count (millicores), from AKS "resource reservations".
_CPU_RESERVED_M = [(1, 60), (2, 100), (4, 140), (8, 180), (16, 260), (32, 420), (64, 740)]
# AKS memory reservation (before 1.29): 750 MiB eviction threshold plus a regressive share of
# the node's memory: 25 % of the first 4 GB, 20 % of the next 4, 10 % of the next 8,
# 6 % of the next 112 and 2 % above 128 GB. System pods' own requests are not modelled.
_EVICTION_GB = 0.75
_MEMORY_BANDS = [(4.0, 0.25), (4.0, 0.20), (8.0, 0.10), (112.0, 0.06), (float("inf"), 0.02)]


@dataclass(frozen=True)
class Node:
    """One node's allocatable resources, in millicores and MiB (integers, like Kubernetes)."""

    cpu_m: int
    memory_mib: int


@dataclass(frozen=True)
class Pod:
    """A replica already placed: its node index and its requests."""

    node: int
    cpu_m: int
    memory_mib: int


@dataclass(frozen=True)
class ClusterCapacity:
    vm: VmSize
    node_count: int
    nodes: tuple[Node, ...]

    @property
    def cpu_cores(self) -> float:
        return float(self.vm.vcpus * self.node_count)

    @property
    def memory_gb(self) -> float:
        return self.vm.memory_gb * self.node_count


def millicores(cpu: float) -> int:
    return round(cpu * 1000)


def mebibytes(memory_gb: float) -> int:
    return round(memory_gb * 1024)


def allocatable(vm: VmSize) -> Node:
    """What is left of one node for pods once AKS's system reservation is taken."""
    reserved_m = _CPU_RESERVED_M[0][1]
    for cores, milli in _CPU_RESERVED_M:
        if vm.vcpus >= cores:
            reserved_m = milli
    reserved_gb, left = _EVICTION_GB, vm.memory_gb
    for band, share in _MEMORY_BANDS:
        part = min(left, band)
        reserved_gb += part * share
        left -= part
        if left <= 0:
            break
    return Node(vm.vcpus * 1000 - reserved_m, mebibytes(vm.memory_gb - reserved_gb))


def cluster_capacity(vm_size_name: str, node_count: int, purpose: str) -> ClusterCapacity:
    """Applies the cluster-purpose rules of Azure ML's AKS compute, then sizes the nodes."""
    vm = vm_size(vm_size_name)
    if purpose not in ("DevTest", "FastProd"):
        raise Unschedulable(f"Unknown cluster purpose {purpose!r}: use DevTest or FastProd.")
    if node_count < 1:
        raise Unschedulable(f"A cluster needs at least one node, not {node_count}.")
    if purpose == "DevTest" and node_count != 1:
        raise Unschedulable(
            f"A DevTest cluster has exactly one node, not {node_count}. Use nodeCount 1, or "
            f"clusterPurpose FastProd (at least {FASTPROD_MIN_VCPUS} vCPU in all) for more nodes.",
            nodeCount=node_count,
        )
    total = vm.vcpus * node_count
    if purpose == "FastProd" and total < FASTPROD_MIN_VCPUS:
        needed = -(-FASTPROD_MIN_VCPUS // vm.vcpus)
        raise Unschedulable(
            f"A FastProd cluster needs at least {FASTPROD_MIN_VCPUS} vCPU in all; {node_count} × "
            f"{vm.name} ({vm.vcpus} vCPU each) has {total}. Use nodeCount {needed} or more, a "
            "bigger VM size, or clusterPurpose DevTest.",
            vcpus=total,
        )
    return ClusterCapacity(vm, node_count, (allocatable(vm),) * node_count)


def admit(
    nodes: Sequence[Node], placed: Sequence[Pod], cpu: float, memory_gb: float, replicas: int
) -> list[int]:
    """Places `replicas` pods first-fit, like the Kubernetes scheduler's fit predicate.

    Returns the node index of each new replica; raises `Unschedulable` when one does not fit.
    """
    free = [[node.cpu_m, node.memory_mib] for node in nodes]
    for pod in placed:
        if 0 <= pod.node < len(free):
            free[pod.node][0] -= pod.cpu_m
            free[pod.node][1] -= pod.memory_mib
    want_m, want_mib = millicores(cpu), mebibytes(memory_gb)
    before = [f"node {i}: {c / 1000:g} CPU, {m / 1024:.2f} GB" for i, (c, m) in enumerate(free)]
    placement: list[int] = []
    for _ in range(replicas):
        index = next((i for i, (c, m) in enumerate(free) if c >= want_m and m >= want_mib), None)
        if index is None:
            raise Unschedulable(
                f"Cannot schedule {replicas} replica(s) of {cpu:g} CPU / {memory_gb:g} GB: "
                f"only {len(placement)} fit, because each replica must fit on one node. Free "
                f"now: {'; '.join(before)}. Lower cpuCores, memoryGb or replicas, clean up "
                "another service, or use a cluster with bigger or more nodes.",
                requested={"cpuCores": cpu, "memoryGb": memory_gb, "replicas": replicas},
            )
        free[index][0] -= want_m
        free[index][1] -= want_mib
        placement.append(index)
    return placement
