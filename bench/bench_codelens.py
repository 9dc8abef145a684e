"""`textDocument/codeLens` over the wire on a 10,000-line script, Lensflow vs a naive peer.

Both servers run at once on their own temporary workspace holding the same 10,000-line
`train.py` (bench_analysis's generator: the seed's run body repeated in functions, one
`with mlflow.start_run():`), opened with `didOpen`. The peer, `bench/ast_lens_server.py`, is a
bare pygls 2 server that runs `ast.parse` on every codeLens request and returns one lens per
`with`. Requests go one at a time, alternating between the two servers, so both see the same
machine noise.

- **unchanged**: codeLens for the same document version, send → reply.
- **first after an edit**: an incremental `didChange` (a comment line inserted mid-file, version
  + 1) immediately followed by codeLens; send of didChange → codeLens reply.

No codeLens/resolve is sent (that is the tracking store's business). Before measuring, the
Lensflow process tree is left to go idle: didOpen of an mlflow script starts its store worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .bench_analysis import build_script
from .common import PYTHON, Figure, latency_figure, median, p95
from .rpc import RpcClient, initialize_params

LENSFLOW = [PYTHON, "-m", "lensflow"]
PEER = [PYTHON, str(Path(__file__).with_name("ast_lens_server.py"))]
PEER_NAME = "pygls 2 + ast.parse per request"
UNCHANGED_RUNS = 200
EDIT_RUNS = 30
WARMUPS = 3
UNCHANGED_P95_TARGET_MS = 20.0
EDIT_P95_TARGET_MS = 100.0
SETTLE_TIMEOUT_S = 20.0
_CLK_TCK = os.sysconf("SC_CLK_TCK")


class TimedClient(RpcClient):
    """An RpcClient that also notes when each notification arrived (perf_counter)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.arrivals: list[tuple[float, str, Any]] = []

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" not in message:
            self.arrivals.append(
                (time.perf_counter(), str(message["method"]), message.get("params"))
            )
        super()._dispatch(message)


@dataclass
class Side:
    """One server under test, its document and its samples (milliseconds)."""

    name: str
    argv: list[str]
    workspace: Path
    client: TimedClient | None = None
    uri: str = ""
    version: int = 1
    lenses: int = 0
    reply_bytes: int = 0
    unchanged: list[float] = field(default_factory=list)
    edit: list[float] = field(default_factory=list)
    # Lensflow publishes diagnostics on didChange: didChange send → their arrival.
    edit_diagnostics: list[float] = field(default_factory=list)
    diagnostics: int = 0


def _descendants(pid: int) -> list[int]:
    """pid and all its descendants, from /proc/<pid>/task/*/children."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
    return found


def _tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process tree (live processes only)."""
    total = 0
    for p in _descendants(pid):
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / _CLK_TCK


async def _settle(pid: int, window_s: float = 0.5, idle_share: float = 0.05) -> float:
    """Waits until the tree uses < idle_share of a core over a window; returns seconds waited."""
    started = time.perf_counter()
    before = _tree_cpu_s(pid)
    while time.perf_counter() - started < SETTLE_TIMEOUT_S:
        await asyncio.sleep(window_s)
        now = _tree_cpu_s(pid)
        if now - before < idle_share * window_s:
            break
        before = now
    return time.perf_counter() - started


async def _open(side: Side, text: str) -> None:
    script = side.workspace / "train.py"
    script.write_text(text, encoding="utf-8")
    client = await TimedClient.spawn(side.argv, cwd=side.workspace)
    assert isinstance(client, TimedClient)
    side.client = client
    await client.request("initialize", initialize_params(side.workspace), timeout=30)
    client.notify("initialized", {})
    side.uri = script.as_uri()
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": side.uri, "languageId": "python", "version": 1, "text": text}},
    )
    lenses = await client.request("textDocument/codeLens", {"textDocument": {"uri": side.uri}})
    side.lenses = len(lenses or [])
    side.reply_bytes = len(json.dumps(lenses, separators=(",", ":")).encode())


async def _code_lens(side: Side) -> float:
    """One codeLens for the current version; milliseconds send → reply."""
    assert side.client is not None
    started = time.perf_counter()
    await side.client.request("textDocument/codeLens", {"textDocument": {"uri": side.uri}})
    return (time.perf_counter() - started) * 1e3


