"""The Azure workspace's SDK call pool (`calls.DaemonPool` behind `SdkCalls`): calls answer and
fail as before, a call abandoned at its deadline is answered `unreachable`, and such a call,
still running, does not hold the process's exit (a real child interpreter, timed)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest
from lensflow.workspaces.azureml.calls import DaemonPool, SdkCalls
from lensflow_protocol.errors import LensflowError, Unreachable

from tests.conftest import REPO


async def test_calls_answer_and_fail_through_the_pool() -> None:
    calls = SdkCalls(call_timeout_s=5)
    try:
        assert await calls("add", lambda: 1 + 1) == 2
        names = {await calls("name", lambda: threading.current_thread().name) for _ in range(8)}
        assert names <= {f"lensflow-azureml_{i}" for i in range(4)}, names

        def boom() -> None:
            raise ValueError("boom")

        with pytest.raises(LensflowError):
            await calls("explode", boom)
    finally:
        calls.close()


async def test_a_call_past_its_deadline_is_unreachable() -> None:
    calls = SdkCalls(call_timeout_s=0.2)
    release = threading.Event()
    try:
        started = time.monotonic()
        with pytest.raises(Unreachable):
            await calls("wait", lambda: release.wait(30))
        assert time.monotonic() - started < 5
    finally:
        release.set()
        calls.close()


def test_shutdown_cancels_queued_calls_and_refuses_new_ones() -> None:
    pool = DaemonPool(1, "t")
    release = threading.Event()
    running = pool.submit(release.wait, 30)
    queued = pool.submit(lambda: "never")
    pool.shutdown(wait=False, cancel_futures=True)
    assert queued.cancelled()
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
    release.set()
    assert running.result(timeout=5) is True


EXIT_SCRIPT = """
import asyncio, time
from lensflow.workspaces.azureml.calls import SdkCalls

async def main():
    calls = SdkCalls(call_timeout_s=0.2)
    try:
        await calls("wait", lambda: time.sleep(60))
    except Exception as exc:
        print(type(exc).__name__, flush=True)
    calls.close()

asyncio.run(main())
"""


def test_an_abandoned_call_does_not_hold_the_exit() -> None:
    """Before the daemon pool, the interpreter joined the call's thread at exit: 60 s here."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True, timeout=60, cwd=REPO
    )
    took = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "Unreachable", done.stdout + done.stderr
    assert took < 20, took
