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

First hover with history: a fresh Lensflow on the same store, `initialize` + `initialized`,
`didOpen` of `train.py`, then hovers on the `log_metric('mse', …)` line one after another (a
fresh request each, `FIRST_HOVER_POLL_S` apart) until one shows the runs; the figure is spawn →
that hover's reply. The peer is `python -c "import mlflow"` (same interpreter, environment and
folder), spawn → exit. `FIRST_HOVER_ROUNDS` of each, alternating (the order flips every round);
medians. Target: ≤ the peer + 0.5 s.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import PYTHON, REPO, SAMPLE_SCRIPT, Figure, latency_figure, median, p95, ratio
from .rpc import RpcClient, initialize_params

LENSFLOW = [PYTHON, "-m", "lensflow"]
PEER = [PYTHON, str(Path(__file__).with_name("const_hover_server.py"))]
PEER_NAME = "pygls 2, constant answers"
RUNS = 1000
REQUESTS = 200
P95_TARGET_MS = 20.0
LOAD_TIMEOUT_S = 120.0
FIRST_HOVER_ROUNDS = 5
FIRST_HOVER_POLL_S = 0.05
FIRST_HOVER_SLACK_S = 0.5
IMPORT_MLFLOW = [PYTHON, "-c", "import mlflow"]


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
        if _shows_runs(result):
            return time.perf_counter() - started
        await asyncio.sleep(0.05)
    raise RuntimeError(f"Lensflow showed no runs within {LOAD_TIMEOUT_S:.0f} s")


def _shows_runs(result: Any) -> bool:
    return bool(result) and f"{RUNS}+ runs" in result["contents"]["value"]


@dataclass
class FirstHover:
    """One fresh server's first hover with history, in seconds from its spawn."""

    spawn_to_history: float  # spawn → the reply of the first hover showing the runs
    spawn_to_first_sent: float  # spawn → the first hover sent (after initialize + didOpen)
    first_sent_to_history: float  # the first hover sent → the reply showing the runs
    first_reply: float  # the first hover's own send → reply
    hovers: int  # hovers sent, the one showing the runs included


async def _first_hover(workspace: Path, script: Path) -> FirstHover:
    """A fresh Lensflow on the workspace's store: spawn → the first hover that shows history."""
    side = Side("lensflow", LENSFLOW, workspace)
    try:
        await side.open(script)
        assert side.client is not None
        spawned = side.client.spawned_at
        first_sent = time.perf_counter()
        first_reply = -1.0
        hovers = 0
        while time.perf_counter() - first_sent < LOAD_TIMEOUT_S:
            elapsed_ms, result = await side.request_hover()
            hovers += 1
            if first_reply < 0:
                first_reply = elapsed_ms / 1e3
            if _shows_runs(result):
                done = time.perf_counter()
                return FirstHover(
                    done - spawned, first_sent - spawned, done - first_sent, first_reply, hovers
                )
            await asyncio.sleep(FIRST_HOVER_POLL_S)
        raise RuntimeError(f"a fresh Lensflow showed no runs within {LOAD_TIMEOUT_S:.0f} s")
    finally:
        if side.client is not None:
            await side.client.close()


async def _import_mlflow(cwd: Path) -> float:
    """`python -c "import mlflow"`: spawn → exit, in seconds."""
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        *IMPORT_MLFLOW,
        cwd=str(cwd),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"import mlflow failed: {err.decode(errors='replace')[-2000:]}")
    return time.perf_counter() - started


async def _first_hovers(workspace: Path, script: Path) -> tuple[list[FirstHover], list[float]]:
    ours: list[FirstHover] = []
    peer: list[float] = []
    for i in range(FIRST_HOVER_ROUNDS):
        for which in ("ours", "peer") if i % 2 == 0 else ("peer", "ours"):
            if which == "ours":
                ours.append(await _first_hover(workspace, script))
            else:
                peer.append(await _import_mlflow(workspace))
    return ours, peer


def _first_hover_figures(ours: list[FirstHover], peer: list[float]) -> dict[str, Figure]:
    value = median([h.spawn_to_history for h in ours])
    peer_value = median(peer)
    after_first = median([h.first_sent_to_history for h in ours])
    rounds = ", ".join(f"{h.spawn_to_history:.2f}" for h in ours)
    peers = ", ".join(f"{p:.2f}" for p in peer)
    return {
        "first_hover": Figure(
            "spawn → first hover showing history (1,000 runs)",
            value,
            "s",
            peer='python -c "import mlflow"',
            peer_value=peer_value,
            ratio=ratio(value, peer_value),
            target=f"≤ peer + {FIRST_HOVER_SLACK_S} s",
            ok=value <= peer_value + FIRST_HOVER_SLACK_S,
            note=(
                f"ours − peer {value - peer_value:+.2f} s; medians of {len(ours)} fresh servers "
                f"({rounds} s) and {len(peer)} imports ({peers} s), alternating; first hover sent "
                f"{median([h.spawn_to_first_sent for h in ours]):.2f} s after spawn, its reply "
                f"after {median([h.first_reply for h in ours]):.2f} s; "
                f"{median([float(h.hovers) for h in ours]):.0f} hovers"
            ),
        ),
        "first_hover_after_first_sent": Figure(
            "first hover sent → first hover showing history",
            after_first,
            "s",
            note=f"hovers one after another, {FIRST_HOVER_POLL_S * 1e3:.0f} ms apart",
        ),
    }


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
        first_ours, first_peer = await _first_hovers(workspace, script)

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
        **_first_hover_figures(first_ours, first_peer),
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
