"""Running node and npm for the client samples' tests: one way, with one failure message."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

SCHEMA = REPO / "protocol" / "lensflow_protocol" / "lensflow.schema.json"


def tool(name: str) -> str:
    """The path of `node` or `npm`; the test fails (never skips) when it is missing."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} must be on PATH for the client samples' tests "
            "(scripts/test.sh installs Debian's nodejs and npm when missing)",
            pytrace=False,
        )
    return found


def run(cmd: list[str], cwd: Path, timeout: float, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        cmd,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "npm_config_update_notifier": "false", "NO_COLOR": "1", **env},
    )


def check(done: subprocess.CompletedProcess[str], what: str) -> None:
    assert done.returncode == 0, f"{what} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
