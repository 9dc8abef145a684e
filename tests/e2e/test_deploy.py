"""The seed's second half, end to end over stdio: create cluster, deploy, invoke, clean up."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import SERVER_COMMAND, error_of, execute, notes, open_document, record, start


def seed_split() -> tuple[list[list[float]], list[float]]:
    """Independent truth: the seed's Ridge trained here; its predictions on X_test[0:2]."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    model = Ridge(alpha=0.03).fit(X_train, y_train)
    return X_test[0:2].tolist(), model.predict(X_test[0:2]).tolist()


def port_open(uri: str) -> bool:
    parsed = urlparse(uri)
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((parsed.hostname or "127.0.0.1", parsed.port or 80)) == 0


def service_pids(port: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "lensflow.scoring.app" in cmdline and f"--port {port}" in cmdline:
            pids.append(int(entry.name))
    return pids


def http(url: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, method="POST" if body is not None else "GET")
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


async def wait_state(
    client: LanguageClient, service: str, state: str, timeout: float, after: int = 0
) -> None:
    """Wait for `state` among the serviceUpdated notifications from index `after` on."""
    for _ in range(int(timeout / 0.1)):
        if any(
            n["serviceName"] == service and n["state"] == state
            for n in notes(client, "lensflow/serviceUpdated")[after:]
        ):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"{service} never reported {state}: {notes(client, 'lensflow/serviceUpdated')}"
    )


async def registered_model(client: LanguageClient) -> dict[str, Any]:
    run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    args = {"runId": run["runId"], "modelName": "diabetes_model", "modelPath": "model.pkl"}
    return await execute(client, "lensflow.registerModel", args)


async def test_seed_workflow(client: LanguageClient, project: Path) -> None:
    x_head, expected = seed_split()
    await registered_model(client)

    cluster = await execute(
        client, "lensflow.createCluster",
        {"name": "aks-devtest", "vmSize": "Standard_D3_v2", "clusterPurpose": "DevTest"},
    )  # fmt: skip
    assert (cluster["state"], cluster["cpuCores"], cluster["memoryGb"]) == ("Succeeded", 4, 14)

    service = await execute(
        client, "lensflow.deploy",
        {"serviceName": "diabetes-service", "modelName": "diabetes_model",
         "clusterName": "aks-devtest", "cpuCores": 1, "memoryGb": 1},
    )  # fmt: skip
    assert service["state"] == "Healthy", service.get("error")
    assert service["scoringUri"].startswith("http://127.0.0.1:")
    assert service["scoringUri"].endswith("/score")
    states = [n["state"] for n in notes(client, "lensflow/serviceUpdated")]
    assert states[:2] == ["Transitioning", "Healthy"]

    answer = await execute(
        client, "lensflow.invokeEndpoint",
        {"serviceName": "diabetes-service", "input": {"data": x_head, "method": "predict"}},
    )  # fmt: skip
    assert answer["statusCode"] == 200
    assert answer["output"] == expected  # exactly what the model's own predict gives
    assert answer["output"] == pytest.approx([235.11, 246.80], abs=0.01)
    assert answer["latencyMs"] > 0

    example = await execute(client, "lensflow.invokeEndpoint", {"serviceName": "diabetes-service"})
    assert example["statusCode"] == 200 and len(example["output"]) >= 1

    bad = await execute(
        client, "lensflow.invokeEndpoint",
        {"serviceName": "diabetes-service", "input": {"data": [[1.0] * 9]}},
    )  # fmt: skip
    assert 400 <= bad["statusCode"] < 500
    assert "10" in json.dumps(bad["output"])

    # Straight HTTP, as an application developer would call it.
    assert http(service["scoringUri"], {"data": x_head})[0] == 401
    keys = await execute(client, "lensflow.getServiceKeys", {"serviceName": "diabetes-service"})
    assert keys["primaryKey"] != keys["secondaryKey"]
    assert http(service["scoringUri"], {"data": x_head}, keys["secondaryKey"]) == (200, expected)
    status, swagger = http(service["swaggerUri"])
    assert status == 200 and swagger["swagger"] == "2.0"  # as Azure's no-code services
    assert "10" in json.dumps(swagger["paths"]["/score"])

    listed = await execute(client, "lensflow.listServices")
    assert [(s["serviceName"], s["state"]) for s in listed["services"]] == [
        ("diabetes-service", "Healthy")
    ]
    clusters = await execute(client, "lensflow.listClusters")
    assert clusters["clusters"][0]["services"] == ["diabetes-service"]
    logs = await execute(client, "lensflow.getServiceLogs", {"serviceName": "diabetes-service"})
    assert isinstance(logs["lines"], list)
    assert keys["primaryKey"] not in "\n".join(logs["lines"])

    # The lenses follow: Invoke endpoint and Clean up while the service exists.
    uri = open_document(client, project / "train.py")
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    titles = [lens.command.title for lens in lenses or [] if lens.command]
    assert "Invoke endpoint diabetes-service (Healthy)" in titles
    assert "Clean up diabetes-service" in titles

    pids = service_pids(urlparse(service["scoringUri"]).port or 0)
    assert pids
    deleted = await execute(client, "lensflow.cleanUp", {"clusterName": "aks-devtest"})
    assert {(d["kind"], d["name"]) for d in deleted["deleted"]} == {
        ("service", "diabetes-service"), ("cluster", "aks-devtest"),
    }  # fmt: skip
    assert not port_open(service["scoringUri"])
    await asyncio.sleep(0.5)
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()]
    again = await execute(client, "lensflow.cleanUp", {"all": True})
    assert again["deleted"] == []  # idempotent
    assert not (project / ".lensflow" / "services" / "diabetes-service").exists()


