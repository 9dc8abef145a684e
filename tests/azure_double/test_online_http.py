"""The real azure-ai-ml MLClient drives Kubernetes computes, online endpoints and deployments.

Against the Azure double over HTTPS: every create and delete is an ARM long-running operation
(``lro.py``), and a deployment that succeeds is a real Lensflow scoring service on 127.0.0.1 for
the registered model, reached at the endpoint's ``scoringUri`` with the endpoint's key. The
``azure_double`` fixture checks every JSON answer against Microsoft's REST spec when a test ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import (
    KubernetesCompute,
    KubernetesOnlineDeployment,
    KubernetesOnlineEndpoint,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
    ResourceRequirementsSettings,
    ResourceSettings,
)
from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

from tests.azure_double.server import AzureDouble, Exchange
from tests.azure_double.spec_schemas_online import COMPUTES_API, DEPLOYMENTS_API, ENDPOINTS_API

pytestmark = pytest.mark.azure_http

EXPECTED = [235.11239082754702, 246.79874889101615]  # Ridge(alpha=0.03) on X_test[0:2]
CLUSTER = (
    "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/lensflow-rg"
    "/providers/Microsoft.ContainerService/managedClusters/lensflow-aks"
)


@dataclass(frozen=True)
class RidgeModel:
    folder: Path
    rows: list[list[float]]


@pytest.fixture(scope="module")
def ridge(tmp_path_factory: pytest.TempPathFactory) -> RidgeModel:
    """sklearn's Ridge on the diabetes data, saved as an MLflow model folder."""
    import mlflow.sklearn
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0)
    folder = tmp_path_factory.mktemp("ridge") / "ridge-model"
    mlflow.sklearn.save_model(Ridge(alpha=0.03).fit(x_train, y_train), str(folder))
    return RidgeModel(folder=folder, rows=x_test[0:2].tolist())


def _register(ml_client: Any, ridge: RidgeModel) -> str:
    model = ml_client.models.create_or_update(
        Model(path=str(ridge.folder), type=AssetTypes.MLFLOW_MODEL, name="ridge")
    )
    return f"azureml:ridge:{model.version}"


def _status_polls(double: AzureDouble) -> list[Exchange]:
    return double.requests("GET", "/mfeOperationsStatus/")


def _score(uri: str, key: str | None, rows: list[list[float]]) -> requests.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return requests.post(uri, json={"data": rows}, headers=headers, timeout=30)


def test_kubernetes_compute_is_attached_listed_and_detached(
    ml_client: Any, azure_double: AzureDouble
) -> None:
    attached = ml_client.compute.begin_attach(
        KubernetesCompute(name="k8s", resource_id=CLUSTER, namespace="models")
    ).result()

    assert isinstance(attached, KubernetesCompute)
    assert (attached.name, attached.provisioning_state) == ("k8s", "Succeeded")
    assert (attached.resource_id, attached.namespace) == (CLUSTER, "models")
    [put] = azure_double.requests("PUT", "/computes/k8s")
    assert (put.status, put.api_version) == (201, COMPUTES_API)
    assert put.response_json["properties"]["provisioningState"] == "Creating"
    status_url = put.response_headers["azure-asyncoperation"]
    assert "/locations/eastus/mfeOperationsStatus/" in status_url
    polls = _status_polls(azure_double)
    assert [p.response_json["status"] for p in polls] == ["InProgress", "Succeeded"]
    assert polls[0].response_headers["retry-after"] == "1"

    got = ml_client.compute.get("k8s")
    assert (got.type, got.namespace, got.provisioning_state) == (
        "kubernetes",
        "models",
        "Succeeded",
    )
    assert [c.name for c in ml_client.compute.list()] == ["k8s"]
    assert [c.name for c in ml_client.compute.list(compute_type="AmlCompute")] == []

    # The same name twice is a 409; a name never attached is a 404.
    with pytest.raises(ResourceExistsError):
        ml_client.compute.begin_attach(KubernetesCompute(name="k8s", resource_id=CLUSTER))
    with pytest.raises(ResourceNotFoundError):
        ml_client.compute.get("absent")

    ml_client.compute.begin_delete("k8s", action="Detach").result()
    [delete] = azure_double.requests("DELETE", "/computes/k8s")
    assert delete.status == 202 and delete.query["underlyingResourceAction"] == "Detach"
    assert "location" in delete.response_headers
    with pytest.raises(ResourceNotFoundError):
        ml_client.compute.get("k8s")


