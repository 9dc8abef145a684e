"""cpuCores and memoryGb are enforced on each replica, as AKS does, with the kernel's cgroups:
real supervisord, real uvicorn on 127.0.0.1, the kernel's OOM killer and CFS quota.

The model is a real scikit-learn KernelRidge: its predict builds a rows × training-rows kernel
matrix, so its memory and CPU grow with the request, as a real model's can.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from lensflow.scoring import cgroups
from lensflow.views.serving import service_commands
from lensflow.workspaces.local.deployments import LocalDeployments, ModelArtifact
from lensflow.workspaces.local.workspace import LocalWorkspace
from lensflow_protocol.deployment import CreateClusterArgs, DeployArgs, InvokeEndpointArgs
from lensflow_protocol.errors import Unreachable
from sklearn.kernel_ridge import KernelRidge

from .test_crashloop import Watched

CLUSTER = "aks-limits"
TRAIN_ROWS = 1000
MEMORY_GB = 0.3

hierarchy, why_not = cgroups.find()
needs_cgroups = pytest.mark.skipif(hierarchy is None, reason=f"no cgroups here: {why_not}")


@pytest.fixture
def model(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(TRAIN_ROWS, 10))
    path = tmp_path / "kernel_ridge.pkl"
    joblib.dump(KernelRidge(kernel="rbf").fit(x, x.sum(axis=1)), path)
    return path


@pytest.fixture
def cluster(deployments: LocalDeployments) -> Iterator[LocalDeployments]:
    deployments.create_cluster(CreateClusterArgs(name=CLUSTER, vm_size="Standard_D4_v2"))
    yield deployments


def deploy(local: LocalDeployments, model: Path, name: str, **limits: Any) -> None:
    args = DeployArgs(service_name=name, model_name="m", cluster_name=CLUSTER, **limits)
    info = local.deploy(args, ModelArtifact("m", 1, "ScikitLearn", model), lambda *_: None)
    assert info.state == "Healthy", info.error


def score(local: LocalDeployments, name: str, rows: int, timeout: float = 60) -> int:
    """POST `rows` rows to /score; the status, or -1 when the connection died unanswered."""
    port = int(local.service(name).scoring_uri.split(":")[2].split("/")[0])
    body = json.dumps({"data": np.ones((rows, 10)).tolist()})
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    key = local.keys(name).primary_key
    try:
        conn.request("POST", "/score", body, {"Content-Type": "application/json",
                                               "Authorization": f"Bearer {key}"})  # fmt: skip
        response = conn.getresponse()
        response.read()
        return response.status
    except (ConnectionError, http.client.HTTPException):
        return -1
    finally:
        conn.close()


async def healthy(watched: Watched, after: int) -> None:
    deadline = time.monotonic() + 60
    while not any(u["state"] == "Healthy" for u in watched.sent[after:]):
        assert time.monotonic() < deadline, watched.sent
        await asyncio.sleep(0.1)


def placed(local: LocalDeployments, name: str) -> cgroups.Placed:
    found = cgroups.read_placed(local.store.service_dir(name))
    assert found is not None
    return found


def members(folder: str) -> list[int]:
    return [int(p) for p in Path(folder, "cgroup.procs").read_text().split()]


@needs_cgroups
async def test_a_replica_over_its_memory_limit_is_oomkilled_and_reported(
    cluster: LocalDeployments, model: Path, home: Path
) -> None:
    local = cluster
    deploy(local, model, "hungry", memory_gb=MEMORY_GB)
    info = local.service("hungry")
    assert info.limits_enforced is True and info.limits_note is None
    assert info.last_termination is None
    (replica,) = placed(local, "hungry").replicas
    memory_dir, cpu_dir = replica
    limit = int(Path(memory_dir, "memory.limit_in_bytes").read_text())
    assert limit == round(MEMORY_GB * 1024) << 20
    assert Path(cpu_dir, "cpu.cfs_quota_us").read_text().strip() == "10000"  # 0.1 core
    pid = int(local._supervisor(CLUSTER).info("hungry")["pid"])  # type: ignore[index]
    assert pid in members(memory_dir) and pid in members(cpu_dir)  # cpu: once loaded
    assert score(local, "hungry", 10) == 200  # within its limit it serves

    watched = Watched(local)
    watched.monitor.start()
    workspace = LocalWorkspace(home, sys.executable)
    try:
        await healthy(watched, 0)
        # 40,000 × 1,000 float64 kernel matrix: 320 MB, past the 307 MB limit.
        big = {"data": np.ones((40_000, 10)).tolist()}
        with pytest.raises(Unreachable) as raised:
            await workspace.invoke_endpoint(InvokeEndpointArgs(service_name="hungry", input=big))
        assert "OOMKilled" in str(raised.value) and "0.3 GB" in str(raised.value)
        assert raised.value.data()["reason"] == "OOMKilled"
        deadline = time.monotonic() + 30
        while not any(u.get("lastTermination") for u in watched.sent):
            assert time.monotonic() < deadline, watched.sent
            await asyncio.sleep(0.1)
        await healthy(watched, len(watched.sent) - 1)
    finally:
        await watched.monitor.stop()
    update = next(u for u in watched.sent if u.get("lastTermination"))
    killed = update["lastTermination"]
    assert killed["reason"] == "OOMKilled" and killed["exitCode"] == 137 and killed["count"] == 1
    assert "memory limit of 0.3 GB" in killed["message"]
    # As kubectl: STATUS OOMKilled until the restart answers (when a look fell in between),
    # then Running with the kill as its Last State.
    assert set(u["state"] for u in watched.sent) <= {"Healthy", "OOMKilled", "Unhealthy"}
    listed = local.list_services().services[0]
    assert listed.state == "Healthy" and listed.last_termination is not None
    assert listed.last_termination.reason == "OOMKilled"
    (lens, _) = service_commands([listed], listed.script)  # the lens above the script
    assert lens.title == "Invoke endpoint hungry (Healthy · last OOMKilled over 0.3 GB ×1)"
    assert score(local, "hungry", 10) == 200  # restarted, serving, in its cgroup again
    new_pid = int(local._supervisor(CLUSTER).info("hungry")["pid"])  # type: ignore[index]
    assert new_pid != pid and new_pid in members(memory_dir)

    local.clean_up(service="hungry")
    assert not any(Path(f).exists() for f in placed_folders(replica, memory_dir))


def placed_folders(replica: list[str], memory_dir: str) -> list[str]:
    return [*replica, str(Path(memory_dir).parent)]


def cpu_seconds(pid: int) -> float:
    """The process's CPU time (user + system) from /proc: what the quota rations."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@needs_cgroups
