"""Every process the server starts ends when asked, and with the server: one home for that.

- A registry of the process groups the server started (training runs, `mlflow server`), and
  `kill_all`, run at exit, that SIGKILLs every group still registered, whoever started it.
- Signal escalation: SIGTERM, a grace, then SIGKILL, for a process group (`stop_group`,
  async: it runs on the server's loop) and for a list of pids (`kill_pids`, blocking).
- For a group whose leader adopts orphans (`process_tree.py`), its leader's whole tree too.
- The /proc helpers that tell what is still running, `tail_file` and `free_port`.

Standard library only, and no asyncio at import: the supervisord launcher
(`workspaces/local/supervisor.py` run as a script) imports this module before every service start.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Collection, Sequence
from pathlib import Path

from .process_tree import KILL_WAIT_S, kill_descendants
from .process_tree import stat_fields as _stat

log = logging.getLogger(__name__)

# pgid → for a tree (its leader adopts orphans), the leader's start time, which tells it from a
# process that reuses its pid; None for a group alone.
_LIVE_GROUPS: dict[int, int | None] = {}


def register_group(pgid: int, tree: bool = False) -> None:
    """Records a process group the server started: `kill_all` ends it at exit unless it is
    unregistered first. `tree`: its leader adopts orphans, and every descendant ends too."""
    kill_at_exit()
    _LIVE_GROUPS[pgid] = _started_at(pgid) if tree else None


def unregister_group(pgid: int) -> None:
    _LIVE_GROUPS.pop(pgid, None)


@functools.cache
def kill_at_exit() -> None:
    """Arranges `kill_all` at interpreter exit, once; the first registration does it too, so
    an embedding that never runs `__main__` is covered."""
    atexit.register(kill_all)


def kill_all() -> None:
    """Last resort at exit, with no loop left to wait on: SIGKILL every registered group, so no
    process the server started outlives it unasked."""
    for pgid, start in list(_LIVE_GROUPS.items()):
        # Descendants first, while the leader still holds the orphans of those that die.
        if start is not None and _started_at(pgid) == start:
            kill_descendants(pgid)
        signal_group(pgid, signal.SIGKILL)
    _LIVE_GROUPS.clear()


def signal_group(pgid: int, sig: int) -> None:
    """Sends `sig` to a process group; a group already gone is no error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


async def stop_group(
    pgid: int, grace: float, stopped: Callable[[], bool] | None = None, tree: bool = False
) -> list[int]:
    """SIGTERM the group; once `stopped()` is true (by default: no member is left) or after
    `grace` seconds, SIGKILL whatever is left of it. Returns the pids that survived SIGKILL.
    `tree`: the leader adopts orphans; a leader still running when the grace is over has its
    descendants (in any group or session) killed before it."""
    import asyncio  # here, not at the top: the launcher that imports this module starts fast

    def gone() -> bool:
        return not group_members(pgid)

    async def until(done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return done()

    signal_group(pgid, signal.SIGTERM)
    if not await until(stopped or gone, grace):
        log.info("process group %d still ran %.0f s after SIGTERM: SIGKILL", pgid, grace)
        if tree:
            await asyncio.to_thread(kill_descendants, pgid)
    # Always: a leader that obeyed may leave children behind in its group.
    signal_group(pgid, signal.SIGKILL)
    await until(gone, KILL_WAIT_S)
    return group_members(pgid)


def kill_pids(pids: Sequence[int], grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL what is still there after `grace` seconds."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, KILL_WAIT_S)):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        if wait_gone(pids, wait):
            return
    log.warning("processes %s survived SIGKILL", [p for p in pids if pid_alive(p)])


def started_at(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (stat field 22), which tells a
    reused pid from the one that was; None when no such process runs. Raises OSError
    where there is no /proc."""
    try:
        fields = _stat(Path(f"/proc/{pid}"))
    except FileNotFoundError:
        return None
    return None if fields[0] in ("Z", "X") else int(fields[19])


def _started_at(pid: int) -> int | None:
    try:
        return started_at(pid)
    except OSError:
        return None


def boot_id() -> str:
    """This boot of the machine: a pid from another boot is surely gone."""
    return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()


def pid_namespace() -> str:
    """The pid namespace we run in: a pid from another one means nothing here."""
    return os.readlink("/proc/self/ns/pid")


def pid_alive(pid: int) -> bool:
    """True while `pid` runs; a zombie nobody reaped counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = _stat(Path(f"/proc/{pid}"))[0]
    except OSError:
        return not Path("/proc").is_dir()  # no /proc (not Linux): kill(0) is all we know
    return state != "Z"


def wait_gone(pids: Sequence[int], timeout: float) -> bool:
    """Waits until none of `pids` runs; False if one still does after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while any(pid_alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def group_members(pgid: int) -> list[int]:
    """Live processes of a process group (zombies hold nothing: they count as gone)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = _stat(proc)
        except OSError:
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(proc.name))
    return found


def pids_with_env(entry: str) -> list[int]:
    """Processes whose environment holds `entry` (NAME=VALUE): a program and all its children."""
    wanted, found = entry.encode(), []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if wanted in (proc / "environ").read_bytes().split(b"\0"):
                found.append(int(proc.name))
        except (OSError, ValueError):
            continue
    return [pid for pid in found if pid != os.getpid()]


def tail_file(path: Path, lines: int) -> list[str]:
    """The last `lines` lines of a text file (empty if it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            start = size
            data = b""
            # Read back in blocks until enough lines are in: a big log is never read whole.
            while start > 0 and data.count(b"\n") <= lines:
                start = max(0, start - 65536)
                handle.seek(start)
                data = handle.read(size - start)
    except FileNotFoundError:
        return []
    return data.decode("utf-8", "replace").splitlines()[-lines:]


def free_port(taken: Collection[int] = ()) -> int:
    """A port free on 127.0.0.1 now and not in `taken` (ports recorded for services that may be
    down for now, and would clash when they come back)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if port not in taken:
            return port
