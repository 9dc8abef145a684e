"""Clusters: a real supervisord each, conflicts, capacity rules, death and clean-up."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from lensflow.processes import pid_alive, wait_gone
from lensflow.workspaces.local.deployments import LocalDeployments, ModelArtifact
from lensflow_protocol.deployment import CreateClusterArgs, DeployArgs
from lensflow_protocol.errors import Conflict, NotFound, Unreachable, Unschedulable

from .conftest import SEEN, processes_of


def supervisord_pid(home: Path, name: str) -> int:
    pid = int((home / "clusters" / name / "supervisord.pid").read_text())
    SEEN.append(pid)
    return pid


def deploy_args(**fields: object) -> DeployArgs:
    base: dict[str, object] = {"service_name": "svc", "model_name": "m", "cluster_name": "c1"}
    return DeployArgs.model_validate({**base, **fields})


def test_create_cluster(deployments: LocalDeployments, home: Path) -> None:
    info = deployments.create_cluster(CreateClusterArgs(name="aks-dev", location="westeurope"))
    assert info.state == "Succeeded" and info.error is None
    assert (info.vm_size, info.node_count, info.cluster_purpose) == ("Standard_D3_v2", 1, "DevTest")
    assert (info.cpu_cores, info.memory_gb, info.location) == (4.0, 14.0, "westeurope")
    pid = supervisord_pid(home, "aks-dev")
    assert pid_alive(pid)
    assert processes_of(home) == [pid]
    with pytest.raises(Conflict, match="aks-dev"):
        deployments.create_cluster(CreateClusterArgs(name="aks-dev"))
    # Another server over the same home sees it, live.
    again = LocalDeployments(home).clusters()
    assert [(c.name, c.state) for c in again] == [("aks-dev", "Succeeded")]


def test_capacity_rules_refuse_before_anything_starts(
    deployments: LocalDeployments, home: Path
) -> None:
    with pytest.raises(Unschedulable, match="exactly one node"):
        deployments.create_cluster(CreateClusterArgs(name="c1", node_count=2))
    with pytest.raises(Unschedulable, match="12 vCPU"):
        deployments.create_cluster(CreateClusterArgs(name="c1", cluster_purpose="FastProd"))
    with pytest.raises(NotFound, match="Known sizes"):
        deployments.create_cluster(CreateClusterArgs(name="c1", vm_size="Standard_Nope"))
    assert deployments.clusters() == [] and processes_of(home) == []
    prod = deployments.create_cluster(
        CreateClusterArgs(name="c1", node_count=3, cluster_purpose="FastProd")
    )
    assert (prod.state, prod.cpu_cores, prod.memory_gb) == ("Succeeded", 12.0, 42.0)


def test_deploy_refusals(deployments: LocalDeployments, home: Path, tmp_path: Path) -> None:
    model = ModelArtifact("m", 1, "ScikitLearn", tmp_path / "model.pkl")
    model.path.write_bytes(b"unused")
    with pytest.raises(NotFound, match="createCluster"):
        deployments.deploy(deploy_args(), model, lambda s, e: None)
    deployments.create_cluster(CreateClusterArgs(name="c1", vm_size="Standard_D1_v2"))
    # 1 CPU does not fit a 1-vCPU node once AKS's system reserve is taken.
    with pytest.raises(Unschedulable, match=r"1 CPU / 0\.5 GB") as err:
        deployments.deploy(deploy_args(cpu_cores=1), model, lambda s, e: None)
    assert "0.94 CPU" in err.value.message
    assert deployments.services() == [] and not (home / "services" / "svc").exists()
    os.kill(supervisord_pid(home, "c1"), signal.SIGKILL)
    with pytest.raises(Unreachable, match="not running"):
        deployments.deploy(deploy_args(), model, lambda s, e: None)


def test_killed_supervisord(deployments: LocalDeployments, home: Path) -> None:
    deployments.create_cluster(CreateClusterArgs(name="c1"))
    pid = supervisord_pid(home, "c1")
    os.kill(pid, signal.SIGKILL)
    assert wait_gone([pid], 5)
    (info,) = deployments.clusters()
    assert info.state == "Failed" and "clean the cluster up" in (info.error or "")
    deleted = deployments.clean_up(cluster="c1").deleted
    assert [(d.kind, d.name) for d in deleted] == [("cluster", "c1")]
    assert deployments.clean_up(cluster="c1").deleted == []  # idempotent
    assert deployments.clean_up(all=True).deleted == []
    assert deployments.clusters() == [] and not (home / "clusters" / "c1").exists()
    assert processes_of(home) == []
