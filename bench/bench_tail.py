"""The tail under load: POST /score p99 against `mlflow models serve` at 1 / 4 / 16 / 64
keep-alive connections, with 1 and 2 workers each (issue 16, item 6).

The servers are bench_scoring's: ours started with the command a deployed service runs
(lensflow.scoring.serving.uvicorn_command), the peer `mlflow models serve -w <workers>`, both
with the same worker count, up at the same time (an idle server costs no CPU). The load is
bench_scoring's too: `wrk -t1 -c<connections>` when on PATH, else its asyncio generator. For each
point, 3 rounds of 2 s per server, alternating; p99 is the median round's: on a shared 2-core
machine one round in a few catches a long preemption, which the worst round would report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from .bench_scoring import (
    Load,
    Server,
    _close,
    _load,
    _merge,
    _models,
    _our_server,
    _peer_server,
    _stop,
    _wait_ping,
)
from .common import Figure, median, ratio

CONNECTIONS = (1, 4, 16, 64)
WORKERS = (1, 2)
WARMUP_S = 1.0
ROUND_S = 2.0
ROUNDS = 3
RATIO_TARGET = 0.5  # our p99 over the peer's, at every point


def _start(folder: Path, workers: int, rows: list[list[float]], want: list[float]) -> list[Server]:
    """Ours and the peer with `workers` workers each, ready, their answers checked."""
    ours = _our_server(
        folder, "ours", "ScikitLearn", folder / "model.pkl",
        json.dumps({"data": rows}).encode(), workers,
    )  # fmt: skip
    peer = _peer_server(folder, json.dumps({"dataframe_split": {"data": rows}}).encode(), workers)
    servers = [ours, peer]
    for server in servers:
        _wait_ping(server.proc, server.port)
    status, answer = ours.post()
    assert status == 200 and answer == want, answer
    status, answer = peer.post()
    assert status == 200 and _close(answer["predictions"], want, 1e-9), answer
    return servers


def _figure(workers: int, connections: int, ours: Load, peer: Load) -> Figure:
    p99_ratio = ratio(ours.p99_ms, peer.p99_ms)
    return Figure(
        f"POST /score p99, {workers} worker(s), {connections} connection(s)", ours.p99_ms, "ms",
        f"mlflow models serve -w {workers}", peer.p99_ms, p99_ratio,
        f"≤ {RATIO_TARGET}× peer", p99_ratio <= RATIO_TARGET,
        f"req/s {ours.rps:.0f} vs {peer.rps:.0f}; p50 {ours.p50_ms:.2f} vs {peer.p50_ms:.2f} ms; "
        f"errors {ours.errors} vs {peer.errors}",
    )  # fmt: skip


def run() -> dict[str, Figure]:
    folder = Path(tempfile.mkdtemp(prefix="lensflow-bench-tail-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ridge, x_test = _models(folder)
        rows = x_test[:2]
        want = ridge.predict(rows).tolist()
        generator = "wrk -t1" if shutil.which("wrk") else "asyncio generator"
        figures: dict[str, Figure] = {}
        for workers in WORKERS:
            servers = _start(folder, workers, rows.tolist(), want)
            procs += [server.proc for server in servers]
            for server in servers:
                _load(server, WARMUP_S, folder, CONNECTIONS[-1])
            for connections in CONNECTIONS:
                loads: dict[str, list[Load]] = {server.name: [] for server in servers}
                for _ in range(ROUNDS):  # alternating: ours, peer, ours, peer
                    for server in servers:
                        loads[server.name].append(_load(server, ROUND_S, folder, connections))
                ours, peer = (_merge(loads[server.name]) for server in servers)
                for merged, server in ((ours, servers[0]), (peer, servers[1])):
                    merged.p99_ms = median([x.p99_ms for x in loads[server.name]])
                figure = _figure(workers, connections, ours, peer)
                figure.note += f"; {generator}, {ROUNDS}×{ROUND_S:.0f} s each, median round"
                figures[f"p99_w{workers}_c{connections}"] = figure
            for server in servers:
                _stop(server.proc)
        return figures
    finally:
        for proc in procs:
            _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    for key, figure in run().items():
        print(key, figure)
