"""A crash loop backs off as Kubernetes' CrashLoopBackOff does and never ends in FATAL: real
supervisord, real uvicorn on 127.0.0.1, kill -9, and the server's own monitor reporting it.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import joblib
import pytest
from lensflow.services import ServiceMonitor
from lensflow.workspaces.local.deployments import LocalDeployments, ModelArtifact
from lensflow_protocol.deployment import CreateClusterArgs, DeployArgs, ListServicesResult
from sklearn.linear_model import Ridge

from .conftest import SEEN

SERVICE, CLUSTER = "looping-service", "aks-dev"
ROWS = [[0.1 * i for i in range(3)]]


@pytest.fixture
def local(deployments: LocalDeployments, tmp_path: Path) -> Iterator[LocalDeployments]:
    model = tmp_path / "model.pkl"
    joblib.dump(Ridge().fit([[float(i)] * 3 for i in range(5)], list(range(5))), model)
    deployments.create_cluster(CreateClusterArgs(name=CLUSTER))
    args = DeployArgs(service_name=SERVICE, model_name="m", cluster_name=CLUSTER)
    info = deployments.deploy(args, ModelArtifact("m", 1, "ScikitLearn", model), lambda *_: None)
    assert info.state == "Healthy", info.error
    yield deployments


def program(local: LocalDeployments) -> tuple[int, str]:
    """supervisord's pid and state of the service's program."""
    info = local._supervisor(CLUSTER).info(SERVICE)
    assert info is not None
    if info["pid"]:
        SEEN.append(int(info["pid"]))
    return int(info["pid"]), str(info["statename"])


def score(local: LocalDeployments) -> int:
    request = urllib.request.Request(
        local.service(SERVICE).scoring_uri, data=json.dumps({"data": ROWS}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {local.keys(SERVICE).primary_key}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return int(response.status)


class Watched:
    """The server's own monitor on these services, its serviceUpdated notifications kept."""

    def __init__(self, local: LocalDeployments) -> None:
        self.sent: list[dict[str, Any]] = []

        async def listed() -> ListServicesResult:
            return await asyncio.to_thread(local.list_services)

        async def changed() -> None:
            pass

        self.monitor = ServiceMonitor(listed, lambda _, params: self.sent.append(params), changed)

    async def until(self, local: LocalDeployments, after: int, state: str, timeout: float) -> None:
        """Waits for a `state` notification past `after`; supervisord must never say FATAL."""
        deadline = time.monotonic() + timeout
        while not any(u["state"] == state for u in self.sent[after:]):
            assert program(local)[1] != "FATAL", self.sent[after:]
            assert time.monotonic() < deadline, f"no {state} within {timeout} s: {self.sent}"
            await asyncio.sleep(0.1)


def states(updates: list[dict[str, Any]]) -> list[str]:
    return [u["state"] for u in updates]


@pytest.mark.serial  # back-off delays are measured against the clock
async def test_five_kill_9s_in_a_row_end_healthy_without_a_redeploy(
    local: LocalDeployments,
) -> None:
    watched = Watched(local)
    watched.monitor.start()
    per_kill: list[list[dict[str, Any]]] = []
    pids = [program(local)[0]]
    try:
        await watched.until(local, 0, "Healthy", 10)
        for _ in range(5):
            after = len(watched.sent)
            os.kill(pids[-1], signal.SIGKILL)
            await watched.until(local, after, "Healthy", 60)
            per_kill.append(watched.sent[after:])
            pids.append(program(local)[0])
    finally:
        await watched.monitor.stop()
    assert len(set(pids)) == 6, pids  # each kill hit a new process: no redeploy, same program
    # The first crash restarts at once, as Kubernetes does.
    assert states(per_kill[0]) == ["Unhealthy", "Healthy"], per_kill[0]
    for crashes, updates in enumerate(per_kill[1:], start=2):
        # A look between the kill and the launcher's restart reads a plain outage first.
        seen = states(updates)
        assert seen[seen[0] == "Unhealthy" :] == ["CrashLoopBackOff", "Healthy"], updates
        error = updates[-2]["error"]
        assert f"crashed {crashes} times in a row (CrashLoopBackOff)" in error, error
        assert f"after a back-off of {2 ** (crashes - 2)} s" in error and " UTC" in error, error
    assert local.service(SERVICE).state == "Healthy" and score(local) == 200
    log = (local.store.service_dir(SERVICE) / "service.log").read_text()
    assert "crashed 5 times in a row (CrashLoopBackOff): restarting in 8 s" in log


@pytest.mark.serial  # back-off delays are measured against the clock
def test_a_crash_loop_comes_back_by_itself_once_its_cause_is_gone(local: LocalDeployments) -> None:
    """Its model's file gone, every restart fails; supervisord would have given up (FATAL)
    after 3. Back in place, the next restart of the back-off serves again."""
    folder = local.store.service_dir(SERVICE)
    (model,) = (folder / "model").iterdir()
    model.rename(folder / "aside.pkl")
    pid = program(local)[0]
    os.kill(pid, signal.SIGKILL)
    seen: list[tuple[str, str | None]] = []
    deadline = time.monotonic() + 60
    while not seen or "crashed 4 times" not in (seen[-1][1] or ""):
        assert program(local)[1] != "FATAL", seen
        assert time.monotonic() < deadline, f"no 4th crash: {seen}"
        info = local.service(SERVICE)
        if not seen or seen[-1] != (info.state, info.error):
            seen.append((info.state, info.error))
        time.sleep(0.1)
    assert seen[-1][0] == "CrashLoopBackOff"
    (folder / "aside.pkl").rename(model)
    while (info := local.service(SERVICE)).state != "Healthy":
        assert program(local)[1] != "FATAL"
        assert time.monotonic() < deadline + 30, f"not back: {info.state} {info.error}"
        time.sleep(0.1)
    assert score(local) == 200
