"""Running blocking SDK calls off the event loop, within deadlines; waiting on long operations.

A call that outlives its deadline is abandoned (a thread cannot be killed; its pool is small and
private, so it cannot starve the server) and answered `unreachable`. No command spends more than
`COMMAND_BUDGET_S` on calls that fail.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

from lensflow_protocol.errors import LensflowError

from .errors import deadline_error, map_error
from .interface import Tracking

log = logging.getLogger(__name__)
T = TypeVar("T")

CALL_TIMEOUT_S = 45.0
COMMAND_BUDGET_S = 55.0
TRACKING_MAX_AGE_S = 50 * 60.0
"""Azure's tracking token lives about an hour: children get one at most 50 minutes old."""
POLL_FAILURES = 3
CLOSE_WAIT_S = 5.0
"""How long closing a workspace waits for its background watchers to end."""


class DaemonPool(Executor):
    """A fixed pool of daemon threads. concurrent.futures' ThreadPoolExecutor joins its threads
    at interpreter exit: an abandoned call (past its deadline, or in flight at `shutdown`, an
    SDK still waiting out its retries) then held the server's exit for as long as it ran (7 s
    seen with no network). Daemon threads are not waited for: the process exits when asked."""

    def __init__(self, workers: int, name: str) -> None:
        self._workers, self._name = workers, name
        self._queue: queue.SimpleQueue[tuple[Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._shut = False

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            if self._shut:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future: Future[T] = Future()
            self._queue.put((future, lambda: fn(*args, **kwargs)))
            if len(self._threads) < self._workers:
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
            return future

    def _work(self) -> None:
        while (item := self._queue.get()) is not None:
            future, call = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:  # the caller's future carries it, as in the stdlib
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._shut = True
            threads = list(self._threads)
        if cancel_futures:
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not None:
                    item[0].cancel()
        for _ in threads:
            self._queue.put(None)
        if wait:
            for thread in threads:
                thread.join()


class SdkCalls:
    """Runs SDK calls in a private thread pool, each under a deadline, errors mapped."""

    def __init__(self, call_timeout_s: float = CALL_TIMEOUT_S, workers: int = 4) -> None:
        self.call_timeout_s = call_timeout_s
        self._pool = DaemonPool(workers, "lensflow-azureml")

    def budget(self, seconds: float = COMMAND_BUDGET_S) -> float:
        """The monotonic time by which a command's calls must have answered."""
        return time.monotonic() + seconds

    async def __call__(self, doing: str, fn: Callable[[], T], until: float | None = None) -> T:
        timeout = self.call_timeout_s
        if until is not None:
            timeout = max(0.0, min(timeout, until - time.monotonic()))
        future = asyncio.get_running_loop().run_in_executor(self._pool, fn)
        try:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a cancel that lands
            # as the call completes (CPython gh-86296), and a watcher polling through here then
            # outlived its cancel and held `close()` for ever.
            async with asyncio.timeout(timeout):
                return await future
        except TimeoutError:
            raise deadline_error(doing, timeout) from None
        except LensflowError:
            raise
        except Exception as exc:
            log.info("azureml call failed while trying to %s", doing, exc_info=True)
            raise map_error(exc, doing) from exc

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


async def cancel_all(tasks: Iterable[asyncio.Task[Any]], within_s: float = CLOSE_WAIT_S) -> None:
    """Cancels `tasks` and waits for them to end, `within_s` at most: a close must not hang.

    A task that caught its cancel (code awaiting `asyncio.wait_for` on Python 3.11 can lose one)
    is cancelled again; one still running at the deadline is logged and left behind.
    """
    pending = set(tasks)
    deadline = time.monotonic() + within_s
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - time.monotonic()
        if left <= 0:
            log.warning("%d background task(s) did not end when cancelled", len(pending))
            return
        done, pending = await asyncio.wait(pending, timeout=min(left, 0.5))
        for task in done:  # their errors were logged where they matter: retrieve, drop
            if not task.cancelled():
                task.exception()


async def poll(
    fetch: Callable[[], Awaitable[T]],
    settled: Callable[[T], bool],
    changed: Callable[[T], None],
    interval_s: float,
    cancel: asyncio.Event | None = None,
) -> T | None:
    """Fetches until `settled`; None when `cancel` is set first (the cloud goes on regardless).

    A fetch that fails `POLL_FAILURES` times in a row raises its (domain) error.
    """
    failures = 0
    while True:
        try:
            current = await fetch()
        except LensflowError:
            failures += 1
            if failures >= POLL_FAILURES:
                raise
        else:
            failures = 0
            changed(current)
            if settled(current):
                return current
        if cancel is None:
            await asyncio.sleep(interval_s)
            continue
        try:
            await asyncio.wait_for(cancel.wait(), interval_s)
        except TimeoutError:
            continue
        return None


class TrackingCache:
    """The tracking URI and token training children get, fetched anew when 50 minutes old."""

    def __init__(
        self,
        fetch: Callable[[], Awaitable[Tracking]],
        clock: Callable[[], float] = time.monotonic,
        max_age_s: float = TRACKING_MAX_AGE_S,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self.max_age_s = max_age_s
        self._value: Tracking | None = None
        self._at = 0.0
        self._lock = asyncio.Lock()

    @property
    def current(self) -> Tracking | None:
        return self._value

    def fresh(self) -> bool:
        return self._value is not None and self._clock() - self._at < self.max_age_s

    async def get(self) -> Tracking:
        async with self._lock:
            if self._value is None or not self.fresh():
                value = await self._fetch()
                self._value, self._at = value, self._clock()
            return self._value
