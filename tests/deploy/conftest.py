"""Fixtures for the local cluster tests: a home with awkward characters, and a guard that no
supervisord or uvicorn started by a test outlives it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from lensflow.processes import kill_pids, pid_alive
from lensflow.workspaces.local.deployments import LocalDeployments

SEEN: list[int] = []  # every supervisord / service pid a test started


def processes_of(home: Path) -> list[int]:
    """Live processes started for `home`: supervisords (their config is under it) and services
    (their environment names a config under it)."""
    needle = str(home.resolve()).encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            pid = int(proc.name)
            if pid == os.getpid() or not pid_alive(pid):
                continue
            seen = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
            if needle in seen:
                found.append(pid)
        except (OSError, ValueError):
            continue
    return found


@pytest.fixture
def home(tmp_path: Path) -> Path:
    # A space and a % sign: both need quoting in supervisor configs.
    return tmp_path / "lens flow 100%"


def finish(deployments: LocalDeployments, home: Path) -> None:
    """Cleans up everything under `home`, then asserts no process of it is left."""
    SEEN.extend(processes_of(home))
    try:
        deployments.clean_up(all=True)
    finally:
        left = processes_of(home)
        kill_pids(left, grace=1.0)  # never leave a process behind, even when the test fails
    assert left == [], f"processes outlived clean_up: {left}"


@pytest.fixture
def deployments(home: Path) -> Iterator[LocalDeployments]:
    local = LocalDeployments(home)
    yield local
    finish(local, home)


@pytest.fixture(scope="session", autouse=True)
def nothing_outlives_the_tests() -> Iterator[None]:
    yield
    alive = [pid for pid in SEEN if pid_alive(pid)]
    kill_pids(alive, grace=1.0)
    assert alive == [], f"supervisord/uvicorn processes outlived the tests: {alive}"
