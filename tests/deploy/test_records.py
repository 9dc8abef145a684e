"""Each record stands alone: a damaged service.json, cluster.json or keys.json is listed by name
as damaged, and every other cluster and service still lists, deploys and cleans up.

What an interrupted deploy or createCluster leaves (a folder with no record, a program with no
folder) never runs unlisted and never keeps its name taken: the next listing or deploy removes
it, unless a change in progress holds the lock (then it is not a leftover yet).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import joblib
import pytest
from lensflow.processes import pid_alive, pids_with_env
from lensflow.workspaces.local.deployments import LocalDeployments, ModelArtifact
from lensflow.workspaces.local.state import Store
from lensflow_protocol.deployment import CreateClusterArgs, DeployArgs
from lensflow_protocol.errors import Conflict, StoreError
from sklearn.linear_model import Ridge

from .conftest import SEEN


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> ModelArtifact:
    path = tmp_path_factory.mktemp("model") / "model.pkl"
    joblib.dump(Ridge().fit([[0.0], [1.0]], [0.0, 1.0]), path)
    return ModelArtifact("m", 1, "ScikitLearn", path)


def deploy(
    local: LocalDeployments, model: ModelArtifact, name: str, cluster: str = "c1", **more: object
) -> str:
    args = DeployArgs.model_validate(
        {"service_name": name, "model_name": "m", "cluster_name": cluster, **more}
    )
    return local.deploy(args, model, lambda state, error: None).state


def running(home: Path, name: str) -> list[int]:
    pids = [pid for pid in pids_with_env(Store(home).marker(name)) if pid_alive(pid)]
    SEEN.extend(pids)
    return pids


def truncate(path: Path) -> None:
    text = path.read_text()
    path.write_text(text[: len(text) // 2])


def test_a_damaged_service_record_stands_alone(
    deployments: LocalDeployments, home: Path, model: ModelArtifact
) -> None:
    deployments.create_cluster(CreateClusterArgs(name="c1"))  # 3.86 CPU allocatable
    assert deploy(deployments, model, "svc-a", cpu_cores=3) == "Healthy"
    assert deploy(deployments, model, "svc-b") == "Healthy"
    record = home / "services" / "svc-a" / "service.json"
    truncate(record)

    listed = deployments.list_services()
    assert [(s.service_name, s.state) for s in listed.services] == [("svc-b", "Healthy")]
    (damaged,) = listed.damaged
    assert (damaged.name, damaged.kind, damaged.path) == ("svc-a", "storeError", str(record))
    assert "is damaged" in damaged.message and "lensflow.cleanUp" in damaged.message
    assert deployments.list_services("c1").damaged == [damaged]  # its program runs on c1
    clusters = deployments.list_clusters()
    assert [(c.name, c.state, c.services) for c in clusters.clusters] == [
        ("c1", "Succeeded", ["svc-a", "svc-b"])
    ]
    assert clusters.damaged == []

    with pytest.raises(Conflict, match=r"svc-a.*damaged.*lensflow\.cleanUp"):
        deploy(deployments, model, "svc-a")
    # Its requests cannot be read: it holds no CPU (3 more fit only so), but its port is kept.
    assert deploy(deployments, model, "svc-c", cpu_cores=3) == "Healthy"
    assert running(home, "svc-a")

    deleted = deployments.clean_up(service="svc-a").deleted
    assert [(d.kind, d.name) for d in deleted] == [("service", "svc-a")]
    assert running(home, "svc-a") == [] and not record.parent.exists()
    assert deployments._supervisor("c1").info("svc-a") is None
    after = deployments.list_services()
    assert [s.service_name for s in after.services] == ["svc-b", "svc-c"] and after.damaged == []


def test_a_damaged_cluster_record_stands_alone(
    deployments: LocalDeployments, home: Path, model: ModelArtifact
) -> None:
    deployments.create_cluster(CreateClusterArgs(name="c1"))
    deployments.create_cluster(CreateClusterArgs(name="c2"))
    assert deploy(deployments, model, "svc-b", cluster="c2", wait=False) == "Transitioning"
    record = home / "clusters" / "c1" / "cluster.json"
    truncate(record)

    clusters = deployments.list_clusters()
    assert [(c.name, c.state, c.services) for c in clusters.clusters] == [
        ("c2", "Succeeded", ["svc-b"])
    ]
    (damaged,) = clusters.damaged
    assert (damaged.name, damaged.kind, damaged.path) == ("c1", "storeError", str(record))
    assert "lensflow.cleanUp" in damaged.message
    assert [s.service_name for s in deployments.list_services().services] == ["svc-b"]
    assert deploy(deployments, model, "svc-c", cluster="c2", wait=False) == "Transitioning"
    with pytest.raises(StoreError, match=r"cluster\.json is damaged"):
        deploy(deployments, model, "svc-d", cluster="c1")

    deleted = deployments.clean_up(cluster="c1").deleted
    assert [(d.kind, d.name) for d in deleted] == [("cluster", "c1")]
    assert [c.name for c in deployments.clusters()] == ["c2"]
    assert deployments.list_clusters().damaged == []


def test_a_damaged_keys_file_stands_alone(
    deployments: LocalDeployments, home: Path, model: ModelArtifact
) -> None:
    deployments.create_cluster(CreateClusterArgs(name="c1"))
    assert deploy(deployments, model, "svc-a") == "Healthy"
    assert deploy(deployments, model, "svc-b", wait=False) == "Transitioning"
    keys = home / "services" / "svc-a" / "keys.json"
    truncate(keys)

    listed = deployments.list_services()
    assert [s.service_name for s in listed.services] == ["svc-b"]
    (damaged,) = listed.damaged
    assert (damaged.name, damaged.kind, damaged.path) == ("svc-a", "storeError", str(keys))
    assert "lensflow.cleanUp" in damaged.message
    assert deployments.clusters()[0].services == ["svc-a", "svc-b"]
    with pytest.raises(StoreError, match=r"keys\.json"):
        deployments.keys("svc-a")
    assert deploy(deployments, model, "svc-c", wait=False) == "Transitioning"

    deleted = deployments.clean_up(service="svc-a").deleted
    assert [(d.kind, d.name) for d in deleted] == [("service", "svc-a")]
    assert running(home, "svc-a") == []
    assert deployments.list_services().damaged == []


# --- leftovers of an interrupted deploy or createCluster ---------------------------------
def test_a_program_without_a_record_is_removed(
    deployments: LocalDeployments, home: Path, model: ModelArtifact
) -> None:
    deployments.create_cluster(CreateClusterArgs(name="c1"))
    assert deploy(deployments, model, "svc-a") == "Healthy"
    # What a crash between adding the program and saving the record leaves behind.
    folder = home / "services" / "svc-a"
    (folder / "service.json").unlink()
    assert running(home, "svc-a")

    # A deploy in progress holds the lock: its folder is not a leftover, and stays.
    with Store(home).lock():
        assert LocalDeployments(home).list_services().services == []
        assert folder.exists() and running(home, "svc-a")

    listed = LocalDeployments(home).list_services()  # e.g. the next server, after the crash
    assert listed.services == [] and listed.damaged == []
    assert running(home, "svc-a") == [] and not folder.exists()
    assert deployments._supervisor("c1").info("svc-a") is None
    assert not (home / "clusters" / "c1" / "programs" / "svc-a.conf").exists()
    assert deploy(deployments, model, "svc-a") == "Healthy"  # the name is free again


def test_a_program_without_a_folder_is_removed(
    deployments: LocalDeployments, home: Path, model: ModelArtifact
) -> None:
    deployments.create_cluster(CreateClusterArgs(name="c1"))
    assert deploy(deployments, model, "svc-a") == "Healthy"
    shutil.rmtree(home / "services" / "svc-a")  # deleted by hand, as a damaged file's error says
    assert running(home, "svc-a")
    assert deployments.list_clusters().clusters[0].services == []
    assert running(home, "svc-a") == []
    assert deployments._supervisor("c1").info("svc-a") is None


def test_interrupted_deploy_and_create_free_their_names(
    deployments: LocalDeployments, home: Path, model: ModelArtifact
) -> None:
    (home / "clusters" / "c1").mkdir(parents=True)  # created, never recorded
    assert deployments.create_cluster(CreateClusterArgs(name="c1")).state == "Succeeded"
    (home / "services" / "svc-a" / "model").mkdir(parents=True)  # prepared, never started
    assert deploy(deployments, model, "svc-a") == "Healthy"
