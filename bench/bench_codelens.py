"""`textDocument/codeLens` over the wire on 1,000 / 10,000 / 50,000-line scripts, vs a naive peer.

For each size, both servers run at once on their own temporary workspace holding the same
`train.py` (bench_analysis's generator: the seed's run body repeated in functions, one
`with mlflow.start_run():`), opened with `didOpen`. The peer, `bench/ast_lens_server.py`, is a
bare pygls 2 server that runs `ast.parse` on every codeLens request and returns one lens per
`with`. Requests go one at a time, alternating between the two servers, so both see the same
machine noise.

- **unchanged**: codeLens for the same document version, send → reply.
- **first after an edit**: an incremental `didChange` (a comment line inserted mid-file, version
  + 1) immediately followed by codeLens; send of didChange → codeLens reply.
- **RSS per line**: Lensflow's VmRSS after the edits less its VmRSS with the small seed script
  open, over the script's lines.

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
# (lines, (unchanged runs, edit runs)): the peer's ast.parse takes ~1 s a request at 50k
SIZES = ((1_000, (200, 30)), (10_000, (200, 30)), (50_000, (30, 30)))
WARMUPS = 3
UNCHANGED_P95_TARGET_MS = 5.0
EDIT_P95_TARGETS_MS = {10_000: 30.0, 50_000: 100.0}
RSS_PER_LINE_TARGET_KIB = 1.0
DEBOUNCE_S = 0.2  # lensflow.features.diagnostics.DEBOUNCE_S
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
    # Lensflow publishes diagnostics once edits stop: the last didChange send → their arrival.
    edit_diagnostics: list[float] = field(default_factory=list)
    diagnostics: int = 0
    last_edit: float = 0.0
    rss_before: int = 0  # KiB, with only the small seed script open
    rss_after: int = 0  # KiB, after the edits


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


async def _start(side: Side) -> None:
    client = await TimedClient.spawn(side.argv, cwd=side.workspace)
    assert isinstance(client, TimedClient)
    side.client = client
    await client.request("initialize", initialize_params(side.workspace), timeout=30)
    client.notify("initialized", {})


async def _open(side: Side, text: str) -> None:
    script = side.workspace / "train.py"
    script.write_text(text, encoding="utf-8")
    client = side.client
    assert client is not None
    side.uri = script.as_uri()
    client.notify(
        "textDocument/didOpen",
        {"textDocument": {"uri": side.uri, "languageId": "python", "version": 1, "text": text}},
    )
    lenses = await client.request(
        "textDocument/codeLens", {"textDocument": {"uri": side.uri}}, timeout=60
    )
    side.lenses = len(lenses or [])
    side.reply_bytes = len(json.dumps(lenses, separators=(",", ":")).encode())


async def _open_small(side: Side) -> dict[str, Any]:
    """didOpen of the seed script as `small.py`; the params of a codeLens request for it."""
    small = side.workspace / "small.py"
    text = build_script(0)
    small.write_text(text, encoding="utf-8")
    assert side.client is not None
    doc = {"uri": small.as_uri(), "languageId": "python", "version": 1, "text": text}
    side.client.notify("textDocument/didOpen", {"textDocument": doc})
    return {"textDocument": {"uri": small.as_uri()}}


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


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
    started = time.perf_counter()
    client.notify(
        "textDocument/didChange",
        {
            "textDocument": {"uri": side.uri, "version": side.version},
            "contentChanges": [change],
        },
    )
    # notify() only buffers: both messages go out together when request() drains.
    lenses = await client.request(
        "textDocument/codeLens", {"textDocument": {"uri": side.uri}}, timeout=60
    )
    elapsed = (time.perf_counter() - started) * 1e3
    side.last_edit = started
    if not lenses:
        raise RuntimeError(f"{side.name}: no lenses after edit {i}")
    return elapsed


async def _run_sides(lensflow: Side, peer: Side, text: str, runs: tuple[int, int]) -> float:
    sides = (lensflow, peer)
    for side in sides:
        await _start(side)
    assert lensflow.client is not None
    # a small script first, so the baseline has what any first script loads (settings, ...)
    await lensflow.client.request("textDocument/codeLens", await _open_small(lensflow))
    settled = await _settle(lensflow.client.pid)
    lensflow.rss_before = _rss_kib(lensflow.client.pid)
    for side in sides:
        await _open(side, text)
    settled += await _settle(lensflow.client.pid)
    for side in sides:
        for _ in range(WARMUPS):
            await _code_lens(side)
    unchanged_runs, edit_runs = runs
    for i in range(unchanged_runs):
        for side in sides if i % 2 == 0 else sides[::-1]:
            side.unchanged.append(await _code_lens(side))
    middle = text.count("\n") // 2
    for i in range(edit_runs):
        for side in sides if i % 2 == 0 else sides[::-1]:
            side.edit.append(await _edit_then_code_lens(side, middle + 7 * i, i))
    # diagnostics wait until edits stop: the last edit's arrive DEBOUNCE_S later
    await asyncio.sleep(1.0)
    assert lensflow.client is not None
    lensflow.rss_after = _rss_kib(lensflow.client.pid)
    for when, method, params in lensflow.client.arrivals:
        if (
            method == "textDocument/publishDiagnostics"
            and params.get("version") == lensflow.version
        ):
            lensflow.edit_diagnostics.append((when - lensflow.last_edit) * 1e3)
            lensflow.diagnostics = len(params.get("diagnostics", []))
    return settled


def _figure(name: str, lf: list[float], pr: list[float], pick: Any, target: float | None) -> Figure:
    return latency_figure(name, lf, pr, pick, PEER_NAME, target)


async def _run_size(target_lines: int, runs: tuple[int, int]) -> dict[str, Figure]:
    text = build_script(target_lines)
    with (
        tempfile.TemporaryDirectory(prefix="lensflow-bench-") as lf_tmp,
        tempfile.TemporaryDirectory(prefix="lensflow-bench-peer-") as peer_tmp,
    ):
        lensflow = Side("lensflow", LENSFLOW, Path(lf_tmp))
        peer = Side("peer", PEER, Path(peer_tmp))
        try:
            settled = await _run_sides(lensflow, peer, text, runs)
        finally:
            for side in (lensflow, peer):
                if side.client is not None:
                    await side.client.close()

    lines = text.count("\n") + 1
    k = f"{target_lines // 1000}k"
    what = (
        f"{lines} lines; lenses (JSON bytes): Lensflow {lensflow.lenses} "
        f"({lensflow.reply_bytes} B), peer {peer.lenses} ({peer.reply_bytes} B)"
    )
    unchanged_target = UNCHANGED_P95_TARGET_MS if target_lines == 10_000 else None
    figures = {
        f"unchanged_p95_{k}": _figure(
            f"codeLens, {lines} lines, unchanged version, p95",
            lensflow.unchanged,
            peer.unchanged,
            p95,
            unchanged_target,
        ),
        f"edit_p50_{k}": _figure(
            f"didChange → codeLens reply, {lines} lines, p50",
            lensflow.edit,
            peer.edit,
            median,
            None,
        ),
        f"edit_p95_{k}": _figure(
            f"didChange → codeLens reply, {lines} lines, p95",
            lensflow.edit,
            peer.edit,
            p95,
            EDIT_P95_TARGETS_MS.get(target_lines),
        ),
    }
    figures[f"unchanged_p95_{k}"].note = (
        f"{runs[0]} requests each, one at a time, alternating; {what}; "
        f"Lensflow tree idle after {settled:.1f} s"
    )
    figures[
        f"edit_p95_{k}"
    ].note = f"{runs[1]} edits each: incremental didChange (a comment line mid-file) + codeLens"
    per_line = (lensflow.rss_after - lensflow.rss_before) / lines
    figures[f"rss_per_line_{k}"] = Figure(
        f"server RSS growth per line of the open document, {lines} lines",
        per_line,
        "KiB",
        target=f"≤ {RSS_PER_LINE_TARGET_KIB:.0f} KiB",
        ok=per_line <= RSS_PER_LINE_TARGET_KIB,
        note=f"VmRSS {lensflow.rss_before / 1024:.1f} MiB with the seed script open, "
        f"{lensflow.rss_after / 1024:.1f} MiB after the edits",
    )
    if lensflow.edit_diagnostics:
        figures[f"edit_diagnostics_{k}"] = Figure(
            f"last didChange → its publishDiagnostics, {lines} lines (info)",
            lensflow.edit_diagnostics[0],
            "ms",
            note=f"{lensflow.diagnostics} diagnostics, published once edits stop for "
            f"{DEBOUNCE_S * 1e3:.0f} ms, never ahead of a codeLens reply",
        )
    return figures


async def _run() -> dict[str, Figure]:
    figures: dict[str, Figure] = {}
    for target_lines, runs in SIZES:
        figures |= await _run_size(target_lines, runs)
    return figures


def run() -> dict[str, Figure]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for key, figure in run().items():
        print(key, figure)
