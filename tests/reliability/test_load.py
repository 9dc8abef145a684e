"""Load, bounded and on loopback only: concurrent runs writing one SQLite store, and a deployed
service under 16 keep-alive connections for a minute; then one of its workers killed with -9.

LENSFLOW_LOAD_SECONDS sets the service's load time (default 60).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from lensflow.processes import wait_gone
from pytest_lsp import LanguageClient

from tests.conftest import SAMPLE, execute, notes
from tests.e2e.test_deploy import http, seed_split

from .loadgen import hammer
from .support import (
    close,
    new_server,
    port_of,
    rss_kib,
    seed_service,
    service_processes,
    wait_for,
)

LOAD_SECONDS = float(os.environ.get("LENSFLOW_LOAD_SECONDS", "60"))
WARM_UP_S = 5.0
CONNECTIONS = 16
SERVICE = "load-service"

LOGGER = """\
import mlflow
for step in range(1000):
    mlflow.log_metric("m", {k} * 10000 + step * 0.5, step=step)
print("logged 1000", flush=True)
"""


async def test_four_concurrent_runs_record_every_metric(
    client: LanguageClient, project: Path
) -> None:
    """Four runs at once, each 1,000 single-metric writes into a new SQLite store (its tables
    made by whichever comes first): no "database is locked", every value there."""
    for k in range(4):
        (project / f"logger{k}.py").write_text(LOGGER.format(k=k))
    started = time.monotonic()
    results = await asyncio.gather(
        *(execute(client, "lensflow.trackRun", {"script": f"logger{k}.py"}) for k in range(4))
    )
    took = time.monotonic() - started
    output = json.dumps(notes(client, "lensflow/runOutput"))
    spans = sorted((r["durationS"], r["runId"][:8]) for r in results)
    print(f"\n4 runs × 1000 metrics in {took:.1f} s (each {spans})")
    assert [r["status"] for r in results] == ["FINISHED"] * 4, [r["outputTail"] for r in results]
    for text in [output, *(r["outputTail"] for r in results)]:
        assert "locked" not in text.lower() and "Traceback" not in text

    from mlflow.tracking import MlflowClient

    store = MlflowClient(tracking_uri=f"sqlite:///{project / '.lensflow' / 'mlflow.db'}")
    for k, result in enumerate(results):
        history = store.get_metric_history(result["runId"], "m")
        assert sorted((m.step, m.value) for m in history) == [
            (step, k * 10000 + step * 0.5) for step in range(1000)
        ]
        assert result["metrics"] == {"m": k * 10000 + 999 * 0.5}
    # They overlapped: the test would prove nothing about locking if they had run in turn.
    assert took < sum(r["durationS"] for r in results)


@dataclass
class Served:
    client: LanguageClient
    home: Path
    info: dict[str, Any]
    key: str


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def served(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Served]:
    """The seed's model as a two-replica service, deployed over stdio."""
    project = tmp_path_factory.mktemp("load") / "project"
    project.mkdir()
    shutil.copy(SAMPLE, project / "train.py")
    client = await new_server(project)
    home = project / ".lensflow"
    try:
        info = await seed_service(client, SERVICE, replicas=2, cpuCores=0.5)
        keys = await execute(client, "lensflow.getServiceKeys", {"serviceName": SERVICE})
        yield Served(client, home, info, keys["primaryKey"])
        await execute(client, "lensflow.cleanUp", {"all": True})
    finally:
        from lensflow.workspaces.local.deployments import LocalDeployments

        LocalDeployments(home).clean_up(all=True)
        await close(client)


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.serial  # throughput and latency: alone, after the parallel part of the suite
async def test_a_minute_at_16_connections(served: Served) -> None:
    x_head, expected = seed_split()
    body = json.dumps({"data": x_head}).encode()
    port = port_of(served.info["scoringUri"])
    status, first = http(served.info["scoringUri"], {"data": x_head}, served.key)
    assert (status, first) == (200, expected)  # the model's own predict, computed here
    expected_body = json.dumps(expected, separators=(",", ":")).encode()

    processes = service_processes(served.home, SERVICE)
    assert len(processes) >= 3  # uvicorn and its two workers
    samples: list[tuple[float, int]] = []

    def sample(elapsed: float) -> None:
        samples.append((elapsed, rss_kib(service_processes(served.home, SERVICE))))

    result = await hammer(
        port, "/score", body, {"Authorization": f"Bearer {served.key}"}, expected_body,
        CONNECTIONS, LOAD_SECONDS, every=sample, every_s=WARM_UP_S,
    )  # fmt: skip
    after = rss_kib(service_processes(served.home, SERVICE))
    before = samples[0][1]
    growth = (after - before) / before * 100
    print(
        f"\n{result.requests} requests in {result.seconds:.1f} s = {result.rate:.0f} req/s at "
        f"{CONNECTIONS} connections; statuses {dict(result.statuses)}; wrong bodies "
        f"{result.wrong_bodies}; errors {result.errors[:3]}; reconnects {result.reconnects}; "
        f"latency p50 {result.percentile(0.5):.1f} ms p99 {result.percentile(0.99):.1f} ms; "
        f"RSS {before} KiB after warm-up → {after} KiB at the end ({growth:+.1f} %); "
        f"samples {samples}"
    )
    assert result.errors == [] and result.reconnects == 0
    assert result.non_2xx == 0 and result.wrong_bodies == 0
    assert result.requests > 100 * LOAD_SECONDS  # it was load, not a trickle
    assert samples[0][0] == pytest.approx(WARM_UP_S, abs=0.5)
    assert growth < 10.0
    assert set(service_processes(served.home, SERVICE)) == set(processes)  # nothing restarted


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.serial  # a recovery deadline: not beside another test's load
async def test_worker_kill_9_is_healthy_again_within_5_s(served: Served) -> None:
    """kill -9 every process of a serving service: supervisord starts it again and the
    server reports the outage and the recovery as serviceUpdated, Healthy within 5 s.

    The service has served for a minute, as a serving one has: its first crash restarts at once
    (a crash loop's back-off starts with the second, see lensflow/crashloop.py).
    """
    client = served.client
    x_head, expected = seed_split()
    processes = service_processes(served.home, SERVICE)
    await execute(client, "lensflow.listServices", {})  # the monitor runs from here on

    def updates() -> list[dict[str, Any]]:
        return [u for u in notes(client, "lensflow/serviceUpdated") if u["serviceName"] == SERVICE]

    await wait_for(lambda: [u["state"] for u in updates()][-1:] == ["Healthy"], 10)
    seen = len(updates())
    killed_at = time.monotonic()
    for pid in processes:
        os.kill(pid, signal.SIGKILL)
    arrivals: list[tuple[float, str]] = []

    def back() -> bool:
        for update in updates()[seen + len(arrivals) :]:
            arrivals.append((round(time.monotonic() - killed_at, 2), update["state"]))
        return any(state == "Healthy" for _, state in arrivals)

    await wait_for(back, 20)
    healthy_after = arrivals[-1][0]
    print(f"\nkill -9 of {len(processes)} processes → serviceUpdated {arrivals}")
    assert [state for _, state in arrivals][-1] == "Healthy"
    assert {state for _, state in arrivals[:-1]} & {"Unhealthy", "Transitioning"}, arrivals
    assert healthy_after < 5.0, f"Healthy only after {healthy_after} s: {arrivals}"
    assert wait_gone(processes, 1)
    assert not set(service_processes(served.home, SERVICE)) & set(processes)
    assert http(served.info["scoringUri"], {"data": x_head}, served.key) == (200, expected)
