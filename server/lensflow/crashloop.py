"""Kubernetes' CrashLoopBackOff for a local service: restart forever, waiting longer each time.

supervisord's own retries are linear and end in FATAL, for good; a Kubernetes pod instead
restarts its crashed container at once, then after a back-off that doubles on each further
crash up to 5 min, and forgets the crashes once a run has lasted 10 min. The service's launcher
(`workspaces/local/supervisor.py`, started by supervisord on every start) keeps that count in
`crashloop.json` in the service's folder and sleeps the back-off before it execs uvicorn;
supervisord itself restarts the launcher at once, so it never gives up. The live state reads the
same file. Standard library only: the launcher imports it before every start.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

FIRST_S = 1.0  # Kubernetes starts at 10 s; a local cluster need not wait that long
CAP_S = 300.0
RESET_S = 600.0
FILE = "crashloop.json"
SERVED = "crashloop.served"  # the launch last seen answering /ping (written by the live state)


@dataclass(frozen=True)
class Launch:
    """One start of the program: the crashes in a row before it, and when it runs."""

    launch: int  # 1 for the first start of the service, +1 on each restart
    crashes: int  # in a row, since the last run that lasted RESET_S
    started: float  # wall clock: when supervisord started the launcher
    runs_at: float  # wall clock: when the back-off ends and the program runs

    @property
    def delay(self) -> float:
        return self.runs_at - self.started


def delay(crashes: int) -> float:
    """The back-off before a restart: none after the first crash, then 1 s, 2 s, 4 s… ≤ 5 min."""
    return 0.0 if crashes <= 1 else min(FIRST_S * 2 ** (crashes - 2), CAP_S)


def read(folder: Path) -> Launch | None:
    try:
        data = json.loads((folder / FILE).read_text(encoding="utf-8"))
        return Launch(**{k: data[k] for k in ("launch", "crashes", "started", "runs_at")})
    except (OSError, ValueError, KeyError, TypeError):
        return None  # no start yet, or a file a crash cut short: counted afresh


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)  # whole or not at all: readers never see half a file
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def next_launch(folder: Path, now: float | None = None) -> Launch:
    """Records this start. Every start but the first follows an exit of the program (supervisord
    restarts it only then), so it counts as a crash, unless the run before lasted RESET_S."""
    now = time.time() if now is None else now
    last = read(folder)
    if last is None:
        crashes = 0
    elif now - last.runs_at >= RESET_S:
        crashes = 1
    else:
        crashes = last.crashes + 1
    launch = Launch((last.launch if last else 0) + 1, crashes, now, now + delay(crashes))
    _write(folder / FILE, json.dumps(asdict(launch)))
    return launch


def served(folder: Path) -> None:
    """The current launch answered /ping: a later silence of it is no crash loop (Unhealthy)."""
    launch = read(folder)
    if launch is None or launch.crashes < 2:
        return
    with contextlib.suppress(OSError):
        if (folder / SERVED).read_text(encoding="utf-8") == str(launch.launch):
            return
    with contextlib.suppress(OSError):
        _write(folder / SERVED, str(launch.launch))


def backing_off(folder: Path, name: str, now: float | None = None) -> str | None:
    """Why the service is in CrashLoopBackOff, or None when it is not: it crashed twice or more
    in a row and its current launch has not answered /ping yet. The words change only with a
    new crash, so the monitor reports each crash once."""
    launch = read(folder)
    now = time.time() if now is None else now
    if launch is None or launch.crashes < 2 or now - launch.runs_at >= RESET_S:
        return None
    with contextlib.suppress(OSError):
        if (folder / SERVED).read_text(encoding="utf-8") == str(launch.launch):
            return None
    at = time.strftime("%H:%M:%S", time.gmtime(launch.runs_at))
    return (
        f"Service {name} crashed {launch.crashes} times in a row (CrashLoopBackOff): it restarts "
        f"at {at} UTC, after a back-off of {launch.delay:.0f} s (doubled on each crash up to "
        f"{CAP_S / 60:.0f} min, forgotten after {RESET_S / 60:.0f} min of running). "
        "lensflow.getServiceLogs tells why it crashed."
    )
