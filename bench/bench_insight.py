"""Hover and inlay hints over the wire with 1,000 runs of the script in the store.

A fresh local store (`<workspace>/.lensflow/mlflow.db`) gets 1,000 FINISHED runs of the sample
`train.py`, each with its `lensflow.script` tag (the script's absolute path, as the run bootstrap
sets it), a param `alpha` and a metric `mse`. They are written in one transaction by a child
process through MLflow's own SQLAlchemy models (MlflowClient takes ~40 s for as many runs),
then read back with MlflowClient to check that they are there. Lensflow starts on that
workspace over stdio, opens `train.py`, and is waited for until a hover shows the runs (the
first load: didOpen → history in memory, reported for information). After one warm-up of each
request, 200 hovers (on `mlflow.log_metric('mse', …)`) and 200 `textDocument/inlayHint`
requests (the whole file), send → reply, alternating with the peer.

The peer, `bench/const_hover_server.py`, is a bare pygls 2 server answering a constant hover of
the same size and two constant inlay hints: the floor pygls and JSON-RPC over stdio set.
Targets: Lensflow's hover and inlayHint p95 ≤ 20 ms.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, REPO, SAMPLE_SCRIPT, Figure, latency_figure, median, p95
from .rpc import RpcClient, initialize_params

LENSFLOW = [PYTHON, "-m", "lensflow"]
PEER = [PYTHON, str(Path(__file__).with_name("const_hover_server.py"))]
PEER_NAME = "pygls 2, constant answers"
RUNS = 1000
REQUESTS = 200
P95_TARGET_MS = 20.0
LOAD_TIMEOUT_S = 120.0


def fill(db: str, script: str, count: int, artifacts: str) -> None:
    """`count` FINISHED runs of `script`, one a minute up to now (runs in a child process)."""
    import uuid

    from mlflow.store.tracking.dbmodels.models import (
        SqlLatestMetric,
        SqlMetric,
        SqlParam,
        SqlRun,
        SqlTag,
    )
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
    from mlflow.tracking import MlflowClient

    store = SqlAlchemyStore(f"sqlite:///{db}", artifacts)
    experiment = int(store.create_experiment("bench_insight"))
    base = int(time.time() * 1000) - count * 60_000
    with store.ManagedSessionMaker() as session:
        for i in range(count):
            run_id, start, mse = uuid.uuid4().hex, base + i * 60_000, 3000.0 + (i * 37) % 500
            name = f"bench-{i}"
            session.add(
                SqlRun(
                    run_uuid=run_id,
                    name=name,
                    experiment_id=experiment,
                    user_id="bench",
                    status="FINISHED",
                    start_time=start,
                    end_time=start + 2000,
                    source_type="LOCAL",
                    source_name=script,
                    entry_point_name="",
                    source_version="",
                    lifecycle_stage="active",
                    artifact_uri=f"{artifacts}/{run_id}/artifacts",
                )
            )
            metric = {"key": "mse", "value": mse, "timestamp": start + 1000, "step": 0}
            session.add_all(
                [
                    SqlTag(key="lensflow.script", value=script, run_uuid=run_id),
                    SqlTag(key="mlflow.runName", value=name, run_uuid=run_id),
                    SqlParam(key="alpha", value=str(round(0.01 * (i + 1), 2)), run_uuid=run_id),
                    SqlMetric(**metric, is_nan=False, run_uuid=run_id),
                    SqlLatestMetric(**metric, is_nan=False, run_uuid=run_id),
                ]
            )
    found = MlflowClient(tracking_uri=f"sqlite:///{db}").search_runs(
        [str(experiment)],
        filter_string=f"tags.`lensflow.script` = '{script}'",
        max_results=count,
    )
    if len(found) != count or found[0].data.metrics.get("mse") is None:
        raise RuntimeError(f"the store holds {len(found)} runs of {script}, not {count}")


def _fill_store(workspace: Path, script: Path) -> float:
    home = workspace / ".lensflow"
    (home / "artifacts").mkdir(parents=True)
    started = time.perf_counter()
    subprocess.run(
        [
            PYTHON,
            "-m",
            "bench.bench_insight",
            "fill",
            str(home / "mlflow.db"),
            str(script),
            str(RUNS),
            str(home / "artifacts"),
        ],
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return time.perf_counter() - started


def _initialize(root: Path) -> dict[str, Any]:
    params = initialize_params(root)
    caps = params["capabilities"]
    caps["workspace"]["inlayHint"] = {"refreshSupport": True}
    caps["textDocument"]["hover"] = {"contentFormat": ["markdown", "plaintext"]}
    caps["textDocument"]["inlayHint"] = {"dynamicRegistration": False}
    return params


class Side:
    def __init__(self, name: str, argv: list[str], workspace: Path) -> None:
        self.name, self.argv, self.workspace = name, argv, workspace
        self.client: RpcClient | None = None
        self.uri = ""
        self.lines: list[str] = []
        self.hover: list[float] = []
        self.inlay: list[float] = []
        self.hints = 0
        self.hover_chars = 0

    async def open(self, script: Path) -> None:
        self.client = await RpcClient.spawn(self.argv, cwd=self.workspace)
        await self.client.request("initialize", _initialize(self.workspace), timeout=30)
        self.client.notify("initialized", {})
        text = script.read_text()
        self.uri, self.lines = script.as_uri(), text.splitlines()
        self.client.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": self.uri, "languageId": "python", "version": 1, "text": text}},
        )

    def _position(self) -> dict[str, Any]:
        line = next(i for i, t in enumerate(self.lines) if "mlflow.log_metric('mse'" in t)
        return {"line": line, "character": self.lines[line].index("log_metric")}

    async def request_hover(self) -> tuple[float, Any]:
        assert self.client is not None
        params = {"textDocument": {"uri": self.uri}, "position": self._position()}
        started = time.perf_counter()
        result = await self.client.request("textDocument/hover", params)
        return (time.perf_counter() - started) * 1e3, result

    async def request_inlay(self) -> tuple[float, Any]:
        assert self.client is not None
        end = {"line": len(self.lines), "character": 0}
        params = {
            "textDocument": {"uri": self.uri},
            "range": {"start": {"line": 0, "character": 0}, "end": end},
        }
        started = time.perf_counter()
        result = await self.client.request("textDocument/inlayHint", params)
        return (time.perf_counter() - started) * 1e3, result


async def _first_load(side: Side) -> float:
    """didOpen → the first hover that shows the runs (the history's first load), in seconds."""
    started = time.perf_counter()
    while time.perf_counter() - started < LOAD_TIMEOUT_S:
        _, result = await side.request_hover()
        if result and "1000+ runs" in result["contents"]["value"]:
            return time.perf_counter() - started
        await asyncio.sleep(0.05)
    raise RuntimeError(f"Lensflow showed no runs within {LOAD_TIMEOUT_S:.0f} s")


def _figure(name: str, lf: list[float], pr: list[float], pick: Any, target: bool) -> Figure:
    return latency_figure(name, lf, pr, pick, PEER_NAME, P95_TARGET_MS if target else None)


async def _measure(lensflow: Side, peer: Side, script: Path) -> float:
    from .bench_codelens import _settle

    for side in (lensflow, peer):
        await side.open(script)
    load_s = await _first_load(lensflow)
    assert lensflow.client is not None
    await _settle(lensflow.client.pid)
    for side in (lensflow, peer):  # one warm-up of each
        _, hover = await side.request_hover()
        _, hints = await side.request_inlay()
        side.hover_chars, side.hints = len(hover["contents"]["value"]), len(hints or [])
    if lensflow.hints != 2:
        raise RuntimeError(f"Lensflow gave {lensflow.hints} inlay hints, not 2")
    for i in range(REQUESTS):
        for side in (lensflow, peer) if i % 2 == 0 else (peer, lensflow):
            side.hover.append((await side.request_hover())[0])
            side.inlay.append((await side.request_inlay())[0])
    return load_s


async def _run() -> dict[str, Figure]:
    with (
        tempfile.TemporaryDirectory(prefix="lensflow-bench-insight-") as lf_tmp,
        tempfile.TemporaryDirectory(prefix="lensflow-bench-insight-peer-") as peer_tmp,
    ):
        workspace = Path(lf_tmp).resolve()
        script = workspace / "train.py"
        shutil.copy(SAMPLE_SCRIPT, script)
        fill_s = _fill_store(workspace, script)
        lensflow = Side("lensflow", LENSFLOW, workspace)
        peer = Side("peer", PEER, Path(peer_tmp))
        try:
            load_s = await _measure(lensflow, peer, script)
        finally:
            for side in (lensflow, peer):
                if side.client is not None:
                    await side.client.close()

    what = (
        f"{RUNS} runs of train.py; hover {lensflow.hover_chars} chars (peer "
        f"{peer.hover_chars}); {lensflow.hints} inlay hints (peer {peer.hints})"
    )
    return {
        "hover_p50": _figure("hover, p50", lensflow.hover, peer.hover, median, False),
        "hover_p95": _figure("hover, p95", lensflow.hover, peer.hover, p95, True),
        "inlay_p50": _figure("inlayHint, p50", lensflow.inlay, peer.inlay, median, False),
        "inlay_p95": _figure("inlayHint, p95", lensflow.inlay, peer.inlay, p95, True),
        "first_load": Figure(
            "didOpen → hover showing the runs (first load)",
            load_s,
            "s",
            note=f"{what}; store filled in {fill_s:.1f} s (child process)",
        ),
    }


def run() -> dict[str, Figure]:
    return asyncio.run(_run())


if __name__ == "__main__":
    if sys.argv[1:2] == ["fill"]:
        db, script, count, artifacts = sys.argv[2:6]
        fill(db, script, int(count), artifacts)
    else:
        for key, figure in run().items():
            print(key, figure)
