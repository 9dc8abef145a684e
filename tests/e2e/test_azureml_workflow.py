"""The seed's whole workflow over stdio against the `azureml` workspace, with the Azure ML SDK
substituted at its one boundary (tests/azureml/serve_substituted.py): every command and lens,
the states a cluster and a service pass through, and a real prediction from the "AKS" endpoint."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from pathlib import Path

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
    await start(lsp_client, project, workspace="config.json")
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
    while not client.progress_reports:
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
