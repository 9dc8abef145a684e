"""Installs that scripts/test.sh runs in the background while lint, type-check and the suite
start: `vscode-workbench` (code-server and the extension's .vsix, for
tests/clients/test_vscode_workbench.py), `postman` (the `npm ci` of tests/clients/postman, for
tests/scoring/test_postman.py), `system-packages` (Debian's Neovim, Emacs, Chromium and
PostgreSQL, for the editor set-ups, the browser tests and tests/team). Each job NAME keeps, in
.cache/setup-jobs/: NAME.pid while it runs, NAME.log (its output), and NAME.status (its exit
status) once it is done.

A test that needs a job's install calls `wait_for(NAME)` first: it returns once the job
succeeded, and fails the test (never skips it) with the end of the job's log when the job
failed, died, or did not finish in time. With no such job (pytest run by hand, not by
scripts/test.sh), it returns at once and the test's own checks say what is missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.conftest import REPO

JOBS = REPO / ".cache" / "setup-jobs"


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _shown(path: Path) -> str:
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def _log_tail(log: Path, lines: int = 60) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return f"(no log at {log})"


def wait_for(name: str, timeout: float = 1200) -> None:
    """Waits for scripts/test.sh's background job `name`; fails the test if it did not succeed."""
    pid_file, status_file, log = (JOBS / f"{name}.{ext}" for ext in ("pid", "status", "log"))
    if not pid_file.exists() and not status_file.exists():
        return
    deadline = time.monotonic() + timeout
    while not status_file.exists():
        try:
            pid = int(pid_file.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if not (pid and _alive(pid)) and not status_file.exists():
            pytest.fail(
                f"the background install '{name}' (scripts/test.sh) ended without a status; "
                f"the end of {_shown(log)}:\n{_log_tail(log)}",
                pytrace=False,
            )
        if time.monotonic() > deadline:
            pytest.fail(
                f"the background install '{name}' (scripts/test.sh) still runs after "
                f"{timeout:.0f} s; the end of {_shown(log)}:\n{_log_tail(log)}",
                pytrace=False,
            )
        time.sleep(0.5)
    status = status_file.read_text().strip()
    if status != "0":
        pytest.fail(
            f"the background install '{name}' (scripts/test.sh) failed (exit status {status}); "
            f"the end of {_shown(log)}:\n{_log_tail(log)}",
            pytrace=False,
        )
