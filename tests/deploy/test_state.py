"""State files: atomic writes, private keys, and damaged files that give a clear StoreError."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lensflow.workspaces.local.deployments import LocalDeployments
from lensflow.workspaces.local.state import Store, read_json, runtime_dir, write_json
from lensflow_protocol.deployment import CreateClusterArgs
from lensflow_protocol.errors import NotFound, StoreError


def test_atomic_write_and_modes(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "state.json"
    write_json(path, {"a": 1})
    write_json(path, {"a": 2}, mode=0o600)
    assert read_json(path) == {"a": 2}
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["state.json"]  # no temporary left
    assert read_json(tmp_path / "missing.json") is None
    assert runtime_dir().stat().st_mode & 0o777 == 0o700


def test_truncated_cluster_file(deployments: LocalDeployments, home: Path) -> None:
    deployments.create_cluster(CreateClusterArgs(name="broken"))
    path = home / "clusters" / "broken" / "cluster.json"
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(StoreError) as err:
        deployments._cluster("broken")  # what deploying to it meets
    assert str(path) in err.value.message and ".bak" in err.value.message
    assert err.value.data()["kind"] == "storeError"
    assert path.with_name("cluster.json.bak").read_text() == text[: len(text) // 2]
    listed = deployments.list_clusters()  # a listing names it, and lists the rest
    assert listed.clusters == [] and [d.name for d in listed.damaged] == ["broken"]
    assert listed.damaged[0].message == err.value.message
    # Clean-up is the way out: it still finds and stops the cluster's supervisord.
    deleted = deployments.clean_up(cluster="broken").deleted
    assert [(d.kind, d.name) for d in deleted] == [("cluster", "broken")]
    assert deployments.clusters() == []


def test_wrong_shape_is_damaged_too(deployments: LocalDeployments, home: Path) -> None:
    folder = home / "services" / "ghost"
    folder.mkdir(parents=True)
    (folder / "service.json").write_text(json.dumps({"name": "ghost", "port": "many"}))
    with pytest.raises(StoreError, match=r"service\.json") as err:
        deployments.service("ghost")
    assert "port" in err.value.message or "cluster" in err.value.message
    assert (folder / "service.json.bak").exists()
    deleted = deployments.clean_up(service="ghost").deleted
    assert [(d.kind, d.name) for d in deleted] == [("service", "ghost")]
    with pytest.raises(NotFound):
        deployments.service("ghost")


def test_names_cannot_escape_the_home(deployments: LocalDeployments, home: Path) -> None:
    (home / "victim").mkdir(parents=True)
    assert deployments.clean_up(service="../victim").deleted == []
    assert deployments.clean_up(cluster="../victim").deleted == []
    assert (home / "victim").exists()
    with pytest.raises(NotFound):
        deployments.service("../victim")
    assert not Store.valid("A") and Store.valid("diabetes-service")
    assert os.path.exists(home / "victim")
