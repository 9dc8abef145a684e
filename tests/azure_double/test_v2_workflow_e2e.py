"""The seed's whole workflow on an SDK v2 workspace, over stdio, against the Azure double.

The Lensflow server is a child process, as an editor starts it: `azureSdk: "v2"`, signing in
through azure-identity's AzureCliCredential (the double's fake `az`), its ARM, Azure ML and Blob
requests going through the real azure-ai-ml over HTTPS to the double, its tracking through
azureml-mlflow to a real `mlflow server` behind the double. Track -> register (an MLflow model
made of the seed's model.pkl) -> deploy on a managed online endpoint and on an attached
Kubernetes compute -> invoke both with the seed's `X_test[0:2]` (real scoring services on
127.0.0.1) -> keys, logs, lists -> clean up, which detaches the compute and deletes nothing else.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.azure_double.children import FakeAzureCli
from tests.azure_double.server import AzureDouble
from tests.azure_double.tracking import TrackingService
from tests.conftest import SAMPLE, execute, notes, open_document
from tests.e2e.test_lenses import resolved
from tests.e2e.test_tracking import expected_mse
from tests.reliability.support import close, new_server

pytestmark = [pytest.mark.azure_http, pytest.mark.slow]

SEED_MSE = 3424.8567023974488
SEED_PREDICTIONS = [235.11239082754702, 246.79874889101615]
AKS = (
    "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/lensflow-rg"
    "/providers/Microsoft.ContainerService/managedClusters/lensflow-aks"
)


def seed_rows() -> tuple[list[list[float]], list[float]]:
    """Independent truth: the seed's split and Ridge, here in the test process."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0)
    model = Ridge(alpha=0.03).fit(x_train, y_train)
    return x_test[0:2].tolist(), model.predict(x_test[0:2]).tolist()


async def _lens_commands(client: LanguageClient, script: Path) -> list[types.Command]:
    uri = open_document(client, script)
    return [lens.command for lens in await resolved(client, uri) if lens.command]


def _requests(double: AzureDouble, method: str, kind: str) -> list[Any]:
    return [e for e in double.requests(method) if f"/{kind}/" in e.path and e.status < 300]