def test_a_cpu_bound_predict_runs_at_its_quota(cluster: LocalDeployments, model: Path) -> None:
    """On a fifth of a core, a replica gets at most 20 ms of CPU per 100 ms however idle the
    machine is: its requests take at least five times their CPU time, and the kernel counts
    the throttling. (Without the quota they take about their CPU time.)"""
    local = cluster
    deploy(local, model, "fifth-core", cpu_cores=0.2)
    pid = int(local._supervisor(CLUSTER).info("fifth-core")["pid"])  # type: ignore[index]
    assert score(local, "fifth-core", 500) == 200  # warm
    cpu, started = cpu_seconds(pid), time.perf_counter()
    for _ in range(3):
        assert score(local, "fifth-core", 3000) == 200
    wall, cpu = time.perf_counter() - started, cpu_seconds(pid) - cpu
    assert cpu > 0.3, cpu  # enough work for the quota to show
    assert wall > 0.8 * cpu / 0.2, (wall, cpu)
    (replica,) = placed(local, "fifth-core").replicas
    stat = dict(line.split() for line in Path(replica[1], "cpu.stat").read_text().splitlines())
    assert int(stat["nr_throttled"]) > 0, stat


def test_where_no_cgroup_can_be_had_the_service_says_its_limits_are_not_enforced(
    cluster: LocalDeployments, model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine with cgroup v2 only (this process's mounts, as such a machine lists them)."""
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "25 1 0:23 / / rw,relatime - ext4 /dev/vda rw\n"
        "30 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw\n"
    )
    monkeypatch.setattr(cgroups, "_MOUNTINFO", mountinfo)
    local = cluster
    deploy(local, model, "unlimited", memory_gb=MEMORY_GB)
    info = local.service("unlimited")
    assert info.limits_enforced is False
    assert info.limits_note is not None and "cgroup v2 only" in info.limits_note
    assert cgroups.read_placed(local.store.service_dir("unlimited")) is None
    assert score(local, "unlimited", 10) == 200
