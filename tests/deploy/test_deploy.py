"""The seed's Ridge served for real: supervisord, uvicorn, HTTP on 127.0.0.1, and clean-up."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import pytest
from lensflow.processes import pid_alive, wait_gone
from lensflow.scoring import cgroups
from lensflow.workspaces.endpoint import invoke
from lensflow.workspaces.local.deployments import LocalDeployments, ModelArtifact
from lensflow_protocol.deployment import CreateClusterArgs, DeployArgs, ServiceInfo
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

from .conftest import SEEN, finish, processes_of
from .test_limits import members

SERVICE = "diabetes-service"


@dataclass
class Seed:
    model: ModelArtifact
    rows: list[list[float]]
    expected: list[float]


@dataclass
class Served:
    local: LocalDeployments
    home: Path
    info: ServiceInfo
    seconds: float
    states: list[tuple[str, str | None]] = field(default_factory=list)


@pytest.fixture(scope="module")
def seed(tmp_path_factory: pytest.TempPathFactory) -> Seed:
    """The seed document's model, trained here: independent truth for the service's answers."""
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    ridge = Ridge(alpha=0.03).fit(X_train, y_train)
    path = tmp_path_factory.mktemp("run") / "model.pkl"
    joblib.dump(ridge, path)
    expected = [float(v) for v in ridge.predict(X_test[0:2])]
    assert expected == pytest.approx([235.11, 246.80], abs=0.01)
    return Seed(
        ModelArtifact("diabetes_model", 1, "ScikitLearn", path), X_test[0:2].tolist(), expected
    )


def args(**fields: Any) -> DeployArgs:
    base = {"service_name": SERVICE, "model_name": "diabetes_model", "cluster_name": "aks-dev"}
    return DeployArgs.model_validate({**base, **fields})


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, seed: Seed) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("served") / "lens flow 100%"
    local = LocalDeployments(home)
    local.create_cluster(CreateClusterArgs(name="aks-dev"))
    states: list[tuple[str, str | None]] = []
    started = time.monotonic()
    # The seed's advice: raise the reserve to 1 CPU and 1 GB.
    info = local.deploy(args(cpu_cores=1, memory_gb=1), seed.model, lambda *s: states.append(s))
    yield Served(local, home, info, time.monotonic() - started, states)
    finish(local, home)


def post(url: str, body: Any, key: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def port_of(info: ServiceInfo) -> int:
    return int(info.scoring_uri.split(":")[2].split("/")[0])


def service_pid(local: LocalDeployments, name: str, cluster: str) -> int:
    info = local._supervisor(cluster).info(name)
    assert info is not None
    SEEN.append(info["pid"])
    return int(info["pid"])


def test_deploy_becomes_healthy(served: Served) -> None:
    info = served.info
    assert info.state == "Healthy", info.error
    assert served.seconds < 15
    assert served.states == [("Transitioning", None), ("Healthy", None)]
    port = port_of(info)
    assert info.scoring_uri == f"http://127.0.0.1:{port}/score"
    assert info.swagger_uri == f"http://127.0.0.1:{port}/swagger.json"
    assert (info.cpu_cores, info.memory_gb, info.replicas, info.auth_enabled) == (1, 1, 1, True)
    assert info.max_request_mb == 100
    folder = served.home / "services" / SERVICE
    assert (folder / "model" / "model.pkl").is_file()  # served from Lensflow's own copy
    assert (folder / "keys.json").stat().st_mode & 0o777 == 0o600


def test_score_needs_a_key(served: Served, seed: Seed) -> None:
    keys = served.local.keys(SERVICE)
    body = {"data": seed.rows, "method": "predict"}
    for key in (keys.primary_key, keys.secondary_key):
        status, output = post(served.info.scoring_uri, body, key)
        assert status == 200 and output == pytest.approx(seed.expected, rel=1e-9)
    assert post(served.info.scoring_uri, body)[0] == 401
    assert post(served.info.scoring_uri, body, "x" * 43)[0] == 401


def test_another_server_sees_the_live_service(served: Served) -> None:
    other = LocalDeployments(served.home)
    assert other.service(SERVICE).state == "Healthy"
    assert [(s.service_name, s.state) for s in other.services("aks-dev")] == [(SERVICE, "Healthy")]
    assert other.services("elsewhere") == []
    (cluster,) = other.clusters()
    assert (cluster.state, cluster.services) == ("Succeeded", [SERVICE])
    assert other.keys(SERVICE) == served.local.keys(SERVICE)
    assert any("Uvicorn running" in line or "Application startup" in line
               for line in other.logs(SERVICE, 50).lines)  # fmt: skip


@pytest.mark.serial  # a recovery deadline: not beside another test's load
def test_kill_9_comes_back_healthy(served: Served, seed: Seed) -> None:
    pid = service_pid(served.local, SERVICE, "aks-dev")
    os.kill(pid, signal.SIGKILL)
    seen: list[str] = []
    started = time.monotonic()
    while (state := served.local.service(SERVICE).state) != "Healthy" or not seen:
        seen.append(state)
        assert time.monotonic() - started < 5, f"not back within 5 s: {seen}"
        time.sleep(0.05)
    assert set(seen) & {"Unhealthy", "Transitioning"}, seen
    assert service_pid(served.local, SERVICE, "aks-dev") != pid and not pid_alive(pid)
    status, output = post(
        served.info.scoring_uri, {"data": seed.rows}, served.local.keys(SERVICE).primary_key
    )
    assert status == 200 and output == pytest.approx(seed.expected, rel=1e-9)


def test_clean_up_service_then_cluster(served: Served) -> None:
    local, port = served.local, port_of(served.info)
    supervisord = int((served.home / "clusters" / "aks-dev" / "supervisord.pid").read_text())
    SEEN.append(supervisord)
    deleted = local.clean_up(service=SERVICE).deleted
    assert [(d.kind, d.name) for d in deleted] == [("service", SERVICE)]
    assert refused(port)
    assert processes_of(served.home) == [supervisord]
    assert local.clean_up(service=SERVICE).deleted == []
    assert local.services() == [] and local.clusters()[0].services == []
    assert [(d.kind, d.name) for d in local.clean_up(cluster="aks-dev").deleted] == [
        ("cluster", "aks-dev")
    ]
    assert wait_gone([supervisord], 1) and processes_of(served.home) == []
    assert local.clean_up(all=True).deleted == []


def wait_state(local: LocalDeployments, name: str, want: str, timeout: float) -> list[str]:
    seen: list[str] = []
    started = time.monotonic()
    while (state := local.service(name).state) != want:
        seen.append(state)
        assert time.monotonic() - started < timeout, f"never {want}: {seen}"
        time.sleep(0.1)
    return seen


def test_no_wait_replicas_and_cluster_clean_up(
    deployments: LocalDeployments, home: Path, seed: Seed
) -> None:
    deployments.create_cluster(CreateClusterArgs(name="aks-dev"))
    states: list[tuple[str, str | None]] = []
    info = deployments.deploy(args(replicas=2, wait=False), seed.model, lambda *s: states.append(s))
    assert info.state == "Transitioning" and states == [("Transitioning", None)]
    wait_state(deployments, SERVICE, "Healthy", 20)
    key = deployments.keys(SERVICE).primary_key
    assert post(info.scoring_uri, {"data": seed.rows}, key) == (200, pytest.approx(seed.expected))
    assert len(processes_of(home)) >= 4  # supervisord, uvicorn master and two workers
    if cgroups.find()[0] is not None:  # limits enforced (tests/deploy/test_limits.py)
        placed = cgroups.read_placed(deployments.store.service_dir(SERVICE))
        assert placed is not None
        # Each worker in its own replica's cgroups, the master in neither (a worker joins its
        # CPU cgroup once its model is loaded: the second may still be loading).
        deadline = time.monotonic() + 20
        while True:
            workers = [members(f) for replica in placed.replicas for f in replica]
            if all(len(w) == 1 for w in workers) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert all(len(w) == 1 for w in workers), workers
        assert workers[0] == workers[1] != workers[2] == workers[3], workers
    SEEN.extend(processes_of(home))
    deleted = deployments.clean_up(cluster="aks-dev").deleted
    assert [(d.kind, d.name) for d in deleted] == [("service", SERVICE), ("cluster", "aks-dev")]
    assert refused(port_of(info)) and processes_of(home) == []


def test_max_request_mb_is_the_services_body_limit(
    deployments: LocalDeployments, home: Path, seed: Seed
) -> None:
    """40,000 rows (8.6 MB): refused with a 413 invokeEndpoint reads when maxRequestMb is 1,
    scored by default (100). It was a reset (`unreachable`) past 8 MiB, and 1 MiB was the
    limit whatever the deploy said."""
    deployments.create_cluster(CreateClusterArgs(name="aks-dev"))
    small = deployments.deploy(args(max_request_mb=1), seed.model, lambda *s: None)
    roomy = deployments.deploy(args(service_name="roomy-service"), seed.model, lambda *s: None)
    SEEN.extend(processes_of(home))
    assert (small.max_request_mb, roomy.max_request_mb) == (1, 100)
    body = {"data": seed.rows * 20_000}
    refused = invoke(small.scoring_uri, deployments.keys(SERVICE).primary_key, body, SERVICE)
    assert refused.status_code == 413 and "at most 1048576" in refused.output["error"]
    key = deployments.keys("roomy-service").primary_key
    scored = invoke(roomy.scoring_uri, key, body, "roomy-service")
    assert scored.status_code == 200 and len(scored.output) == 40_000
    assert scored.output[:2] == pytest.approx(seed.expected, rel=1e-9)
    deployments.clean_up(cluster="aks-dev")
    assert processes_of(home) == []


def test_supervisord_killed_under_a_service(
    deployments: LocalDeployments, home: Path, seed: Seed
) -> None:
    deployments.create_cluster(CreateClusterArgs(name="aks-dev"))
    info = deployments.deploy(args(auth_enabled=False), seed.model, lambda *s: None)
    assert info.state == "Healthy"
    assert post(info.scoring_uri, {"data": seed.rows})[0] == 200  # no key needed
    SEEN.extend(processes_of(home))
    supervisord = int((home / "clusters" / "aks-dev" / "supervisord.pid").read_text())
    os.kill(supervisord, signal.SIGKILL)
    assert wait_gone([supervisord], 5)
    assert deployments.clusters()[0].state == "Failed"
    service = deployments.service(SERVICE)
    assert service.state == "Failed" and "aks-dev" in (service.error or "")
    assert processes_of(home) != []  # the orphaned uvicorn still runs…
    deleted = deployments.clean_up(all=True).deleted
    assert {(d.kind, d.name) for d in deleted} == {("service", SERVICE), ("cluster", "aks-dev")}
    assert refused(port_of(info)) and processes_of(home) == []  # …until clean-up


def test_a_model_that_cannot_load_fails_with_its_log(
    deployments: LocalDeployments, seed: Seed, tmp_path: Path
) -> None:
    deployments.create_cluster(CreateClusterArgs(name="aks-dev"))
    broken = tmp_path / "model.pkl"
    broken.write_bytes(b"this is not a pickle")
    model = ModelArtifact("diabetes_model", 2, "ScikitLearn", broken)
    states: list[tuple[str, str | None]] = []
    info = deployments.deploy(args(), model, lambda *s: states.append(s))
    assert info.state == "Failed" and info.error
    assert "could not start" in info.error and "log ends with" in info.error
    assert "the scoring service cannot start" in info.error  # the app's own words, from its log
    assert [s for s, _ in states] == ["Transitioning", "Failed"]
    assert deployments.service(SERVICE).state == "Failed"
