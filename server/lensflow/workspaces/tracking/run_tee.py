"""Copies a run's fd 1 and 2 to its log file (`outputs/std_log.txt`) while passing them on.

Loaded by path from `run_bootstrap.py` in the *training* interpreter, so it imports nothing
from Lensflow: only the standard library. Working on the file descriptors, not `sys.stdout`, is
what captures the output of the script's subprocesses too.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading


class Tee:
    """Copies fd 1 and 2 to a log file while passing them on, so subprocesses are captured too."""

    def __init__(self, path: str) -> None:
        self._file = open(path, "wb")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._saved: dict[int, int] = {}
        self._threads: list[threading.Thread] = []
        for fd in (1, 2):
            read_end, write_end = os.pipe()
            self._saved[fd] = os.dup(fd)
            os.dup2(write_end, fd)
            os.close(write_end)
            thread = threading.Thread(target=self._pump, args=(read_end, self._saved[fd]))
            thread.daemon = True
            thread.start()
            self._threads.append(thread)

    def _pump(self, read_end: int, out: int) -> None:
        passing = True
        while chunk := os.read(read_end, 65536):
            view = memoryview(chunk)
            while passing and view:
                try:
                    view = view[os.write(out, view) :]
                except OSError:  # the server is gone; keep the log whole all the same
                    passing = False
            with self._lock:
                self._file.write(chunk)
        os.close(read_end)

    def close(self) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        for fd, saved in self._saved.items():
            os.dup2(saved, fd)  # drops our pipe's write end: the pump sees EOF
        for thread in self._threads:
            # A daemon the script left behind may hold the pipe open; don't wait on it forever.
            thread.join(timeout=2)
        with self._lock:
            self._file.close()
