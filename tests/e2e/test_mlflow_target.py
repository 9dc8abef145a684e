"""One state, two front ends: the language server (over stdio) and `mlflow deployments -t
lensflow` (MLflow's CLI in subprocesses) see, invoke and delete each other's services."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from lensflow.processes import kill_pids
from lensflow.scoring.config import CONFIG_ENV
from lensflow.workspaces.local.deployments import LocalDeployments
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import execute, notes, open_document
from tests.deploy.conftest import processes_of
from tests.e2e.test_deploy import registered_model, seed_split

MLFLOW = str(Path(sys.executable).with_name("mlflow"))


async def mlflow_deployments(*args: str) -> subprocess.CompletedProcess[str]:
    """MLflow's CLI, off the event loop: the server's notifications keep flowing meanwhile."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    command = [MLFLOW, "deployments", *args]
    return await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, env=env, timeout=180
    )


def serving_processes(home: Path) -> list[int]:
    """The supervisords and services of `home`; not the server's store worker, which names
    `home` too (its tracking URI) and lives until the fixture shuts the server down."""
    found = []
    for pid in processes_of(home):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            environ = Path(f"/proc/{pid}/environ").read_bytes()
        except OSError:
            continue
        if b"supervisor" in cmdline or f"{CONFIG_ENV}=".encode() in environ:
            found.append(pid)
    return found


async def services(client: LanguageClient) -> dict[str, str]:
    listed = await execute(client, "lensflow.listServices")
    return {s["serviceName"]: s["state"] for s in listed["services"]}


async def lens_titles(client: LanguageClient, uri: str) -> list[str]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return [lens.command.title for lens in lenses or [] if lens.command]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    """Polls an async check: the service monitor looks every 0.4 s."""
    for _ in range(int(timeout / 0.2)):
        if await check():
            return
        await asyncio.sleep(0.2)
    assert await check()


async def test_server_and_mlflow_target_share_services(
    client: LanguageClient, project: Path
) -> None:
    home = project / ".lensflow"
    target = f"lensflow:{project}"
    rows, expected = seed_split()
    try:
        await registered_model(client)  # a real run and registration, by the server
        uri = open_document(client, project / "train.py")  # starts the service monitor
        assert not [t for t in await lens_titles(client, uri) if "Invoke endpoint" in t]

        # MLflow's CLI deploys; the running server sees it, no restart, no command of its own.
        created = await mlflow_deployments(
            "create", "-t", target, "--name", "diabetes-service", "-m", "models:/diabetes_model/1"
        )
        assert created.returncode == 0, created.stderr
        assert (await services(client))["diabetes-service"] == "Healthy"

        # The monitor noticed (it tells the client), and the training script's lenses offer the
        # service's commands: matched by the script of the model version's run.
        async def monitor_saw_it() -> bool:
            seen = notes(client, "lensflow/serviceUpdated")
            return ("diabetes-service", "Healthy") in {(n["serviceName"], n["state"]) for n in seen}

        async def lens_shows_it() -> bool:
            titles = await lens_titles(client, uri)
            return "Invoke endpoint diabetes-service (Healthy)" in titles

        await eventually(monitor_saw_it)
        await eventually(lens_shows_it)
        assert "Clean up diabetes-service" in await lens_titles(client, uri)
        answer = await execute(
            client, "lensflow.invokeEndpoint",
            {"serviceName": "diabetes-service", "input": {"data": rows}},
        )  # fmt: skip
        assert (answer["statusCode"], answer["output"]) == (200, expected)

        # The other way: the server deploys (onto the cluster the CLI made); MLflow lists it.
        deployed = await execute(
            client, "lensflow.deploy",
            {"serviceName": "editor-service", "modelName": "diabetes_model",
             "clusterName": "local-cluster"},
        )  # fmt: skip
        assert deployed["state"] == "Healthy", deployed.get("error")
        listed = await mlflow_deployments("list", "-t", target)
        assert listed.returncode == 0, listed.stderr
        assert "'name': 'editor-service'" in listed.stdout
        assert "'name': 'diabetes-service'" in listed.stdout

        # MLflow deletes the server's service; the server sees it gone.
        removed = await mlflow_deployments("delete", "-t", target, "--name", "editor-service")
        assert removed.returncode == 0, removed.stderr

        async def gone() -> bool:
            return "editor-service" not in await services(client)

        await eventually(gone)
        assert await services(client) == {"diabetes-service": "Healthy"}
    finally:
        try:
            LocalDeployments(home).clean_up(all=True)
        finally:
            left = serving_processes(home)
            kill_pids(left, grace=1.0)  # never leave a process behind, even on failure
        assert left == [], f"processes outlived clean_up: {left}"
