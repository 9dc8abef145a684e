"""Installed as `sitecustomize` (PYTHONPATH) into every Python process of a test's server: the
server, its store worker, training runs, supervisord, the launcher and uvicorn. It appends one
JSON line per process start (sys.audit events) to $LENSFLOW_AUDIT_LOG, so a test can see every
program Lensflow, or a library under it, starts, and how."""

from __future__ import annotations

import json
import os
import sys
from typing import Any

_LOG = os.environ.get("LENSFLOW_AUDIT_LOG")
# event -> (index of the executable, index of argv) in the event's arguments
_EVENTS = {
    "subprocess.Popen": (0, 1),
    "os.exec": (0, 1),
    "os.posix_spawn": (0, 1),
    "os.spawn": (1, 2),
    "os.system": (None, 0),
    "os.startfile": (0, None),
    "pty.spawn": (None, 0),
}


def _text(value: Any) -> str:
    return os.fsdecode(value) if isinstance(value, str | bytes | os.PathLike) else repr(value)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    where = _EVENTS.get(event)
    if where is None or not _LOG:
        return
    try:
        exe = None if where[0] is None else args[where[0]]
        argv = None if where[1] is None else args[where[1]]
        if isinstance(argv, list | tuple):
            argv = [_text(a) for a in argv]
        elif argv is not None:
            argv = [_text(argv)]
        line = {
            "pid": os.getpid(),
            "process": [_text(a) for a in sys.argv[:3]],
            "event": event,
            "exe": None if exe is None else _text(exe),
            "argv": argv,
        }
        fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(line) + "\n").encode())
        finally:
            os.close(fd)
    except Exception:  # an audit hook must never break the program it watches
        pass


sys.addaudithook(_hook)
