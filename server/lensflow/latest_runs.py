"""Each script's newest runs, for lenses: `Last run`, `Register model` and `Compare runs`.

A short list (`LIMIT` newest, newest first) per script, read once and kept until a run of the
script ends or a model is registered. Owned by `history.RunHistory`; knows no LSP.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from lensflow_protocol.errors import LensflowError

if TYPE_CHECKING:
    from lensflow_protocol.tracking import RunInfo

log = logging.getLogger(__name__)
LIMIT = 20
LatestLoader = Callable[[str, int], Awaitable[Sequence["RunInfo"]]]


class LatestRuns:
    def __init__(self, load: LatestLoader) -> None:
        self._load = load
        self._runs: dict[str, tuple[RunInfo, ...]] = {}
        # Loads started aside, by script: one per script, however often lenses are asked for.
        self._filling: dict[str, asyncio.Task[None]] = {}
        self._generation = 0  # bumped by forget(): a load older than that is not kept

    async def newest(self, script: str, finished: bool = False) -> RunInfo | None:
        """The script's newest run (FINISHED only, if asked); reads the store once."""
        runs = self._runs.get(script)
        if runs is None:
            generation = self._generation
            runs = tuple(await self._load(script, LIMIT))
            if generation == self._generation:
                self._runs[script] = runs
        return next((r for r in runs if not finished or r.status == "FINISHED"), None)

    def has_two(self, script: str) -> bool | None:
        """Whether the script has two runs; None when nothing is read yet."""
        runs = self._runs.get(script)
        return None if runs is None else len(runs) > 1

    def load_soon(self, script: str, then: Callable[[], Awaitable[None]]) -> None:
        """Reads the script's runs aside, then awaits `then()`; a failure is only logged (the
        Last run lens says what is wrong)."""
        if script not in self._filling:
            self._filling[script] = asyncio.ensure_future(self._fill(script, then))

    def forget(self, script: str | None = None) -> None:
        """Drops one script's runs (a run of it ended), or every script's."""
        self._generation += 1
        if script is None:
            self._runs.clear()
        else:
            self._runs.pop(script, None)

    async def _fill(self, script: str, then: Callable[[], Awaitable[None]]) -> None:
        try:
            await self.newest(script)
            await then()
        except LensflowError as exc:
            log.info("runs of %s for the lenses: %s", script, exc.message)
        except Exception:
            log.warning("runs of %s for the lenses", script, exc_info=True)
        finally:
            self._filling.pop(script, None)
