"""Changes another client made to the workspace: a second window, or a scripted client.

Each server sees its own commands end; what another process wrote (a run, a registered model,
a cluster or a service) it sees only on disk. `StoreWatcher` owns the last signature seen of the
files that change then (the local store's SQLite file and its WAL, the clusters and services
folders) and the watching task. It stats them once a second and calls `on_change` when they
changed and then stayed still for a look (a run writing metrics is reported once, when it is
done, not every second). A server's own commands call `adopt()` after their own refresh, so
their writes are not reported twice.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

from .periodic import Periodic

INTERVAL_S = 1.0
Signature = tuple[tuple[str, int, int] | None, ...]


def signature(paths: list[Path]) -> Signature:
    """(path, mtime ns, size) of each, None when it does not exist or is an empty file.

    An empty file holds no write: SQLite makes an empty WAL when a connection opens the store
    (the store worker's first query, the server's own check of the tables) and deletes it when
    the last one closes. Those are reads; seen as changes they made the server drop a first
    load of the runs in flight and read them again.
    """
    found: list[tuple[str, int, int] | None] = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            found.append(None)
        else:
            empty = stat.S_ISREG(st.st_mode) and st.st_size == 0
            found.append(None if empty else (str(path), st.st_mtime_ns, st.st_size))
    return tuple(found)


class StoreWatcher:
    def __init__(
        self, paths: Callable[[], list[Path]], on_change: Callable[[], Awaitable[None]]
    ) -> None:
        self._paths = paths
        self._on_change = on_change
        self._acted: Signature | None = None  # the state last reported (or adopted)
        self._last: Signature | None = None  # the state seen at the last look
        self._periodic = Periodic(self.look, INTERVAL_S, "store watcher")

    def start(self) -> None:
        if self._periodic.start():
            self.adopt()

    async def stop(self) -> None:
        await self._periodic.stop()

    def adopt(self) -> None:
        """What is on disk now is known: this server's own command just refreshed for it."""
        self._acted = self._last = signature(self._paths())

    async def look(self) -> bool:
        """One look; True when it reported a change."""
        now = signature(self._paths())
        settled, self._last = now == self._last, now
        if not settled or now == self._acted:
            return False
        self._acted = now
        await self._on_change()
        return True
