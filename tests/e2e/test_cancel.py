"""Cancelling a run: $/cancelRequest and progress cancel both kill the process group."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.conftest import execute, notes

SLOW = """\
import subprocess, sys, time, mlflow
mlflow.log_param("alpha", 0.5)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open("grandchild.pid", "w").write(str(child.pid))
print("ready", flush=True)
time.sleep(120)
"""


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purposes: it no longer runs.
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def wait_for_output(client: LanguageClient, needle: str, timeout: float = 60) -> str:
    async def poll() -> str:
        while True:
            for note in notes(client, "lensflow/runOutput"):
                if needle in note["text"]:
                    return str(note["runId"])
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(poll(), timeout)


async def wait_dead(pid: int, timeout: float = 10) -> bool:
    for _ in range(int(timeout / 0.1)):
        if not alive(pid):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_cancel_request_kills_group_and_marks_killed(
    client: LanguageClient, project: Path
) -> None:
    (project / "slow.py").write_text(SLOW)
    params = types.ExecuteCommandParams(
        command="lensflow.trackRun", arguments=[{"script": "slow.py"}]
    )
    pending = asyncio.ensure_future(
        client.protocol.send_request_async(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="run-1")
    )
    run_id = await wait_for_output(client, "ready")
    grandchild = int((project / "grandchild.pid").read_text())
    assert alive(grandchild)

    client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="run-1"))
    with pytest.raises(JsonRpcException) as caught:
        await asyncio.wait_for(pending, 30)
    assert caught.value.code == -32800  # RequestCancelled

    assert await wait_dead(grandchild), "the script's own child outlived the cancel"
    for _ in range(100):
        if any(u["status"] == "KILLED" for u in notes(client, "lensflow/runUpdated")):
            break
        await asyncio.sleep(0.1)
    run = await execute(client, "lensflow.getRun", {"runId": run_id})
    assert run["status"] == "KILLED"
    assert run["params"] == {"alpha": "0.5"}
    assert "outputs/std_log.txt" in run["artifacts"]
    # The server is still there and answers.
    assert (await execute(client, "lensflow.listRuns", {"script": "slow.py"}))["runs"]


async def test_progress_cancel_returns_killed_run(client: LanguageClient, project: Path) -> None:
    (project / "slow.py").write_text(SLOW)
    pending = asyncio.ensure_future(execute(client, "lensflow.trackRun", {"script": "slow.py"}))
    await wait_for_output(client, "ready")
    grandchild = int((project / "grandchild.pid").read_text())

    (token,) = list(client.progress_reports)
    begin = client.progress_reports[token][0]
    assert isinstance(begin, types.WorkDoneProgressBegin)
    assert begin.title == "Tracking slow.py" and begin.cancellable
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))

    result = await asyncio.wait_for(pending, 30)
    assert result["status"] == "KILLED"
    assert "run cancelled" in result["outputTail"]
    assert await wait_dead(grandchild)


async def test_failed_interpreter_is_a_domain_error(client: LanguageClient, project: Path) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"python": "/nonexistent/python"}})
    )
    with pytest.raises(JsonRpcException) as caught:
        await execute(client, "lensflow.trackRun", {"script": "train.py"})
    assert caught.value.code == -32001
    assert "does not exist" in caught.value.message
    assert caught.value.data["kind"] == "notFound"


async def test_shutdown_ends_runs_in_flight(client: LanguageClient, project: Path) -> None:
    (project / "slow.py").write_text(SLOW)
    pending = asyncio.ensure_future(execute(client, "lensflow.trackRun", {"script": "slow.py"}))
    run_id = await wait_for_output(client, "ready")
    grandchild = int((project / "grandchild.pid").read_text())

    client.shut_down = True  # type: ignore[attr-defined]
    await asyncio.wait_for(client.shutdown_async(None), 30)

    assert await wait_dead(grandchild)
    from mlflow.tracking import MlflowClient

    store = MlflowClient(tracking_uri=f"sqlite:///{project / '.lensflow' / 'mlflow.db'}")
    assert store.get_run(run_id).info.status == "KILLED"
    pending.cancel()
