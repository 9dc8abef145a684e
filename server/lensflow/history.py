"""Each script's runs, for hovers and inlay hints: loaded once, kept until a run of it ends.

Knows no LSP. The server gives it a loader (the workspace's `list_runs` for one script) and is
told through `on_change` when a load brought values that hints show differently. Requests never
wait on the store unless they ask to, and then only for as long as they say: `known()` answers
from what is cached and starts a load if there is none; `fresh()` waits a bounded time for one.

A load that fails (no sign-in, a store that is down) is not retried for `RETRY_AFTER_S`, so an
editor asking for hints on every keystroke does not queue sign-ins.

Which run is "best" for a metric: `best_run.py` says, for hover, hints and compareRuns alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .best_run import best_runs
from .latest_runs import LatestLoader, LatestRuns

if TYPE_CHECKING:
    from lensflow_protocol.tracking import RunInfo

log = logging.getLogger(__name__)

LOAD_LIMIT = 1000  # newest runs of a script that a hover can show (list_runs' own maximum)
RETRY_AFTER_S = 30.0

Loader = Callable[[str], Awaitable[Sequence["RunInfo"]]]


def format_number(value: float) -> str:
    """Six significant digits, no trailing zeros: 3424.86, 0.03, 1.23457e+06, nan."""
    return f"{value:.6g}"


@dataclass(frozen=True)
class Point:
    """One run's value of one key (None: the run did not log it)."""

    run: RunInfo
    value: float | str | None


@dataclass(frozen=True)
class ScriptRuns:
    """A script's runs, newest first, and the last logged value of each key."""

    runs: tuple[RunInfo, ...]
    # key -> the newest run that logged it, with its value
    last_metrics: dict[str, Point]
    last_params: dict[str, Point]
    _best: dict[str, RunInfo | None] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, runs: Sequence[RunInfo]) -> ScriptRuns:
        ordered = sorted(runs, key=lambda r: r.start_time or 0, reverse=True)
        metrics: dict[str, Point] = {}
        params: dict[str, Point] = {}
        for run in ordered:
            for key, value in run.metrics.items():
                metrics.setdefault(key, Point(run, value))
            for key, text in run.params.items():
                params.setdefault(key, Point(run, text))
        return cls(tuple(ordered), metrics, params)

    def last(self, kind: str, key: str) -> Point | None:
        return (self.last_metrics if kind == "metric" else self.last_params).get(key)

    def series(self, kind: str, key: str) -> list[Point]:
        """Every run, newest first, with its value of the key (None where it has none)."""
        if kind == "metric":
            return [Point(r, r.metrics.get(key)) for r in self.runs]
        return [Point(r, r.params.get(key)) for r in self.runs]

    def best(self, metric: str) -> RunInfo | None:
        """The best FINISHED run by a metric (`best_run.py`); on a tie, the newest."""
        if metric not in self._best:
            tied = best_runs(self.runs, metric)  # newest first, as self.runs
            self._best[metric] = tied[0] if tied else None
        return self._best[metric]

    def hint_values(self) -> tuple[dict[str, Point], dict[str, Point]]:
        return self.last_metrics, self.last_params


@dataclass
class _Entry:
    runs: ScriptRuns | None = None
    fresh: bool = False  # no run of the script ended since `runs` was read
    task: asyncio.Task[None] | None = None
    version: int = 0  # bumped when a run ends
    failed_at: float | None = None  # time.monotonic() of the last failed load
    started_at: float = 0.0  # time.monotonic() when the last load started


class RunHistory:
    """Per-script runs, loaded once on first need, reloaded when a run of the script ends;
    and, in `latest`, the short newest-first list the lenses show."""

    def __init__(
        self,
        load: Loader,
        on_change: Callable[[str], None] | None = None,
        load_latest: LatestLoader | None = None,
    ) -> None:
        self._load = load
        self.on_change = on_change
        self._entries: dict[str, _Entry] = {}
        self.latest = LatestRuns(load_latest or (lambda script, _limit: load(script)))

    def known(self, script: str) -> ScriptRuns | None:
        """What is cached (perhaps from before the last run), never waiting; starts a load
        when there is nothing fresh."""
        self.ensure(script)
        entry = self._entries.get(script)
        return entry.runs if entry else None

    async def fresh(self, script: str, timeout: float) -> ScriptRuns | None:
        """Fresh runs, waiting for a load until `timeout` seconds after it started; else what
        is known. A load that outlasts that (a sign-in) makes no later request wait."""
        task = self.ensure(script)
        entry = self._entries[script]
        if task is not None:
            left = timeout - (time.monotonic() - entry.started_at)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), max(left, 0.0))
        return self.known(script)

    def loading(self, script: str) -> bool:
        entry = self._entries.get(script)
        return entry is not None and entry.task is not None

    def ensure(self, script: str) -> asyncio.Task[None] | None:
        """The load in flight for the script, started if its runs are missing or stale; None
        when they are fresh, or a load failed a moment ago."""
        entry = self._entries.setdefault(script, _Entry())
        if entry.task is not None:
            return entry.task
        if entry.fresh:
            return None
        if entry.failed_at is not None and time.monotonic() - entry.failed_at < RETRY_AFTER_S:
            return None
        entry.started_at = time.monotonic()
        entry.task = asyncio.ensure_future(self._fill(script, entry, entry.version))
        return entry.task

    def run_ended(self, script: str) -> None:
        """A run of the script ended: reload it now if anyone asked for it before."""
        self.latest.forget(script)
        entry = self._entries.get(script)
        if entry is None:
            return
        entry.version += 1
        entry.fresh, entry.failed_at = False, None
        self.ensure(script)

    def clear(self) -> None:
        """Settings changed (another store): forget every script's runs and read again those
        someone asked for; loads in flight are ignored."""
        self.latest.forget()
        old, self._entries = self._entries, {}
        for script, entry in old.items():
            new = self._entries[script] = _Entry(started_at=time.monotonic())
            new.task = asyncio.ensure_future(self._fill(script, new, 0, entry.runs))

    async def _fill(
        self, script: str, entry: _Entry, version: int, shown: ScriptRuns | None = None
    ) -> None:
        """Loads; `shown` is what hints showed, when not `entry.runs` (after `clear`)."""
        try:
            runs = ScriptRuns.of(await self._load(script))
        except Exception as exc:  # a LensflowError (notSignedIn, unreachable, …) or worse
            log.info("runs of %s not loaded: %s", script, exc)
            entry.task, entry.failed_at = None, time.monotonic()
            if shown is not None and self._entries.get(script) is entry:
                self._changed(script, shown, None)  # hints of the old store must go
            return
        except asyncio.CancelledError:
            entry.task = None
            raise
        entry.task = None
        if self._entries.get(script) is not entry:
            return  # cleared meanwhile: these runs came from the store we no longer use
        before, entry.runs = entry.runs or shown, runs
        entry.failed_at = None
        entry.fresh = entry.version == version
        if not entry.fresh:
            self.ensure(script)  # a run ended while we read: read again
        self._changed(script, before, runs)

    def _changed(self, script: str, before: ScriptRuns | None, after: ScriptRuns | None) -> None:
        empty: tuple[dict[str, Point], dict[str, Point]] = ({}, {})
        old = before.hint_values() if before is not None else empty
        new = after.hint_values() if after is not None else empty
        if self.on_change is not None and old != new:
            try:
                self.on_change(script)
            except Exception:
                log.exception("on_change failed for %s", script)
