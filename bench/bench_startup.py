"""Start-up: spawn → `initialize` reply, Lensflow vs a bare pygls 2 server; and resident memory.

Both servers are started by the same interpreter and driven by the same client (bench/rpc.py),
alternately, after one unmeasured warm-up each (so both see a warm page cache).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .common import PYTHON, SAMPLE_SCRIPT, Figure, median, p95, ratio
from .rpc import RpcClient, RpcError, initialize_params, rss_mib

RUNS = 10
LENSFLOW = [PYTHON, "-m", "lensflow"]
BARE = [PYTHON, str(Path(__file__).with_name("bare_server.py"))]
STARTUP_RATIO_TARGET = 1.2
RSS_TARGET_MIB = 80.0


async def _start(argv: list[str]) -> tuple[RpcClient, float]:
    """Spawns a server and initializes it; returns it and the seconds spawn → reply."""
    client = await RpcClient.spawn(argv)
    await client.request("initialize", initialize_params(None), timeout=30)
    return client, time.perf_counter() - client.spawned_at


async def _time_startup(argv: list[str]) -> tuple[float, float, bool]:
    """Seconds spawn → initialize reply, the RSS (MiB) right after it, and a clean shutdown."""
    client, seconds = await _start(argv)
    try:
        rss = rss_mib(client.pid)
    finally:
        await client.close()
    return seconds, rss, bool(client.shutdown_answered)


HEAVY_PACKAGES = ("numpy", "scipy", "sklearn", "pandas", "sqlalchemy", "pyarrow")


def heavy_libraries(pid: int) -> list[str]:
    """Which heavy packages have native code (.so) mapped into the process."""
    found: set[str] = set()
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        if ".so" not in path:
            continue
        parts = path.split("/")
        found.update(name for name in HEAVY_PACKAGES if name in parts)
    return sorted(found)


@dataclass
class Session:
    """What one editor-like Lensflow session showed."""

    rss_code_lens: float = 0.0
    code_lens: str = ""
    heavy_after_code_lens: list[str] = field(default_factory=list)
    rss_resolve: float = 0.0
    resolve_s: float = 0.0
    resolve: str = ""
    heavy_after_resolve: list[str] = field(default_factory=list)


async def _editor_session() -> Session:
    """Lensflow after initialized + didOpen(train.py) + codeLens, then one codeLens/resolve.

    A codeLens error still counts for memory: the server parsed the script before it failed.
    The resolve of the "last run" lens is what an editor sends next for a visible lens.
    """
    session = Session()
    with tempfile.TemporaryDirectory(prefix="lensflow-bench-") as tmp:
        script = Path(tmp) / "train.py"
        shutil.copy(SAMPLE_SCRIPT, script)
        client = await RpcClient.spawn(LENSFLOW, cwd=Path(tmp))
        try:
            await client.request("initialize", initialize_params(Path(tmp)), timeout=30)
            client.notify("initialized", {})
            uri = script.as_uri()
            text = script.read_text(encoding="utf-8")
            client.notify(
                "textDocument/didOpen",
                {"textDocument": {"uri": uri, "languageId": "python", "version": 1, "text": text}},
            )
            try:
                lenses = await client.request(
                    "textDocument/codeLens", {"textDocument": {"uri": uri}}
                )
                session.code_lens = f"{len(lenses or [])} lenses returned"
            except RpcError as exc:
                session.code_lens = f"codeLens FAILED: {exc.code} {exc.message[:70]}…"
            session.rss_code_lens = rss_mib(client.pid)
            session.heavy_after_code_lens = heavy_libraries(client.pid)

            zero = {"line": 0, "character": 0}
            lens = {"range": {"start": zero, "end": zero}, "data": {"kind": "lastRun", "uri": uri}}
            started = time.perf_counter()
            try:
                resolved = await client.request("codeLens/resolve", lens, timeout=60)
                session.resolve = str((resolved.get("command") or {}).get("title", ""))
            except RpcError as exc:
                session.resolve = f"codeLens/resolve FAILED: {exc.code} {exc.message[:70]}…"
            session.resolve_s = time.perf_counter() - started
            session.rss_resolve = rss_mib(client.pid)
            session.heavy_after_resolve = heavy_libraries(client.pid)
        finally:
            await client.close()
    return session


async def _run() -> dict[str, Figure]:
    await _time_startup(LENSFLOW)  # warm-ups: page cache, .pyc files
    await _time_startup(BARE)
    times: dict[str, list[float]] = {"lensflow": [], "bare": []}
    rss: dict[str, list[float]] = {"lensflow": [], "bare": []}
    clean: dict[str, list[bool]] = {"lensflow": [], "bare": []}
    for i in range(RUNS):
        order = [("lensflow", LENSFLOW), ("bare", BARE)]
        if i % 2:
            order.reverse()
        for name, argv in order:
            seconds, mib, answered = await _time_startup(argv)
            times[name].append(seconds)
            rss[name].append(mib)
            clean[name].append(answered)
    session = await _editor_session()

    lf_med, bare_med = median(times["lensflow"]), median(times["bare"])
    lf_p95, bare_p95 = p95(times["lensflow"]), p95(times["bare"])
    lf_rss, bare_rss = median(rss["lensflow"]), median(rss["bare"])
    startup_ratio = ratio(lf_med, bare_med)
    return {
        "initialize_median": Figure(
            "spawn → initialize reply, median",
            lf_med,
            "s",
            peer="bare pygls 2 server",
            peer_value=bare_med,
            ratio=startup_ratio,
            target=f"ratio ≤ {STARTUP_RATIO_TARGET}",
            ok=startup_ratio <= STARTUP_RATIO_TARGET,
            note=f"{RUNS} runs each, alternating; `shutdown` answered: Lensflow "
            f"{sum(clean['lensflow'])}/{RUNS}, bare {sum(clean['bare'])}/{RUNS}",
        ),
        "initialize_p95": Figure(
            "spawn → initialize reply, p95",
            lf_p95,
            "s",
            peer="bare pygls 2 server",
            peer_value=bare_p95,
            ratio=ratio(lf_p95, bare_p95),
        ),
        "rss_after_initialize": Figure(
            "RSS after initialize, median",
            lf_rss,
            "MiB",
            peer="bare pygls 2 server",
            peer_value=bare_rss,
            ratio=ratio(lf_rss, bare_rss),
        ),
        "rss_after_code_lens": Figure(
            "RSS after initialized + didOpen(train.py) + codeLens",
            session.rss_code_lens,
            "MiB",
            peer="bare pygls 2 server after initialize",
            peer_value=bare_rss,
            ratio=ratio(session.rss_code_lens, bare_rss),
            target=f"≤ {RSS_TARGET_MIB:.0f} MiB",
            ok=session.rss_code_lens <= RSS_TARGET_MIB,
            note=f"{session.code_lens}; heavy native libs mapped: "
            + (", ".join(session.heavy_after_code_lens) or "none"),
        ),
        "rss_after_code_lens_resolve": Figure(
            "RSS after one codeLens/resolve of the last-run lens (info)",
            session.rss_resolve,
            "MiB",
            peer="bare pygls 2 server after initialize",
            peer_value=bare_rss,
            ratio=ratio(session.rss_resolve, bare_rss),
            note=f"first resolve took {session.resolve_s:.2f} s → {session.resolve[:80]!r}; "
            "heavy native libs mapped: " + (", ".join(session.heavy_after_resolve) or "none"),
        ),
    }


def run() -> dict[str, Figure]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for key, figure in run().items():
        print(key, figure)
