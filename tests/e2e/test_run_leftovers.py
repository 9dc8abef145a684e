"""A run leaves nothing running: processes its script started outside its process group (a
daemon in a session of its own, a double fork's orphan) end when the run is cancelled, when it
finishes, when the server shuts down and when the server is killed with -9.

The bootstrap adopts orphans (PR_SET_CHILD_SUBREAPER), so both stay its descendants."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from lsprotocol import types
from nbformat.v4 import new_code_cell, new_notebook
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.conftest import execute
from tests.e2e.test_cancel import alive, wait_dead, wait_for_output
from tests.reliability.support import forget, new_server, server_pid

# `daemon`: a child in a session of its own. `orphan`: started in a session of its own by a
# Python that exits at once, so its parent is gone and init (or a subreaper) adopts it.
START = """\
import subprocess, sys
daemon = subprocess.Popen(["sleep", "300"], start_new_session=True)
subprocess.run([sys.executable, "-c", "import subprocess; p = subprocess.Popen(['sleep', '301'], "
                "start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL); "
                "open('orphan.pid', 'w').write(str(p.pid))"], check=True)
open("daemon.pid", "w").write(str(daemon.pid))
"""
WAITING = START + 'print("ready", flush=True)\nimport time; time.sleep(120)\n'
DEAF = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN)\n" + WAITING


@pytest.fixture
def leftovers(project: Path) -> Iterator[list[int]]:
    """The pids the script wrote (read them once it said "ready"); whatever still runs at the
    end is killed, so a failing test leaves nothing behind either."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def read_pids(project: Path, pids: list[int]) -> list[int]:
    pids += [int((project / f"{name}.pid").read_text()) for name in ("daemon", "orphan")]
    assert all(alive(pid) for pid in pids)
    return pids


async def all_dead(pids: list[int], timeout: float = 5) -> bool:
    return all([await wait_dead(pid, timeout) for pid in pids])


async def test_cancel_request_ends_processes_in_sessions_of_their_own(
    client: LanguageClient, project: Path, leftovers: list[int]
) -> None:
    (project / "slow.py").write_text(WAITING)
    params = types.ExecuteCommandParams(
        command="lensflow.trackRun", arguments=[{"script": "slow.py"}]
    )
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="run")
    )
    await wait_for_output(client, "ready")
    read_pids(project, leftovers)

    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="run"))
    with pytest.raises(JsonRpcException):
        await asyncio.wait_for(pending, 30)
    assert await all_dead(leftovers), "a process the script started outlived the cancel"


async def test_cancel_of_a_script_deaf_to_sigterm_ends_them_too(
    client: LanguageClient, project: Path, leftovers: list[int]
) -> None:
    # The bootstrap never unwinds: the server's SIGKILL after the grace must reach them.
    (project / "deaf.py").write_text(DEAF)
    pending = asyncio.ensure_future(execute(client, "lensflow.trackRun", {"script": "deaf.py"}))
    await wait_for_output(client, "ready")
    read_pids(project, leftovers)

    (token,) = list(client.progress_reports)
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    result = await asyncio.wait_for(pending, 30)
    assert result["status"] == "KILLED"
    assert await all_dead(leftovers, 2), "SIGKILL of the group missed the run's other sessions"


async def test_a_finished_run_leaves_nothing_running(
    client: LanguageClient, project: Path, leftovers: list[int]
) -> None:
    (project / "quick.py").write_text(START + "print('done')\n")
    result = await execute(client, "lensflow.trackRun", {"script": "quick.py"})
    assert result["status"] == "FINISHED"
    # By the time trackRun answers, the bootstrap has ended them.
    leftovers += [int((project / f"{name}.pid").read_text()) for name in ("daemon", "orphan")]
    assert not [pid for pid in leftovers if alive(pid)], "the finished run left processes"


async def test_shutdown_ends_them(
    client: LanguageClient, project: Path, leftovers: list[int]
) -> None:
    (project / "slow.py").write_text(WAITING)
    pending = asyncio.ensure_future(execute(client, "lensflow.trackRun", {"script": "slow.py"}))
    await wait_for_output(client, "ready")
    read_pids(project, leftovers)

    client.shut_down = True  # type: ignore[attr-defined]
    await asyncio.wait_for(client.shutdown_async(None), 30)
    assert await all_dead(leftovers)
    pending.cancel()


async def test_server_killed_9_ends_them(project: Path, leftovers: list[int]) -> None:
    # The bootstrap's parent-death signal: it ends the run, and what the script started.
    (project / "slow.py").write_text(WAITING)
    client = await new_server(project)
    pending = asyncio.ensure_future(execute(client, "lensflow.trackRun", {"script": "slow.py"}))
    await wait_for_output(client, "ready")
    read_pids(project, leftovers)

    os.kill(server_pid(client), signal.SIGKILL)
    await forget(client, pending)
    assert await all_dead(leftovers, 10), "the script's processes outlived the server"


async def test_cancel_of_a_notebook_ends_what_its_kernel_started(
    client: LanguageClient, project: Path, leftovers: list[int]
) -> None:
    # The kernel is the bootstrap's child; the daemon its cell starts is killed with it.
    cell = START + 'print("ready", flush=True)\nimport time; time.sleep(120)\n'
    nbformat.write(new_notebook(cells=[new_code_cell(cell)]), project / "slow.ipynb")  # type: ignore[no-untyped-call]
    pending = asyncio.ensure_future(execute(client, "lensflow.trackRun", {"script": "slow.ipynb"}))
    await wait_for_output(client, "ready", timeout=120)
    read_pids(project, leftovers)

    (token,) = list(client.progress_reports)
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
    assert (await asyncio.wait_for(pending, 30))["status"] == "KILLED"
    assert await all_dead(leftovers), "a process the notebook started outlived the cancel"
