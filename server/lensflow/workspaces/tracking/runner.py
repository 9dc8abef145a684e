"""Starts a training script under `run_bootstrap.py` and follows it to the end.

Domain code: it knows processes and pipes, not LSP. Output goes to a callback as it arrives;
a cancel event kills the script's whole process group (SIGTERM, then SIGKILL after a grace).
The bootstrap adopts orphans (`process_tree.py`): a process the script started in a session of
its own is still its descendant, and is killed with the rest.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import signal
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ...process_tree import kill_descendants
from ...processes import register_group, signal_group, stop_group, unregister_group
from .events import EndedEvent, StartedEvent, parse

log = logging.getLogger(__name__)

BOOTSTRAP = Path(__file__).with_name("run_bootstrap.py")
TAIL_LINES = 40
GRACE_S = 3.0

OutputSink = Callable[[str, str], None]
"""Called with (stream, text) for each chunk of the script's output."""
StartedSink = Callable[[StartedEvent], None]


@dataclass
class RunOutcome:
    started: StartedEvent | None = None
    ended: EndedEvent | None = None
    error: str | None = None
    exit_code: int | None = None
    cancelled: bool = False
    duration_s: float = 0.0
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))

    @property
    def output_tail(self) -> str:
        return "".join(self.tail)


@dataclass(frozen=True)
class RunRequest:
    python: str
    script: Path
    args: Sequence[str]
    env: Mapping[str, str]


class _TailKeeper:
    """Keeps the last lines of combined output without holding all of it."""

    def __init__(self, tail: deque[str]) -> None:
        self._tail = tail
        self._partial = ""

    def feed(self, text: str) -> None:
        lines = (self._partial + text).splitlines(keepends=True)
        self._partial = lines.pop() if lines and not lines[-1].endswith("\n") else ""
        self._tail.extend(lines)

    def flush(self) -> None:
        if self._partial:
            self._tail.append(self._partial + "\n")
            self._partial = ""


async def _pump(
    reader: asyncio.StreamReader, stream: str, sink: OutputSink, keeper: _TailKeeper
) -> None:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while chunk := await reader.read(65536):
        text = decoder.decode(chunk)
        if text:
            keeper.feed(text)
            sink(stream, text)
    if rest := decoder.decode(b"", final=True):
        keeper.feed(rest)
        sink(stream, rest)


async def _read_control(read_fd: int, outcome: RunOutcome, on_started: StartedSink) -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
    )
    try:
        while line := await reader.readline():
            event = parse(line)
            if event is None:
                continue
            if event["event"] == "started":
                outcome.started = event
                on_started(event)
            elif event["event"] == "ended":
                outcome.ended = event
            else:
                outcome.error = str(event.get("message", "unknown error"))
    finally:
        transport.close()


async def run_script(
    request: RunRequest,
    on_output: OutputSink,
    on_started: StartedSink,
    cancel: asyncio.Event,
) -> RunOutcome:
    """Run the script to its end, or until `cancel` is set; never raises for the script's faults."""
    outcome = RunOutcome()
    keeper = _TailKeeper(outcome.tail)
    read_fd, write_fd = os.pipe()
    env = {**request.env, "LENSFLOW_CONTROL_FD": str(write_fd), "PYTHONUNBUFFERED": "1"}
    started_at = time.monotonic()
    try:
        proc = await asyncio.create_subprocess_exec(
            request.python,
            "-u",
            str(BOOTSTRAP),
            str(request.script),
            *request.args,
            cwd=str(request.script.parent),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its own process group, so cancel reaches grandchildren
            pass_fds=(write_fd,),
        )
    except OSError:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    assert proc.stdout is not None and proc.stderr is not None
    readers = asyncio.gather(
        _pump(proc.stdout, "stdout", on_output, keeper),
        _pump(proc.stderr, "stderr", on_output, keeper),
        _read_control(read_fd, outcome, on_started),
    )
    register_group(proc.pid, tree=True)  # killed at exit if the server goes first
    exited = asyncio.ensure_future(proc.wait())
    cancelled = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({exited, cancelled}, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        # Our caller is going away (server exit): the script must not run on unwatched. The
        # descendants first, while the bootstrap holds the orphans of those that die.
        kill_descendants(proc.pid)
        signal_group(proc.pid, signal.SIGKILL)
        unregister_group(proc.pid)
        readers.cancel()
        raise
    if not exited.done():
        outcome.cancelled = True
        log.info("cancelling run: SIGTERM to process group %d", proc.pid)
        # The bootstrap's exit ends the grace: it ends what the script started and the MLflow
        # run; what is left in the group gets SIGKILL, and if the bootstrap is still running
        # then, its descendants in other sessions too.
        await stop_group(proc.pid, GRACE_S, stopped=exited.done, tree=True)
        await exited
    cancelled.cancel()
    unregister_group(proc.pid)
    outcome.exit_code = exited.result()
    try:
        await asyncio.wait_for(readers, 5.0)
    except TimeoutError:
        log.warning("output pipes still open after the script ended (a daemon child?)")
    keeper.flush()
    outcome.duration_s = time.monotonic() - started_at
    return outcome
