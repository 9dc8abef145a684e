"""A run's whole process tree, beyond its process group: Linux's child subreaper and /proc.

A process group misses what leaves it: a daemon started with `start_new_session=True`, or the
grandchild of a double fork, which init adopts once its parent dies. A leader that
`adopt_orphans` adopts them instead, so walking /proc down from it (`descendants`) finds every
process started under it, whatever group or session; `end_descendants` and `kill_descendants`
end them all, again and again until none is left.

Standard library only and nothing of Lensflow's: `run_bootstrap.py`, run by the *training*
interpreter, loads this file by path, and `processes.py` imports it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from pathlib import Path

KILL_WAIT_S = 2.0  # how long SIGKILL gets to take effect before survivors are reported


def stat_fields(proc: Path) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and
    parentheses): state first, then ppid, pgrp, …"""
    return (proc / "stat").read_text(errors="replace").rsplit(")", 1)[-1].split()


def _prctl(option: int, value: int) -> bool:
    """Linux's prctl(2); False where there is none, or it refuses."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes  # here: only the processes that set an option pay for it

        return int(ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Linux: `sig` comes to this process when its parent dies, even by SIGKILL."""
    return _prctl(1, sig)  # PR_SET_PDEATHSIG


def adopt_orphans() -> bool:
    """Linux: makes this process a child subreaper. A process below it whose parent dies is
    reparented here, not to init, so `descendants` still finds it. The cost: such orphans stay
    zombies until this process ends, since reaping any child would steal the exit status of a
    child the code running here waits for."""
    return _prctl(36, 1)  # PR_SET_CHILD_SUBREAPER


def descendants(root: int) -> list[int]:
    """Live processes below `root`: its children, theirs, and so on (zombies hold nothing).
    Empty where there is no /proc."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = stat_fields(proc)
        except OSError:
            continue
        if fields[0] not in ("Z", "X"):
            children.setdefault(int(fields[1]), []).append(int(proc.name))
    found: list[int] = []
    below = [root]
    while below:
        kids = children.get(below.pop(), [])
        found += kids
        below += kids
    return found


def _send(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_descendants(root: int, timeout: float = KILL_WAIT_S) -> list[int]:
    """SIGKILL every descendant of `root`, again until none is left: the orphans of one that
    dies move up to `root` (when it adopts orphans) and turn up in the next walk. Returns those
    still running after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while (left := descendants(root)) and time.monotonic() < deadline:
        _send(left, signal.SIGKILL)
        time.sleep(0.01)
    return left


def end_descendants(root: int, grace: float) -> list[int]:
    """SIGTERM every descendant of `root`; those still running after `grace` seconds (and any
    that appeared meanwhile) get SIGKILL. Returns the survivors of SIGKILL."""
    _send(descendants(root), signal.SIGTERM)
    deadline = time.monotonic() + grace
    while descendants(root) and time.monotonic() < deadline:
        time.sleep(0.02)
    return kill_descendants(root)
