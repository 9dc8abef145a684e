"""The `python` setting checked before anything is spawned with it: a path that is no
interpreter is the user's to fix, so it is a domain error naming the path, not a crash."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from lensflow_protocol.errors import InvalidPath, NotFound

_FIX = "fix the `python` setting"


def check_interpreter(python: str) -> None:
    """NotFound when `python` names nothing; InvalidPath when it names a folder or a file
    this user cannot execute (say, /etc/passwd)."""
    found = shutil.which(python) if os.sep not in python else python
    path = Path(found or python)
    if found is None or not path.exists():
        raise NotFound(
            f"The training interpreter {python!r} does not exist; {_FIX}.", python=python
        )
    if path.is_dir():
        raise InvalidPath(
            f"The training interpreter {python!r} is a folder, not a Python executable; {_FIX}.",
            path=python,
        )
    if not os.access(path, os.X_OK):
        raise InvalidPath(
            f"The training interpreter {python!r} is not an executable file; {_FIX}.",
            path=python,
        )


def cannot_start(python: str, exc: OSError) -> InvalidPath:
    """What spawning `python` raised (an executable that is no program: ENOEXEC, say)."""
    return InvalidPath(
        f"The training interpreter {python!r} cannot be started ({exc.strerror or exc}); {_FIX}.",
        path=python,
    )