def test_managed_deployment_serves_the_mlflow_model_at_the_scoring_uri(
    ml_client: Any, azure_double: AzureDouble, ridge: RidgeModel
) -> None:
    model = _register(ml_client, ridge)
    endpoint = ml_client.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="diabetes", auth_mode="key")
    ).result()
    assert (endpoint.provisioning_state, endpoint.scoring_uri) == ("Succeeded", None)

    deployment = ml_client.online_deployments.begin_create_or_update(
        ManagedOnlineDeployment(
            name="blue",
            endpoint_name="diabetes",
            model=model,
            instance_type="Standard_DS2_v2",
            instance_count=1,
        )
    ).result()
    assert (deployment.name, deployment.provisioning_state) == ("blue", "Succeeded")
    assert deployment.model.endswith("/models/ridge/versions/1")
    [put] = azure_double.requests("PUT", "/deployments/blue")
    assert (put.status, put.api_version) == (201, DEPLOYMENTS_API)
    assert put.response_json["properties"]["provisioningState"] == "Creating"

    # Traffic is set through the endpoint; its scoring URI is the deployment's real service.
    endpoint.traffic = {"blue": 100}
    ml_client.online_endpoints.begin_create_or_update(endpoint).result()
    endpoint = ml_client.online_endpoints.get("diabetes")
    assert endpoint.traffic == {"blue": 100}
    assert endpoint.scoring_uri.startswith("http://127.0.0.1:")
    assert endpoint.scoring_uri.endswith("/score")
    assert endpoint.openapi_uri == endpoint.scoring_uri.replace("/score", "/swagger.json")
    assert [e.name for e in ml_client.online_endpoints.list()] == ["diabetes"]
    assert [d.name for d in ml_client.online_deployments.list("diabetes")] == ["blue"]
    assert ml_client.online_deployments.get("blue", "diabetes").instance_type == "Standard_DS2_v2"

    keys = ml_client.online_endpoints.get_keys("diabetes")
    assert keys.primary_key and keys.secondary_key and keys.primary_key != keys.secondary_key
    assert _score(endpoint.scoring_uri, None, ridge.rows).status_code == 401
    answer = _score(endpoint.scoring_uri, keys.primary_key, ridge.rows)
    assert answer.status_code == 200, answer.text
    assert answer.json() == pytest.approx(EXPECTED, rel=1e-9)
    assert _score(endpoint.scoring_uri, keys.secondary_key, ridge.rows).status_code == 200

    scorer = azure_double.online.scorer("diabetes", "blue")
    assert scorer is not None and scorer.running
    logs = ml_client.online_deployments.get_logs("blue", "diabetes", lines=3)
    assert logs.splitlines() == scorer.log_lines(3)
    assert any("model ridge version 1 (MLflow" in line for line in scorer.log_lines())
    [get_logs] = azure_double.requests("POST", "/getLogs")
    assert get_logs.request_json == {"tail": 3}

    ml_client.online_endpoints.begin_delete("diabetes").result()
    [delete] = azure_double.requests("DELETE", "/onlineEndpoints/diabetes")
    assert (delete.status, delete.api_version) == (202, ENDPOINTS_API)
    assert {"location", "azure-asyncoperation"} <= set(delete.response_headers)
    assert not scorer.running  # deleting the endpoint deleted its deployment and its service
    with pytest.raises(ResourceNotFoundError):
        ml_client.online_endpoints.get("diabetes")
    with pytest.raises(ResourceNotFoundError):
        ml_client.online_deployments.get("blue", "diabetes")


