"""`lensflow.openTrackingUi` over stdio: a real `mlflow server` on the workspace's store, its
run page read in headless Chromium (Debian's /usr/bin/chromium, driven by playwright's bundled
driver; nothing downloads a browser), reused on the second call, gone after `shutdown`."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlparse

import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import SERVER_COMMAND, error_of, execute, record, start
from tests.e2e.test_azureml_offline import BARE_ENV
from tests.e2e.test_azureml_offline import CONFIG as AZURE_CONFIG
from tests.setup_jobs import wait_for as wait_for_job

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
RENDER_MS = 45_000


def seed_mse() -> float:
    """Independent truth: the seed's Ridge, trained here."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    model = Ridge(alpha=0.03).fit(X_train, y_train)
    return float(mean_squared_error(y_test, model.predict(X_test)))


# --- processes and ports, read from /proc ---------------------------------------------------
def listeners(port: int) -> set[int]:
    """Socket inodes listening on 127.0.0.1:`port` (state 0A = LISTEN)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == "0A":
                found.add(int(fields[9]))
    return found


def owners(inodes: set[int]) -> set[int]:
    """Pids holding any of these sockets open."""
    wanted = {f"socket:[{i}]" for i in inodes}
    pids = set()
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            if any(os.readlink(fd) in wanted for fd in fd_dir.iterdir()):
                pids.add(int(fd_dir.parent.name))
        except OSError:
            continue
    return pids


def stat(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: state, ppid, pgrp, session, …"""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def group_alive(pgid: int) -> list[int]:
    alive = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            fields = stat(int(entry.name))
        except (OSError, ValueError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":  # a zombie holds nothing
            alive.append(int(entry.name))
    return alive


def port_answers(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- the browser ----------------------------------------------------------------------------
async def rendered_text(
    url: str, wait_for: re.Pattern[str], profile: Path, then_click: re.Pattern[str] | None = None
) -> str:
    """The page's visible text once `wait_for` shows (and, if given, after clicking the first
    `then_click` text), as headless Chromium renders it; any request off 127.0.0.1 is refused,
    so the page renders offline or not at all."""
    from playwright.async_api import async_playwright

    wait_for_job("system-packages")  # scripts/test.sh installs Chromium in the background
    assert CHROMIUM.exists(), "no /usr/bin/chromium: run `bash scripts/install-browser.sh`"
    origin = url.split("/#", 1)[0]
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch_persistent_context(
            str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:

            async def local_only(route, request):  # type: ignore[no-untyped-def]
                if request.url.startswith(origin):
                    await route.continue_()
                else:
                    await route.abort()

            await browser.route("**/*", local_only)
            page = await browser.new_page()
            await page.goto(url)
            await page.get_by_text(wait_for).first.wait_for(timeout=RENDER_MS)
            if then_click is not None:
                await page.get_by_text(then_click).first.click(timeout=RENDER_MS)
                await page.wait_for_timeout(500)  # the section unfolds
            return await page.inner_text("body")
        finally:
            await browser.close()


# --- tests ----------------------------------------------------------------------------------
async def test_run_page_in_chromium_reused_then_stopped(
    client: LanguageClient, project: Path, tmp_path: Path
) -> None:
    run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    assert run["status"] == "FINISHED"

    opened = await execute(client, "lensflow.openTrackingUi", {"runId": run["runId"]})
    server_url = opened["serverUrl"]
    port = urlparse(server_url).port
    assert urlparse(server_url).hostname == "127.0.0.1" and port
    assert opened["reused"] is False
    assert opened["experimentId"] == run["experimentId"] and opened["runId"] == run["runId"]
    run_page = f"{server_url}/#/experiments/{run['experimentId']}/runs/{run['runId']}"
    # MLflow's model-training mode: its UI would start in GenAI mode whatever the experiment.
    assert opened["url"] == f"{run_page}?workflowType=machine_learning"

    # The server is MLflow's, in a process group of its own, listening on that port only.
    (pid,) = owners(listeners(port))
    pgid = int(stat(pid)[2])
    assert pgid != os.getpgid(0)
    assert b"mlflow" in Path(f"/proc/{pgid}/cmdline").read_bytes()

    text = await rendered_text(opened["url"], re.compile(r"3424\.8"), tmp_path / "profile")
    assert "experiment_with_mlflow" in text
    assert run["runId"] in text
    assert re.search(r"\bmse\b", text) and "alpha" in text
    shown = re.search(r"3424\.8\d*", text)
    assert shown and abs(float(shown.group()) - seed_mse()) < 0.005, shown

    # The run's artifacts, straight from .lensflow/artifacts (absolute paths in the store).
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        query = f"/ajax-api/2.0/mlflow/artifacts/list?run_id={run['runId']}"
        sock.sendall(f"GET {query} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode())
        reply = b"".join(iter(lambda: sock.recv(65536), b""))
    listed = json.loads(reply.split(b"\r\n\r\n", 1)[1])
    assert {"model.pkl", "outputs"} <= {f["path"] for f in listed["files"]}

    # No arguments: the latest run's experiment, on the same server, in MLflow's own shared
    # view whose columns are the runs' params and metrics (its default shows neither).
    again = await execute(client, "lensflow.openTrackingUi", {})
    assert again["reused"] is True and again["serverUrl"] == server_url
    runs_page = f"{server_url}/#/experiments/{run['experimentId']}/runs"
    assert again["url"] == (f"{runs_page}?workflowType=machine_learning&viewStateShareKey=lensflow")
    assert owners(listeners(port)) == {pid}
    text = await rendered_text(again["url"], re.compile(r"3424\.8"), tmp_path / "runs")
    assert "1 matching run" in text and "Observability" not in text  # not GenAI's pages
    header, _, rows = text.partition("Pin run")
    assert {"Parameters", "Metrics", "alpha", "mse"} <= set(header.split())
    assert "0.03" in rows.split() and str(run["metrics"]["mse"]) in rows.split()

    # The registered version's page shows its signature: one float64 tensor of 10 columns.
    await execute(
        client, "lensflow.registerModel",
        {"runId": run["runId"], "modelName": "diabetes_model", "modelPath": "model.pkl"},
    )  # fmt: skip
    version_page = f"{server_url}/#/models/diabetes_model/versions/1"
    text = await rendered_text(
        version_page, re.compile(r"Inputs \(1\)"), tmp_path / "model", re.compile("Inputs")
    )
    assert re.search(r"float64.*\[-1,\s*10\]", text.replace("\n", " ")), text[-600:]

    # A `trackingUri` that names an MLflow server already is that server's UI: nothing starts.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"trackingUri": server_url}})
    )
    remote = await execute(client, "lensflow.openTrackingUi", {"runId": run["runId"]})
    assert remote["reused"] is True and remote["url"] == opened["url"]
    assert owners(listeners(port)) == {pid}

    client.shut_down = True  # type: ignore[attr-defined]
    await asyncio.wait_for(client.shutdown_async(None), 30)
    # `shutdown` answers once the whole tree is gone: nothing to wait for here.
    assert group_alive(pgid) == []
    assert not listeners(port) and not port_answers(port)


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def doomed(lsp_client: LanguageClient, project: Path) -> AsyncIterator[LanguageClient]:
    """A server the test kills with -9: no shutdown afterwards."""
    await start(lsp_client, project)
    yield lsp_client


async def test_bad_input_then_a_killed_server_takes_the_ui_along(
    doomed: LanguageClient, project: Path
) -> None:
    unknown = await error_of(doomed, "lensflow.openTrackingUi", {"runId": "0" * 32})
    assert unknown.code == -32001 and unknown.data["kind"] == "notFound"
    assert "lensflow.listRuns" in unknown.message

    missing = await error_of(doomed, "lensflow.openTrackingUi", {"experimentName": "nope"})
    assert missing.data["kind"] == "notFound" and "nope" in missing.message

    for bad in ("../etc/passwd", "a b", "run;rm", "x" * 65, ""):
        error = await error_of(doomed, "lensflow.openTrackingUi", {"runId": bad})
        assert error.code == -32602, (bad, error)
        assert [e["loc"] for e in error.data["errors"]] == [["runId"]]
    extra = await error_of(doomed, "lensflow.openTrackingUi", {"runId": "r1", "port": 80})
    assert extra.code == -32602
    # Nothing was started for any of them, and the server still answers.
    assert not (project / ".lensflow" / "tracking-ui.log").exists()

    # An empty store: the experiments list, on a server of its own.
    opened = await execute(doomed, "lensflow.openTrackingUi", {})
    listing = f"{opened['serverUrl']}/#/experiments?workflowType=machine_learning"
    assert opened["url"] == listing and opened["reused"] is False
    assert "experimentId" not in opened and "runId" not in opened
    port = urlparse(opened["serverUrl"]).port
    assert port
    (pid,) = owners(listeners(port))
    pgid = int(stat(pid)[2])

    os.kill(doomed._server.pid, signal.SIGKILL)  # type: ignore[attr-defined]
    try:
        # No shutdown, no atexit: the server's parent-death signal alone ends the group.
        for _ in range(100):
            if not group_alive(pgid):
                break
            await asyncio.sleep(0.1)
        assert group_alive(pgid) == [] and not listeners(port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)  # a failed run leaves nothing behind


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND, server_env=BARE_ENV))
async def azure(lsp_client: LanguageClient, project: Path) -> AsyncIterator[LanguageClient]:
    (project / "config.json").write_text(json.dumps(AZURE_CONFIG))
    record(lsp_client)
    await start(lsp_client, project, workspace="config.json")
    yield lsp_client
    await lsp_client.shutdown_session()


async def test_azure_workspace_points_at_studio(azure: LanguageClient) -> None:
    error = await error_of(azure, "lensflow.openTrackingUi", {})
    assert error.code == -32007 and error.data["kind"] == "unsupported"
    assert "https://ml.azure.com" in error.message
    info = await execute(azure, "lensflow.getWorkspace", {})
    assert info["kind"] == "azureml"  # the server is still there