async def test_the_seed_workflow_on_sdk_v2_over_stdio(
    azure_tracking: TrackingService,
    azure_double: AzureDouble,
    azure_child_env: dict[str, str],
    fake_az: FakeAzureCli,
    tmp_path: Path,
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(SAMPLE, project / "train.py")
    azure_double.write_config(project)
    rows, predictions = seed_rows()
    assert predictions == pytest.approx(SEED_PREDICTIONS, rel=1e-12)
    started = time.monotonic()
    client = await new_server(
        project, env=azure_child_env, workspace="config.json", azureSdk="v2", azureAuth="cli"
    )
    try:
        # Track: the run lands in the mlflow server behind the double, through azureml-mlflow.
        run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
        assert run["status"] == "FINISHED", run
        assert run["metrics"]["mse"] == pytest.approx(expected_mse(), rel=1e-9)
        assert run["metrics"]["mse"] == pytest.approx(SEED_MSE, rel=1e-12)
        assert "model.pkl" in run["artifacts"]

        # Register: an MLflow model version made of model.pkl, uploaded to the blob store.
        model = await execute(
            client, "lensflow.registerModel",
            {"runId": run["runId"], "modelName": "diabetes_model", "modelPath": "model.pkl"},
        )  # fmt: skip
        assert (model["modelName"], model["version"]) == ("diabetes_model", 1)
        [put] = _requests(azure_double, "PUT", "models/diabetes_model/versions")
        assert put.request_json["properties"]["modelType"] == "mlflow_model"
        assert put.request_json["properties"]["tags"]["modelPath"] == "model.pkl"
        assert any(name.endswith("/MLmodel") for name in azure_double.blob_names())

        # Deploy, managed, from the script's lens: no cluster to create first. The smallest
        # instance type holding a replica (1 core, 1 GB), all the traffic.
        lens = {c.title: c for c in await _lens_commands(client, project / "train.py")}
        deploy = lens["Deploy diabetes_model v1 to a managed endpoint"]
        assert deploy.arguments is not None
        arguments = {**deploy.arguments[0], "cpuCores": 1, "memoryGb": 1}
        assert "clusterName" not in arguments
        managed = await execute(client, deploy.command, arguments)
        assert managed["state"] == "Healthy", managed
        managed_name = managed["serviceName"]
        assert (managed["clusterName"], managed["instanceType"]) == ("managed", "Standard_DS1_v2")
        states = [n["state"] for n in notes(client, "lensflow/serviceUpdated")]
        assert states[0] == "Transitioning" and states[-1] == "Healthy", states

        # Attach the AKS cluster, then deploy on it with the seed's requests as Kubernetes has them.
        cluster = await execute(
            client, "lensflow.createCluster",
            {"name": "aks-attached", "resourceId": AKS, "namespace": "models"},
        )  # fmt: skip
        assert (cluster["state"], cluster["resourceId"], cluster["namespace"]) == (
            "Succeeded", AKS, "models",
        )  # fmt: skip
        k8s = await execute(
            client, "lensflow.deploy",
            {"serviceName": "diabetes-k8s", "modelName": "diabetes_model",
             "clusterName": "aks-attached", "cpuCores": 1, "memoryGb": 1},
        )  # fmt: skip
        assert (k8s["state"], k8s["clusterName"]) == ("Healthy", "aks-attached"), k8s
        deployments = [e.request_json for e in _requests(azure_double, "PUT", "deployments")]
        kinds = {d["properties"]["endpointComputeType"]: d["properties"] for d in deployments}
        assert kinds["Managed"]["instanceType"] == "Standard_DS1_v2"
        requests = kinds["Kubernetes"]["containerResourceRequirements"]["containerResourceRequests"]
        assert (requests["cpu"], requests["memory"]) == ("1", "1Gi")

        # Invoke both with the seed's body: Lensflow sends Azure's MLflow `input_data` form.
        for service in (managed_name, "diabetes-k8s"):
            answer = await execute(
                client, "lensflow.invokeEndpoint",
                {"serviceName": service, "input": {"data": rows, "method": "predict"}},
            )  # fmt: skip
            assert answer["statusCode"] == 200, answer
            assert answer["output"] == pytest.approx(predictions, rel=1e-12)
            assert answer["output"] == pytest.approx(SEED_PREDICTIONS, rel=1e-12)

        keys = await execute(client, "lensflow.getServiceKeys", {"serviceName": "diabetes-k8s"})
        assert keys["primaryKey"] and keys["primaryKey"] != keys["secondaryKey"]
        logs = await execute(client, "lensflow.getServiceLogs", {"serviceName": "diabetes-k8s"})
        assert logs["lines"], logs
        listed = await execute(client, "lensflow.listServices", {})
        assert {s["serviceName"]: s["state"] for s in listed["services"]} == {
            managed_name: "Healthy", "diabetes-k8s": "Healthy",
        }  # fmt: skip
        clusters = await execute(client, "lensflow.listClusters", {})
        assert [(c["name"], c["services"]) for c in clusters["clusters"]] == [
            ("aks-attached", ["diabetes-k8s"])
        ]

        # Clean up: both endpoints deleted, the compute detached, the AKS cluster untouched.
        cleaned = await execute(client, "lensflow.cleanUp", {"all": True})
        assert sorted((d["kind"], d["name"]) for d in cleaned["deleted"]) == sorted(
            [("cluster", "aks-attached"), ("service", "diabetes-k8s"), ("service", managed_name)]
        )
        [detach] = [e for e in azure_double.requests("DELETE") if "/computes/" in e.path]
        assert detach.query.get("underlyingResourceAction") == "Detach"
        assert not any("managedClusters" in e.path for e in azure_double.exchanges)
    finally:
        await close(client)
    print(f"whole workflow: {time.monotonic() - started:.1f} s")
    # Signed in through the Azure CLI, never a browser; the run's children used the token.
    assert fake_az.calls()
