"""A task that does one step every few seconds until stopped: how the server watches what
changes outside it (services' live state, the store on disk)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class Periodic:
    def __init__(self, step: Callable[[], Awaitable[object]], interval_s: float, what: str) -> None:
        self._step = step
        self._interval_s = interval_s
        self._what = what
        self._task: asyncio.Task[None] | None = None

    def start(self) -> bool:
        """Starts it unless it runs; True when it was started now."""
        if self._task is not None and not self._task.done():
            return False
        self._task = asyncio.ensure_future(self._run())
        return True

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            try:
                await self._step()
            except Exception:  # a dead cluster, a client that refused a refresh: next round
                log.debug("%s: no look this round", self._what, exc_info=True)
            await asyncio.sleep(self._interval_s)
