"""Cluster shapes and pod admission decided as Azure ML on AKS does (pure, no processes)."""

from __future__ import annotations

import pytest
from lensflow.processes import free_port
from lensflow.workspaces.local.capacity import Pod, admit, allocatable, cluster_capacity, vm_size
from lensflow_protocol.errors import NotFound, Unschedulable


def test_seed_cluster_devtest_one_d3_v2() -> None:
    capacity = cluster_capacity("Standard_D3_v2", 1, "DevTest")
    assert (capacity.cpu_cores, capacity.memory_gb) == (4.0, 14.0)
    assert len(capacity.nodes) == 1


def test_devtest_has_exactly_one_node() -> None:
    with pytest.raises(Unschedulable, match="DevTest cluster has exactly one node") as err:
        cluster_capacity("Standard_D3_v2", 2, "DevTest")
    assert "nodeCount 1" in err.value.message and "FastProd" in err.value.message


def test_fastprod_needs_twelve_vcpu() -> None:
    with pytest.raises(Unschedulable, match="at least 12 vCPU") as err:
        cluster_capacity("Standard_D3_v2", 1, "FastProd")
    assert "nodeCount 3" in err.value.message  # tells how many D3_v2 would do
    capacity = cluster_capacity("Standard_D3_v2", 3, "FastProd")
    assert (capacity.cpu_cores, capacity.memory_gb, len(capacity.nodes)) == (12.0, 42.0, 3)


def test_unknown_vm_size_lists_the_known_ones() -> None:
    with pytest.raises(NotFound) as err:
        cluster_capacity("Standard_Z9_v9", 1, "DevTest")
    assert "Standard_D3_v2" in err.value.message and "Standard_F4s_v2" in err.value.message
    assert vm_size("standard_ds3_v2").name == "Standard_DS3_v2"  # Azure ignores case


def test_catalog_figures() -> None:
    figures = {n: (vm_size(n).vcpus, vm_size(n).memory_gb) for n in (
        "Standard_D1_v2", "Standard_D2_v2", "Standard_D3_v2", "Standard_D4_v2",
        "Standard_D11_v2", "Standard_D12_v2", "Standard_DS2_v2", "Standard_F4s_v2")}  # fmt: skip
    assert figures == {
        "Standard_D1_v2": (1, 3.5), "Standard_D2_v2": (2, 7), "Standard_D3_v2": (4, 14),
        "Standard_D4_v2": (8, 28), "Standard_D11_v2": (2, 14), "Standard_D12_v2": (4, 28),
        "Standard_DS2_v2": (2, 7), "Standard_F4s_v2": (4, 8),
    }  # fmt: skip


def test_system_reserve_of_a_d3_v2_node() -> None:
    node = allocatable(vm_size("Standard_D3_v2"))
    # 140m kube-reserved CPU; 0.75 GB eviction + 25 % of 4 + 20 % of 4 + 10 % of 6 GB.
    assert node.cpu_m == 3860
    assert node.memory_mib == round((14 - 3.15) * 1024)


def test_seed_request_fits_three_times_on_one_d3_v2() -> None:
    nodes = cluster_capacity("Standard_D3_v2", 1, "DevTest").nodes
    assert admit(nodes, [], 1.0, 1.0, 3) == [0, 0, 0]
    with pytest.raises(Unschedulable) as err:
        admit(nodes, [], 1.0, 1.0, 4)
    assert "only 3 fit" in err.value.message and "node 0: 3.86 CPU" in err.value.message


def test_replicas_must_each_fit_on_one_node() -> None:
    nodes = cluster_capacity("Standard_D3_v2", 3, "FastProd").nodes
    # 4 × 2.5 CPU = 10 CPU < 11.58 CPU allocatable in all, but only one fits per node.
    with pytest.raises(Unschedulable, match="each replica must fit on one node"):
        admit(nodes, [], 2.5, 1.0, 4)
    assert admit(nodes, [], 2.5, 1.0, 3) == [0, 1, 2]
    with pytest.raises(Unschedulable, match="only 0 fit"):
        admit(nodes, [], 4.0, 1.0, 1)  # 4 CPU never fits a 4-vCPU node after its reserve


def test_placed_pods_take_their_share() -> None:
    nodes = cluster_capacity("Standard_D1_v2", 1, "DevTest").nodes  # 0.94 CPU, 1.88 GB
    assert admit(nodes, [], 0.5, 0.5, 1) == [0]
    placed = [Pod(0, 500, 512)]
    with pytest.raises(Unschedulable, match=r"node 0: 0\.44 CPU"):
        admit(nodes, placed, 0.5, 0.5, 1)
    assert admit(nodes, placed, 0.4, 1.0, 1) == [0]
    with pytest.raises(Unschedulable, match="GB"):
        admit(nodes, placed, 0.1, 1.5, 1)  # memory, not CPU, is short here


def test_free_port_skips_recorded_ports() -> None:
    port = free_port(set())
    assert 1024 < port < 65536
    assert free_port({port}) != port
