"""Settings (home, trackingUri), the TCP transport, and MLflow's own UI reading our store."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import SERVER_COMMAND, error_of, execute, notes, record, start


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def lsp_client_with_home(
    lsp_client: LanguageClient, project: Path
) -> AsyncIterator[LanguageClient]:
    record(lsp_client)
    await start(lsp_client, project, home="state")
    yield lsp_client
    await lsp_client.shutdown_session()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_home_and_tracking_uri_settings(client: LanguageClient, project: Path) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"home": "state"}})
    )
    run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    assert run["status"] == "FINISHED"
    assert (project / "state" / "mlflow.db").exists()
    assert not (project / ".lensflow").exists()

    other = project / "team.db"
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"lensflow": {"home": "state", "trackingUri": f"sqlite:///{other}"}}
        )
    )
    elsewhere = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    assert elsewhere["status"] == "FINISHED"
    runs = await execute(client, "lensflow.listRuns", {"script": "train.py"})
    assert [r["runId"] for r in runs["runs"]] == [elsewhere["runId"]]  # the other store only
    assert other.exists()


async def test_track_run_against_a_stopped_tracking_server_fails_at_once(
    client: LanguageClient, project: Path
) -> None:
    """MLflow's own client retries a refused connection for about four minutes; a run that
    cannot start says so within seconds, names the server, and starts no training process."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"trackingUri": url}})
    )
    began = time.monotonic()
    try:
        down = await asyncio.wait_for(
            error_of(client, "lensflow.trackRun", {"script": "train.py"}), timeout=20
        )
    except TimeoutError:
        raise AssertionError("trackRun waited over 20 s on a stopped tracking server") from None
    waited = time.monotonic() - began
    assert down.data is not None and down.data["kind"] == "unreachable", (down.data, str(down))
    assert url in str(down) and "trackingUri" in str(down), str(down)
    assert waited < 10, f"{waited:.1f} s"
    assert notes(client, "lensflow/runOutput") == []  # the script never ran
    assert notes(client, "lensflow/runUpdated") == []
    # The same server, pointed back at its own store, tracks as before.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {}})
    )
    run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    assert run["status"] == "FINISHED"


def _frame(message: dict[str, Any]) -> bytes:
    body = json.dumps(message).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


async def test_tcp_transport(project: Path) -> None:
    port = free_port()
    token_file = project.parent / "tcp-token"  # made by the server; tests/reliability/test_tcp.py
    server = subprocess.Popen(
        [sys.executable, "-m", "lensflow", "--tcp", f"127.0.0.1:{port}",
         "--token-file", str(token_file)],
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                break
            except OSError:
                await asyncio.sleep(0.1)
        else:
            raise AssertionError("the TCP server never listened")
        token = token_file.read_text().strip()
        params = {"processId": None, "rootUri": project.as_uri(), "capabilities": {},
                  "initializationOptions": {"token": token}}  # fmt: skip
        writer.write(_frame({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": params}))
        await writer.drain()
        header = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        length = int(header.split(b":")[1].split(b"\r\n")[0])
        reply = json.loads(await reader.readexactly(length))
        assert reply["id"] == 1
        assert reply["result"]["serverInfo"]["name"] == "lensflow"
        assert (
            "lensflow.trackRun"
            in reply["result"]["capabilities"]["executeCommandProvider"]["commands"]
        )
        writer.close()
    finally:
        server.kill()
        server.wait()


async def test_mlflow_ui_shows_the_run(client: LanguageClient, project: Path) -> None:
    run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    port = free_port()
    # Exactly the README's command, from the workspace folder.
    ui = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri",
         "sqlite:///.lensflow/mlflow.db", "--host", "127.0.0.1", "--port", str(port)],
        cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}/api/2.0/mlflow"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{base}/experiments/search?max_results=10") as r:
                    experiments = json.load(r)["experiments"]
                break
            except OSError:
                assert time.monotonic() < deadline, "mlflow ui did not come up"
                await asyncio.sleep(0.5)
        ids = {e["name"]: e["experiment_id"] for e in experiments}
        assert "experiment_with_mlflow" in ids
        with urllib.request.urlopen(f"{base}/runs/get?run_id={run['runId']}") as r:
            shown = json.load(r)["run"]
        metrics = {m["key"]: m["value"] for m in shown["data"]["metrics"]}
        assert abs(metrics["mse"] - 3424.8567) < 1e-3
        assert shown["info"]["status"] == "FINISHED"
        # The experiment's own page, in Chromium, in MLflow's model-training mode (its UI
        # takes the mode from the browser, GenAI at first, not from the experiment): the runs.
        from tests.e2e.test_tracking_ui import rendered_text

        experiment = ids["experiment_with_mlflow"]
        page = f"http://127.0.0.1:{port}/#/experiments/{experiment}?workflowType=machine_learning"
        name = re.compile(re.escape(shown["info"]["run_name"]))
        text = await rendered_text(page, name, project / ".chromium")
        assert "1 matching run" in text and "Observability" not in text  # not GenAI's pages
    finally:
        ui.terminate()
        ui.wait(timeout=30)


async def test_empty_or_foreign_settings_keep_initialization_options(
    lsp_client_with_home: LanguageClient, project: Path
) -> None:
    client = lsp_client_with_home
    home = str(project / "state")
    assert (await execute(client, "lensflow.getWorkspace", {}))["home"] == home
    # eglot sends `{}` on connecting; other tools' sections may come along too.
    for settings in ({}, {"pylsp": {"plugins": {}}}, None):
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=settings)
        )
        assert (await execute(client, "lensflow.getWorkspace", {}))["home"] == home
    assert notes(client, "lensflow/workspaceChanged") == []
    # A real change is announced once.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"home": "other"}})
    )
    await client.wait_for_notification("lensflow/workspaceChanged")
    (changed,) = notes(client, "lensflow/workspaceChanged")
    assert changed["home"] == str(project / "other") and changed["kind"] == "local"
