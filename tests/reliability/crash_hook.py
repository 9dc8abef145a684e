"""Installed as `sitecustomize` (PYTHONPATH) into a test's server: the process kills itself with
SIGKILL the moment it opens a file whose path holds $LENSFLOW_TEST_CRASH_AT. A real crash at an
exact point of the server's work, with nothing in Lensflow itself to make it happen."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

_AT = os.environ.get("LENSFLOW_TEST_CRASH_AT")


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event != "open" or not _AT or not isinstance(args[0], str | bytes | os.PathLike):
        return
    if _AT in os.fsdecode(args[0]):
        os.kill(os.getpid(), signal.SIGKILL)


if _AT:
    sys.addaudithook(_hook)
