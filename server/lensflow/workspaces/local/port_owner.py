"""Who holds a service's port: its key goes only to its own process, never to whatever took
the port after the service stopped (any local program may bind a free port).

The sockets that would take a connection to 127.0.0.1:<port> (listeners.py) are looked for, by
inode, among the open files of the program's process tree in /proc: the program's pid first
(uvicorn's master holds its socket), its descendants only if need be (a scan of every
process's stat). Linux only, standard library only; under a millisecond for a service.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ...process_tree import descendants
from .listeners import listening


def sockets_of(pid: int) -> set[int]:
    """Inodes of the sockets `pid` has open; empty if it is gone or not ours to look at."""
    folder = f"/proc/{pid}/fd"
    inodes = set()
    try:
        fds = os.listdir(folder)
    except OSError:
        return set()
    for fd in fds:
        try:
            target = os.readlink(f"{folder}/{fd}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


@dataclass(frozen=True)
class PortHolder:
    listening: bool  # something listens where a connection to 127.0.0.1:port lands
    owned: bool  # and every such socket is open in the program's process tree


def holder(pid: int, port: int) -> PortHolder:
    """Whether program `pid` (or a process below it) holds every listener of 127.0.0.1:port."""
    inodes = listening(port)
    if not inodes:
        return PortHolder(listening=False, owned=False)
    missing = inodes - sockets_of(pid)
    for child in descendants(pid) if missing else []:
        missing -= sockets_of(child)
        if not missing:
            break
    return PortHolder(listening=True, owned=not missing)


def describe_holder(port: int) -> str:
    """Who else listens on the port, for a person to act on: "pid N (command)", if this user
    may see it. Scans every process: for error messages only."""
    inodes = listening(port)
    for entry in os.scandir("/proc"):
        if entry.name.isdigit() and sockets_of(int(entry.name)) & inodes:
            try:
                argv = Path(f"/proc/{entry.name}/cmdline").read_bytes().split(b"\0")
            except OSError:
                argv = []
            command = " ".join(a.decode(errors="replace") for a in argv if a)[:120]
            return f"pid {entry.name} ({command})" if command else f"pid {entry.name}"
    return "a process of another user"
