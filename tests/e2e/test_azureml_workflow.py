"""The seed's whole workflow over stdio against the `azureml` workspace, with the Azure ML SDK
substituted at its one boundary (tests/azureml/serve_substituted.py): every command and lens,
the states a cluster and a service pass through, and a real prediction from the "AKS" endpoint."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import REPO, execute, notes, open_document, record, start
from tests.e2e.test_deploy import seed_split
from tests.e2e.test_lenses import resolved
from tests.e2e.test_tracking import expected_mse

SERVER = [sys.executable, str(REPO / "tests" / "azureml" / "serve_substituted.py")]
CONFIG = {"subscription_id": "s-1", "resource_group": "rg", "workspace_name": "mlw-seed"}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def azure(lsp_client: LanguageClient, project: Path) -> AsyncIterator[LanguageClient]:
    (project / "config.json").write_text(json.dumps(CONFIG))
    record(lsp_client)
    await start(lsp_client, project, workspace="config.json", azureSdk="v1")
    yield lsp_client
    await lsp_client.shutdown_session()


def titles(lenses: list[types.CodeLens]) -> dict[str, types.Command]:
    return {lens.command.title: lens.command for lens in lenses if lens.command}


@pytest.mark.slow
async def test_seed_workflow_on_azureml(azure: LanguageClient, project: Path) -> None:
    client = azure
    assert (await execute(client, "lensflow.getWorkspace", {}))["name"] == "mlw-seed"
    script = project / "train.py"
    uri = open_document(client, script)

    # Track run, from its lens: into the workspace's MLflow store.
    track = titles(await resolved(client, uri))["▶ Track run"]
    run = await execute(client, track.command, *track.arguments)
    assert run["status"] == "FINISHED", run["outputTail"]
    assert run["metrics"]["mse"] == pytest.approx(expected_mse(), rel=1e-9)
    runs = await execute(client, "lensflow.listRuns", {"script": "train.py"})
    assert [r["runId"] for r in runs["runs"]] == [run["runId"]]
    assert (await execute(client, "lensflow.getRun", {"runId": run["runId"]}))["params"] == {
        "alpha": "0.03"
    }
    experiments = await execute(client, "lensflow.listExperiments", {})
    assert "experiment_with_mlflow" in [e["name"] for e in experiments["experiments"]]

    # Register model, from its lens: Azure's registry, with the framework.
    lenses = titles(await resolved(client, uri))
    assert any(t.startswith("Last run: ✓ FINISHED · mse=3424.86") for t in lenses)
    register = lenses["Register model train_model"]
    model = await execute(client, register.command, *register.arguments)
    assert (model["modelName"], model["version"], model["modelFramework"]) == (
        "train_model", 1, "ScikitLearn",
    )  # fmt: skip
    (listed,) = (await execute(client, "lensflow.listModels", {}))["models"]
    assert listed["versions"][0]["script"] == str(script)

    # Create cluster, from the lens that offers it; it waits, reporting each state.
    create = titles(await resolved(client, uri))["Create cluster local-cluster"]
    cluster = await execute(client, create.command, *create.arguments)
    assert cluster["state"] == "Succeeded"
    states = [n["state"] for n in notes(client, "lensflow/clusterUpdated")]
    assert states[0] == "Creating" and states[-1] == "Succeeded"

    # Deploy, from its lens, then invoke: a real prediction from the model file.
    deploy = titles(await resolved(client, uri))["Deploy train_model v1 to local-cluster"]
    service = await execute(client, deploy.command, *deploy.arguments)
    assert service["state"] == "Healthy" and service["scoringUri"].startswith("http://127.0.0.1")
    assert [n["state"] for n in notes(client, "lensflow/serviceUpdated")][-2:] == [
        "Transitioning", "Healthy",
    ]  # fmt: skip
    x_head, expected = seed_split()
    lenses = titles(await resolved(client, uri))
    invoke = lenses["Invoke endpoint train-service (Healthy)"]
    answer = await execute(
        client, invoke.command, {**invoke.arguments[0], "input": {"data": x_head}}
    )
    assert answer["statusCode"] == 200 and answer["output"] == pytest.approx(expected, rel=1e-12)
    keys = await execute(client, "lensflow.getServiceKeys", {"serviceName": "train-service"})
    assert keys["primaryKey"] == "primary-key"
    logs = await execute(
        client, "lensflow.getServiceLogs", {"serviceName": "train-service", "tail": 3}
    )
    assert len(logs["lines"]) == 3

    # A second deployment without waiting: it answers at once, the news comes later.
    quick = await execute(client, "lensflow.deploy", {
        "serviceName": "quick-service", "modelName": "train_model", "clusterName": "local-cluster",
        "wait": False,
    })  # fmt: skip
    assert quick["state"] == "Transitioning"
    while not any(
        n == {"serviceName": "quick-service", "state": "Healthy"}
        for n in notes(client, "lensflow/serviceUpdated")
    ):
        await client.wait_for_notification("lensflow/serviceUpdated")
    listed_services = await execute(
        client, "lensflow.listServices", {"clusterName": "local-cluster"}
    )
    assert {s["serviceName"] for s in listed_services["services"]} == {
        "train-service",
        "quick-service",
    }
    (aks,) = (await execute(client, "lensflow.listClusters", {}))["clusters"]
    assert aks["name"] == "local-cluster"

    # Clean up, from its lens, then everything.
    clean = lenses["Clean up train-service"]
    deleted = await execute(client, clean.command, *clean.arguments)
    assert deleted["deleted"] == [{"kind": "service", "name": "train-service"}]
    rest = await execute(client, "lensflow.cleanUp", {"all": True})
    assert {(d["kind"], d["name"]) for d in rest["deleted"]} == {
        ("service", "quick-service"), ("cluster", "local-cluster"),
    }  # fmt: skip
    assert (await execute(client, "lensflow.listClusters", {}))["clusters"] == []


async def test_progress_cancel_stops_waiting_and_says_the_cloud_goes_on(
    azure: LanguageClient,
) -> None:
    client = azure
    pending = asyncio.ensure_future(execute(client, "lensflow.createCluster", {"name": "slow-aks"}))
    # The token is created first and its `begin` report follows: wait for the report.
    while not any(client.progress_reports.values()):
        await asyncio.sleep(0.05)
    (token,) = list(client.progress_reports)
    assert client.progress_reports[token][0].title == "Creating cluster slow-aks"
    client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))

    cluster = await asyncio.wait_for(pending, 30)
    assert cluster["state"] == "Creating"
    assert "the operation goes on in Azure" in cluster["error"]
    # The server answers as before, and the cluster is still there to follow.
    (listed,) = (await execute(client, "lensflow.listClusters", {}))["clusters"]
    assert listed["name"] == "slow-aks"


def test_stray_stdout_never_reaches_the_protocol_stream(project: Path) -> None:
    """The substitute prints and starts a child writing to fd 1 when it signs in, as an SDK may.
    Read strictly, as vscode-jsonrpc does, stdout must hold nothing but whole frames."""
    (project / "config.json").write_text(json.dumps(CONFIG))
    server = subprocess.Popen(
        SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=project
    )
    assert server.stdin is not None and server.stdout is not None
    try:
        for message in (
            {"id": 1, "method": "initialize", "params": {
                "capabilities": {}, "rootUri": project.as_uri(),
                "initializationOptions": {"workspace": "config.json", "azureSdk": "v1"}}},
            {"method": "initialized", "params": {}},
            {"id": 2, "method": "workspace/executeCommand",
             "params": {"command": "lensflow.listExperiments", "arguments": [{}]}},
        ):  # fmt: skip
            server.stdin.write(frame({"jsonrpc": "2.0", **message}))
        server.stdin.flush()
        while (answer := read_frame(server.stdout)).get("id") != 2:
            pass
        assert "experiments" in answer.get("result", {}), answer  # answered after the sign-in
        server.stdin.write(frame({"jsonrpc": "2.0", "id": 3, "method": "shutdown"}))
        server.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
        server.stdin.close()
        while read_frame(server.stdout):
            pass
        assert server.wait(30) == 0
    finally:
        server.kill()
        stderr = server.stderr.read() if server.stderr else b""
    assert b"a child writing to its inherited stdout" in stderr


def frame(message: dict[str, object]) -> bytes:
    body = json.dumps(message).encode()
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def read_frame(stream: IO[bytes]) -> dict[str, Any]:
    """One message, read as strictly as vscode-jsonrpc does; {} at the end of the stream."""
    fields = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        key, sep, value = line.rstrip(b"\r\n").partition(b": ")
        assert sep and line.endswith(b"\r\n"), f"not a header line: {line[:200]!r}"
        fields[key] = value
    if not fields:
        return {}
    message: dict[str, Any] = json.loads(stream.read(int(fields[b"Content-Length"])))
    return message