def test_kubernetes_endpoint_and_deployment_on_an_attached_cluster(
    ml_client: Any, azure_double: AzureDouble, ridge: RidgeModel
) -> None:
    model = _register(ml_client, ridge)
    # A Kubernetes endpoint needs its compute attached first: 400 otherwise.
    with pytest.raises(HttpResponseError) as refused:
        ml_client.online_endpoints.begin_create_or_update(
            KubernetesOnlineEndpoint(name="onprem", compute="k8s", auth_mode="key")
        )
    assert refused.value.status_code == 400 and "attach it first" in str(refused.value)

    ml_client.compute.begin_attach(KubernetesCompute(name="k8s", resource_id=CLUSTER)).result()
    endpoint = ml_client.online_endpoints.begin_create_or_update(
        KubernetesOnlineEndpoint(name="onprem", compute="k8s", auth_mode="key")
    ).result()
    assert isinstance(endpoint, KubernetesOnlineEndpoint)
    assert endpoint.compute is not None and endpoint.compute.endswith("/computes/k8s")

    deployment = ml_client.online_deployments.begin_create_or_update(
        KubernetesOnlineDeployment(
            name="green",
            endpoint_name="onprem",
            model=model,
            instance_count=1,
            resources=ResourceRequirementsSettings(
                requests=ResourceSettings(cpu="1", memory="1Gi")
            ),
        )
    ).result()
    assert isinstance(deployment, KubernetesOnlineDeployment)
    assert deployment.provisioning_state == "Succeeded"
    requests_ = deployment.resources.requests if deployment.resources else None
    assert requests_ is not None and (requests_.cpu, requests_.memory) == ("1", "1Gi")

    endpoint = ml_client.online_endpoints.get("onprem")
    key = ml_client.online_endpoints.get_keys("onprem").primary_key
    answer = _score(endpoint.scoring_uri, key, ridge.rows)
    assert answer.json() == pytest.approx(EXPECTED, rel=1e-9)

    # Deleting the deployment stops its service, and the endpoint no longer routes anywhere.
    scorer = azure_double.online.scorer("onprem", "green")
    assert scorer is not None
    ml_client.online_deployments.begin_delete("green", "onprem").result()
    assert not scorer.running
    assert ml_client.online_endpoints.get("onprem").scoring_uri is None
    assert list(ml_client.online_deployments.list("onprem")) == []


def test_a_failed_deployment_fails_the_poller_with_azures_error(
    ml_client: Any, azure_double: AzureDouble
) -> None:
    ml_client.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="broken", auth_mode="key")
    ).result()
    azure_double.online.fail_deployment("red", "The image could not be pulled.")
    azure_double.online.lro.settings.in_progress_polls = 2

    poller = ml_client.online_deployments.begin_create_or_update(
        ManagedOnlineDeployment(
            name="red",
            endpoint_name="broken",
            model="azureml:ridge:1",
            instance_type="Standard_DS2_v2",
            instance_count=1,
        )
    )
    with pytest.raises(HttpResponseError) as failed:
        poller.result()

    assert "DeploymentFailed" in str(failed.value)
    assert "The image could not be pulled." in str(failed.value)
    statuses = [p.response_json["status"] for p in _status_polls(azure_double)]
    assert statuses[-3:] == ["InProgress", "InProgress", "Failed"]
    assert ml_client.online_deployments.get("red", "broken").provisioning_state == "Failed"
    logs = ml_client.online_deployments.get_logs("red", "broken", lines=10)
    assert logs == "Deployment failed: The image could not be pulled."
    assert azure_double.online.scorer("broken", "red") is None


def test_arm_errors_on_the_online_paths(ml_client: Any, azure_double: AzureDouble) -> None:
    with pytest.raises(ResourceNotFoundError):
        ml_client.online_endpoints.get("nowhere")
    ml_client.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="leaving", auth_mode="key")
    ).result()
    with pytest.raises(ResourceNotFoundError):
        ml_client.online_deployments.get("ghost", "leaving")

    # While the endpoint's delete runs, a deployment to it is a 409.
    azure_double.online.lro.settings.in_progress_polls = 3
    deleting = ml_client.online_endpoints.begin_delete("leaving")
    with pytest.raises(ResourceExistsError) as conflict:
        ml_client.online_deployments.begin_create_or_update(
            ManagedOnlineDeployment(
                name="late",
                endpoint_name="leaving",
                model="azureml:ridge:1",
                instance_type="Standard_DS2_v2",
                instance_count=1,
            )
        )
    assert "being deleted" in str(conflict.value)
    deleting.result()
    with pytest.raises(ResourceNotFoundError):
        ml_client.online_endpoints.get("leaving")
    errors = [e for e in azure_double.requests() if e.status >= 400]
    assert [(e.method, e.status) for e in errors] == [
        ("GET", 404),
        ("GET", 404),
        ("PUT", 409),
        ("GET", 404),
    ]
    assert all(e.response_json["error"]["code"] for e in errors)


def test_a_429_while_polling_is_ridden_out(ml_client: Any, azure_double: AzureDouble) -> None:
    azure_double.fail_next(429, retry_after=1, path_contains="/mfeOperationsStatus/")

    endpoint = ml_client.online_endpoints.begin_create_or_update(
        ManagedOnlineEndpoint(name="busy", auth_mode="key")
    ).result()

    assert endpoint.provisioning_state == "Succeeded"
    polls = _status_polls(azure_double)
    assert [p.status for p in polls] == [429, 200, 200]
    assert polls[0].response_headers["retry-after"] == "1"
    assert [p.response_json["status"] for p in polls[1:]] == ["InProgress", "Succeeded"]