async def test_deploy_errors_then_a_service_survives_restart_and_crash(
    client: LanguageClient, project: Path
) -> None:
    """Two tests once, each training and registering the seed and making cluster dev: the
    errors on the way to a service, then that service seen, and brought back, elsewhere."""
    await execute(client, "lensflow.createCluster", {"name": "dev"})
    conflict = await error_of(client, "lensflow.createCluster", {"name": "dev"})
    assert (conflict.code, conflict.data["kind"]) == (-32002, "conflict")
    fastprod = await error_of(
        client, "lensflow.createCluster", {"name": "prod", "clusterPurpose": "FastProd"}
    )
    assert fastprod.data["kind"] == "unschedulable"
    assert "12" in fastprod.message
    devtest = await error_of(
        client,
        "lensflow.createCluster",
        {"name": "big", "nodeCount": 2, "clusterPurpose": "DevTest"},
    )
    assert devtest.data["kind"] == "unschedulable"

    unknown = await error_of(
        client, "lensflow.deploy",
        {"serviceName": "svc-one", "modelName": "nobody", "clusterName": "dev"},
    )  # fmt: skip
    assert unknown.data["kind"] == "notFound"
    await registered_model(client)
    no_cluster = await error_of(
        client, "lensflow.deploy",
        {"serviceName": "svc-one", "modelName": "diabetes_model", "clusterName": "ghost"},
    )  # fmt: skip
    assert no_cluster.data["kind"] == "notFound"
    too_big = await error_of(
        client, "lensflow.deploy",
        {"serviceName": "svc-one", "modelName": "diabetes_model", "clusterName": "dev",
         "cpuCores": 8},
    )  # fmt: skip
    assert too_big.data["kind"] == "unschedulable"
    invalid = await error_of(
        client, "lensflow.deploy",
        {"serviceName": "Bad_Name", "modelName": "diabetes_model", "clusterName": "dev"},
    )  # fmt: skip
    assert invalid.code == -32602
    neither = await error_of(client, "lensflow.cleanUp", {})
    assert neither.code == -32602
    missing = await error_of(client, "lensflow.invokeEndpoint", {"serviceName": "nothing-here"})
    assert missing.data["kind"] == "notFound"

    # Now a service on dev (the errors above deployed nothing): seen by a second server, and
    # brought back by supervisord after a kill -9.
    x_head, expected = seed_split()
    service = await execute(
        client, "lensflow.deploy",
        {"serviceName": "diabetes-service", "modelName": "diabetes_model", "clusterName": "dev"},
    )  # fmt: skip
    assert service["state"] == "Healthy"

    # A second server (another editor window, or a restart) sees the live service.
    other = LanguageClient()
    record(other)
    await other.start_io(*SERVER_COMMAND)
    try:
        await start(other, project)
        listed = await execute(other, "lensflow.listServices")
        assert [(s["serviceName"], s["state"]) for s in listed["services"]] == [
            ("diabetes-service", "Healthy")
        ]
        answer = await execute(
            other, "lensflow.invokeEndpoint",
            {"serviceName": "diabetes-service", "input": {"data": x_head}},
        )  # fmt: skip
        assert answer["output"] == expected

        # kill -9 the service: supervisord brings it back, and the state change is reported.
        await wait_state(other, "diabetes-service", "Healthy", 10)  # the monitor is watching
        seen = len(notes(other, "lensflow/serviceUpdated"))
        port = urlparse(service["scoringUri"]).port or 0
        pids = service_pids(port)
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        # The restart imports the model's libraries again: seconds on a loaded machine.
        await wait_state(other, "diabetes-service", "Unhealthy", 20, after=seen)
        await wait_state(other, "diabetes-service", "Healthy", 30, after=seen + 1)
        assert not set(service_pids(port)) & set(pids)  # a new process serves
        assert http(service["scoringUri"], {"data": x_head})[0] == 401  # up again
    finally:
        await other.shutdown_session()
        await other.stop()
    await execute(client, "lensflow.cleanUp", {"all": True})