async def _edit_then_code_lens(side: Side, line: int, i: int) -> float:
    """didChange (insert a comment line at `line`) then codeLens at once; ms didChange → reply."""
    client = side.client
    assert client is not None
    side.version += 1
    at = {"line": line, "character": 0}
    change = {"range": {"start": at, "end": at}, "text": f"# edit {i}\n"}
    seen = len(client.arrivals)
    started = time.perf_counter()
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": side.uri, "version": side.version},
            "contentChanges": [change],
        },
    )
    # notify() only buffers: both messages go out together when request() drains.
    lenses = await client.request("textDocument/codeLens", {"textDocument": {"uri": side.uri}})
    elapsed = (time.perf_counter() - started) * 1e3
    if not lenses:
        raise RuntimeError(f"{side.name}: no lenses after edit {i}")
    await asyncio.sleep(0.02)  # let a diagnostics notification sent after the reply arrive
    for when, method, params in client.arrivals[seen:]:
        if method == "textDocument/publishDiagnostics" and params.get("version") == side.version:
            side.edit_diagnostics.append((when - started) * 1e3)
            side.diagnostics = len(params.get("diagnostics", []))
            break
    return elapsed


async def _run_sides(lensflow: Side, peer: Side, text: str) -> float:
    sides = (lensflow, peer)
    for side in sides:
        await _open(side, text)
    assert lensflow.client is not None
    settled = await _settle(lensflow.client.pid)
    for side in sides:
        for _ in range(WARMUPS):
            await _code_lens(side)
    for i in range(UNCHANGED_RUNS):
        for side in sides if i % 2 == 0 else sides[::-1]:
            side.unchanged.append(await _code_lens(side))
    middle = text.count("\n") // 2
    for i in range(EDIT_RUNS):
        for side in sides if i % 2 == 0 else sides[::-1]:
            side.edit.append(await _edit_then_code_lens(side, middle + 7 * i, i))
    return settled


def _figure(name: str, lf: list[float], pr: list[float], pick: Any, target: float | None) -> Figure:
    return latency_figure(name, lf, pr, pick, PEER_NAME, target)


async def _run() -> dict[str, Figure]:
    text = build_script()
    with (
        tempfile.TemporaryDirectory(prefix="lensflow-bench-") as lf_tmp,
        tempfile.TemporaryDirectory(prefix="lensflow-bench-peer-") as peer_tmp,
    ):
        lensflow = Side("lensflow", LENSFLOW, Path(lf_tmp))
        peer = Side("peer", PEER, Path(peer_tmp))
        try:
            settled = await _run_sides(lensflow, peer, text)
        finally:
            for side in (lensflow, peer):
                if side.client is not None:
                    await side.client.close()

    lines = text.count("\n") + 1
    what = (
        f"{lines} lines; lenses (JSON bytes): Lensflow {lensflow.lenses} "
        f"({lensflow.reply_bytes} B), peer {peer.lenses} ({peer.reply_bytes} B)"
    )
    figures = {
        "unchanged_p50": _figure(
            "codeLens, unchanged version, p50", lensflow.unchanged, peer.unchanged, median, None
        ),
        "unchanged_p95": _figure(
            "codeLens, unchanged version, p95",
            lensflow.unchanged,
            peer.unchanged,
            p95,
            UNCHANGED_P95_TARGET_MS,
        ),
        "edit_p50": _figure(
            "didChange → codeLens reply, p50", lensflow.edit, peer.edit, median, None
        ),
        "edit_p95": _figure(
            "didChange → codeLens reply, p95", lensflow.edit, peer.edit, p95, EDIT_P95_TARGET_MS
        ),
    }
    figures["unchanged_p95"].note = (
        f"{UNCHANGED_RUNS} requests each, one at a time, alternating; {what}; "
        f"Lensflow tree idle after {settled:.1f} s"
    )
    figures[
        "edit_p95"
    ].note = f"{EDIT_RUNS} edits each: incremental didChange (a comment line mid-file) + codeLens"
    if lensflow.edit_diagnostics:
        figures["edit_diagnostics_p50"] = Figure(
            "didChange → its publishDiagnostics, p50 (info)",
            median(lensflow.edit_diagnostics),
            "ms",
            note=f"Lensflow analyses and publishes {lensflow.diagnostics} diagnostics on every "
            f"didChange, before it reads the codeLens request; "
            f"{len(lensflow.edit_diagnostics)}/{EDIT_RUNS} seen; the codeLens reply came "
            f"{median(lensflow.edit) - median(lensflow.edit_diagnostics):.1f} ms after (p50s)",
        )
    return figures


def run() -> dict[str, Figure]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for key, figure in run().items():
        print(key, figure)
