"""Keeps Python's cyclic garbage collector off the edit path of big documents.

A 50,000-line script's facts are ~100k long-lived objects; every edit makes new ones, so
every few edits a full collection walks them all (40–60 ms, the p95 of didChange → codeLens).
Once analyses stop for `IDLE_S`, one full collection runs and what survives it is frozen
(`gc.freeze`): later collections skip it, and the next quiet moment unfreezes, collects and
freezes again, so cyclic garbage made in between is still collected then. Knows no LSP:
`Documents` pokes it after each new analysis.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)
IDLE_S = 1.0


class IdleCollector:
    def __init__(self, idle_s: float = IDLE_S) -> None:
        self.idle_s = idle_s
        self._handle: asyncio.TimerHandle | None = None
        self.settled = 0  # how many times it collected and froze (for tests)

    def poke(self) -> None:
        """New objects were made: collect once things are quiet again."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop (a plain call): nothing to schedule on
            return
        if self._handle is not None:
            self._handle.cancel()
        self._handle = loop.call_later(self.idle_s, self.settle)

    def settle(self) -> None:
        self._handle = None
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self.settled += 1
        log.debug(
            "idle collection: %d objects frozen in %.1f ms",
            gc.get_freeze_count(), (time.perf_counter() - started) * 1e3,
        )  # fmt: skip

    def close(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
