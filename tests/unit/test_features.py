"""Features as objects: every handler is a named method that can be found, walked and called
alone; and the owners of shared state (services, newest runs) keep it as they say."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import pytest_asyncio
from lensflow.app import FEATURES, build_server
from lensflow.latest_runs import LatestRuns
from lensflow.lsp.feature import Feature, handlers
from lensflow.server import LensflowServer
from lensflow.services import ServiceMonitor
from lensflow_protocol.deployment import ListServicesResult, ServiceInfo
from lensflow_protocol.registry import COMMANDS
from lensflow_protocol.tracking import RunInfo
from lsprotocol import types


def features(server: LensflowServer) -> list[Feature]:
    return [make(server) for make in FEATURES]


def test_every_contract_command_has_exactly_one_named_handler() -> None:
    found: dict[str, list[str]] = {}
    for feature in features(LensflowServer()):
        for handler in handlers(feature):
            if handler.spec.kind == "command":
                owner = f"{type(feature).__name__}.{handler.method.__name__}"
                found.setdefault(handler.spec.name, []).append(owner)
                # Found by name: the bound handler is the class's own method.
                assert getattr(feature, handler.method.__name__) == handler.method
    assert sorted(found) == sorted(COMMANDS)
    assert {name: owners for name, owners in found.items() if len(owners) != 1} == {}


def test_the_assembled_server_serves_what_the_features_name() -> None:
    server = build_server()
    fm = server.protocol.fm
    assert sorted(fm.commands) == sorted(COMMANDS)
    for method in (
        types.TEXT_DOCUMENT_CODE_LENS,
        types.CODE_LENS_RESOLVE,
        types.TEXT_DOCUMENT_HOVER,
        types.TEXT_DOCUMENT_INLAY_HINT,
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.NOTEBOOK_DOCUMENT_DID_OPEN,
        types.SHUTDOWN,
    ):
        assert method in fm.features, method


async def test_a_command_handler_runs_alone(tmp_path: Path) -> None:
    """A feature needs only what it reads of its server: here a root and a workspace."""
    from lensflow.features.tracking import Tracking
    from lensflow_protocol.errors import NotFound
    from lensflow_protocol.tracking import TrackRunArgs

    asked: list[str] = []
    server = SimpleNamespace(root=tmp_path, active_workspace=lambda: asked.append("ws"))
    tracking = Tracking(cast(LensflowServer, server))
    with pytest.raises(NotFound, match=f"No script at {tmp_path}/train.py"):
        await tracking.track_run(TrackRunArgs(script="train.py"))
    assert asked == ["ws"] and tracking.runs_in_flight == {}


# --- ServiceMonitor ----------------------------------------------------------------------------
def service(name: str, state: str) -> ServiceInfo:
    return ServiceInfo.model_validate(
        {"serviceName": name, "state": state, "clusterName": "c", "modelName": "m",
         "modelVersion": 1, "modelFramework": "ScikitLearn", "scoringUri": "http://127.0.0.1:1/score",
         "swaggerUri": "http://127.0.0.1:1/swagger.json", "authEnabled": True, "cpuCores": 1,
         "memoryGb": 1, "replicas": 1}
    )  # fmt: skip


class Watched:
    def __init__(self) -> None:
        self.services: list[ServiceInfo] = []
        self.sent: list[tuple[str, Any]] = []
        self.refreshes = 0

    async def list(self) -> ListServicesResult:
        return ListServicesResult(services=self.services)

    def send(self, method: str, params: Any) -> None:
        self.sent.append((method, params))

    async def changed(self) -> None:
        self.refreshes += 1


async def rounds(n: int = 4) -> None:
    from lensflow import services

    await asyncio.sleep(services.INTERVAL_S * n)


@pytest_asyncio.fixture
async def watched(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[tuple[Watched, ServiceMonitor]]:
    """A monitor watching one Healthy service, a round every 10 ms."""
    from lensflow import services

    monkeypatch.setattr(services, "INTERVAL_S", 0.01)
    world = Watched()
    monitor = ServiceMonitor(world.list, world.send, world.changed)
    world.services = [service("a", "Healthy")]
    monitor.start()
    await rounds()
    yield world, monitor
    await monitor.stop()


async def test_the_monitor_reports_each_state_once_and_refreshes_on_each_change(
    watched: tuple[Watched, ServiceMonitor],
) -> None:
    world, monitor = watched
    assert [p["state"] for _, p in world.sent] == ["Healthy"]
    assert set(monitor.services) == {"a"} and world.refreshes == 1
    world.services = [service("a", "Unhealthy")]
    await rounds()
    assert [p["state"] for _, p in world.sent] == ["Healthy", "Unhealthy"]
    assert world.refreshes == 2  # the Invoke lens shows the state: it is asked for again
    await rounds()
    assert len(world.sent) == 2 and world.refreshes == 2  # nothing new: nothing sent


async def test_the_monitor_stays_quiet_while_a_clean_up_runs(
    watched: tuple[Watched, ServiceMonitor],
) -> None:
    world, monitor = watched
    async with monitor.cleaning():
        world.services = [service("a", "Failed")]  # being deleted: no news
        await rounds()
        assert [p["state"] for _, p in world.sent] == ["Healthy"]
        monitor.removed("a")
        world.services = []
    await rounds()
    assert [p["state"] for _, p in world.sent] == ["Healthy"] and monitor.services == {}


# --- LatestRuns ----------------------------------------------------------------------------------
def run(n: int, status: str = "FINISHED") -> RunInfo:
    return RunInfo.model_validate(
        {
            "runId": f"r{n}",
            "experimentId": "1",
            "status": status,
            "startTime": 1000 - n,
            "params": {},
            "metrics": {},
        }
    )


async def test_latest_runs_read_once_answer_newest_and_finished_and_forget() -> None:
    calls: list[tuple[str, int]] = []
    runs = [run(1, "FAILED"), run(2), run(3)]

    async def load(script: str, limit: int) -> list[RunInfo]:
        calls.append((script, limit))
        return runs

    latest = LatestRuns(load)
    assert latest.has_two("/s.py") is None  # nothing read yet
    newest = await latest.newest("/s.py")
    assert newest is not None and newest.run_id == "r1"
    finished = await latest.newest("/s.py", finished=True)
    assert finished is not None and finished.run_id == "r2"
    assert latest.has_two("/s.py") is True and len(calls) == 1
    latest.forget("/s.py")
    assert latest.has_two("/s.py") is None
    await latest.newest("/s.py")
    assert len(calls) == 2


async def test_a_load_older_than_a_forget_is_not_kept() -> None:
    gate = asyncio.Event()

    async def load(script: str, limit: int) -> list[RunInfo]:
        await gate.wait()
        return [run(1)]

    latest = LatestRuns(load)
    reading = asyncio.ensure_future(latest.newest("/s.py"))
    await asyncio.sleep(0)
    latest.forget()  # a run ended while we read: what we read may be stale
    gate.set()
    assert (await reading) is not None
    assert latest.has_two("/s.py") is None


async def test_load_soon_reads_aside_once_then_calls_back() -> None:
    calls = 0
    told: list[bool | None] = []

    async def load(script: str, limit: int) -> list[RunInfo]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return [run(1), run(2)]

    latest = LatestRuns(load)

    async def then() -> None:
        told.append(latest.has_two("/s.py"))

    for _ in range(5):  # an editor asking for lenses on every keystroke
        latest.load_soon("/s.py", then)
    await asyncio.sleep(0.1)
    assert calls == 1 and told == [True]