async def lens_commands(client: LanguageClient, uri: str) -> list[types.Command]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    commands = []
    for lens in lenses or []:
        resolved = lens if lens.command else await client.code_lens_resolve_async(lens)
        assert resolved.command is not None
        commands.append(resolved.command)
    return commands


async def run_lens(client: LanguageClient, uri: str, title_start: str) -> Any:
    command = next(c for c in await lens_commands(client, uri) if c.title.startswith(title_start))
    return await execute(client, command.command, *(command.arguments or []))


def refreshes(client: LanguageClient) -> int:
    """workspace/codeLens/refresh requests so far."""
    return int(client.lens_refreshes)  # type: ignore[attr-defined]


def refreshed(client: LanguageClient, before: int) -> bool:
    return refreshes(client) > before


async def test_lens_driven_workflow(client: LanguageClient, project: Path) -> None:
    """The whole flow by clicking lenses only, as an editor user would."""
    uri = open_document(client, project / "train.py")
    # Each command that changes what lenses show asks for them again, before its reply: an
    # editor shows no stale lens (it offered Create cluster after one existed). Inlay hints
    # are asked for again when a run's reload changes them (test_insight_hover).
    before = refreshes(client)
    assert (await run_lens(client, uri, "▶ Track run"))["status"] == "FINISHED"
    assert refreshed(client, before)
    before = refreshes(client)
    registered = await run_lens(client, uri, "Register model train_model")
    assert registered["version"] == 1 and refreshed(client, before)

    titles = [c.title for c in await lens_commands(client, uri)]
    assert "Create cluster local-cluster" in titles
    before = refreshes(client)
    assert (await run_lens(client, uri, "Create cluster"))["state"] == "Succeeded"
    assert refreshed(client, before)

    titles = [c.title for c in await lens_commands(client, uri)]
    assert "Deploy train_model v1 to local-cluster" in titles
    assert not [t for t in titles if t.startswith("Create cluster")]
    before = refreshes(client)
    service = await run_lens(client, uri, "Deploy train_model")
    assert (service["serviceName"], service["state"]) == ("train-service", "Healthy")
    assert refreshed(client, before), (before, refreshes(client))

    titles = [c.title for c in await lens_commands(client, uri)]
    assert "Invoke endpoint train-service (Healthy)" in titles
    cursor = types.Position(line=0, character=0)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=cursor, end=cursor),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    action_titles = {a.title for a in actions or []}
    assert "Lensflow: Invoke endpoint train-service (Healthy)" in action_titles
    assert "Lensflow: Clean up train-service" in action_titles

    answer = await run_lens(client, uri, "Invoke endpoint")  # the swagger's example request
    assert answer["statusCode"] == 200
    # The version the lens registered is an MLflow model: MLflow's own loader agrees with the
    # service on the seed's rows.
    from tests.e2e.mlflow_tools import pyfunc_predict

    x_head, expected = seed_split()
    loaded = pyfunc_predict(project, "models:/train_model/1", x_head)
    assert loaded["values"] == expected
    served = await execute(
        client,
        "lensflow.invokeEndpoint",
        {"serviceName": "train-service", "input": {"data": x_head}},
    )
    assert served["output"] == loaded["values"]
    before = refreshes(client)
    deleted = await run_lens(client, uri, "Clean up train-service")
    assert deleted["deleted"] == [{"kind": "service", "name": "train-service"}]
    assert refreshed(client, before)
    titles = [c.title for c in await lens_commands(client, uri)]
    assert "Deploy train_model v1 to local-cluster" in titles
    await execute(client, "lensflow.cleanUp", {"all": True})
