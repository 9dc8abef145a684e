"""The real azure-ai-ml MLClient over HTTPS against the Azure double, every answer spec-checked.

The ``azure_double`` fixture checks, when each test ends, that every JSON body the double sent
matches Microsoft's REST spec at the api-version the SDK asked for (``spec_validation.py``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import Model, Workspace
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
)

from tests.azure_double.conftest import StaticTokenCredential
from tests.azure_double.server import AzureDouble, Exchange
from tests.azure_double.spec_schemas import DATASTORES_API, MODELS_API, WORKSPACE_API

pytestmark = pytest.mark.azure_http


def _arm(double: AzureDouble) -> list[Exchange]:
    return [e for e in double.requests() if not e.is_blob and "/metadata/" not in e.path]


def test_workspace_get_reads_the_workspace_through_cloud_metadata(
    ml_client: Any, azure_double: AzureDouble, credential: StaticTokenCredential
) -> None:
    workspace = ml_client.workspaces.get(azure_double.workspace_name)

    assert isinstance(workspace, Workspace)
    assert workspace.name == azure_double.workspace_name
    assert workspace.location == azure_double.location
    assert workspace.id == azure_double.workspace_id
    assert workspace.mlflow_tracking_uri is not None
    assert workspace.mlflow_tracking_uri.startswith(f"azureml://127.0.0.1:{azure_double.port}/")
    assert workspace.mlflow_tracking_uri.endswith(azure_double.workspace_id)
    assert workspace.discovery_url == f"{azure_double.base_url}/discovery"

    # The SDK found the double's cloud through ARM_CLOUD_METADATA_URL and asked for a token
    # scoped to the double as its resource manager.
    metadata = azure_double.requests("GET", "/metadata/endpoints")
    assert metadata and all(e.status == 200 for e in metadata)
    assert credential.scopes and set(credential.scopes) == {(f"{azure_double.base_url}/.default",)}
    [get] = _arm(azure_double)
    assert (get.method, get.path, get.status) == ("GET", azure_double.workspace_id, 200)
    assert get.api_version == WORKSPACE_API
    token = next(iter(azure_double.accepted_tokens))
    assert get.request_headers["authorization"] == f"Bearer {token}"


def test_custom_model_from_a_local_file_uploads_it_and_gets_versions(
    ml_client: Any, azure_double: AzureDouble, model_file: Path, tmp_path: Path
) -> None:
    first = ml_client.models.create_or_update(
        Model(name="diabetes", path=str(model_file), type=AssetTypes.CUSTOM_MODEL)
    )
    retrained = tmp_path / "retrained" / "model.pkl"
    retrained.parent.mkdir()
    retrained.write_bytes(b"\x80\x04retrained bytes\x00")
    second = ml_client.models.create_or_update(
        Model(name="diabetes", path=str(retrained), type=AssetTypes.CUSTOM_MODEL)
    )

    assert (first.name, first.version, second.version) == ("diabetes", "1", "2")
    assert first.type == AssetTypes.CUSTOM_MODEL
    # The file went to the workspace's blob datastore, through the datastore's SAS.
    blobs = azure_double.blob_names()
    assert len(blobs) == 2 and all(name.endswith("/model.pkl") for name in blobs)
    contents = {blob.content for blob in azure_double.blobs.values()}
    assert contents == {model_file.read_bytes(), retrained.read_bytes()}
    assert all(b.metadata.get("upload_status") == "completed" for b in azure_double.blobs.values())
    assert any(first.path.endswith(f"/datastores/workspaceblobstore/paths/{b}") for b in blobs)

    puts = azure_double.requests("PUT", "/models/diabetes/versions/")
    assert [e.path.rsplit("/", 1)[1] for e in puts] == ["1", "2"]
    assert [e.status for e in puts] == [201, 201]
    assert all(e.api_version == MODELS_API for e in puts)
    body = puts[0].request_json["properties"]
    assert body["modelType"] == "custom_model"
    assert body["modelUri"].startswith("azureml://subscriptions/")
    assert body["modelUri"].endswith("/model.pkl")
    secrets = azure_double.requests("POST", "/datastores/workspaceblobstore/listSecrets")
    assert secrets and all(e.api_version == DATASTORES_API for e in secrets)
    assert all(e.request_json == {"expirableSecret": True, "expireAfterHours": 1} for e in secrets)


def test_mlflow_model_from_a_local_folder_uploads_every_file(
    ml_client: Any, azure_double: AzureDouble, mlflow_folder: Path
) -> None:
    model = ml_client.models.create_or_update(
        Model(
            name="diabetes-mlflow",
            path=str(mlflow_folder),
            type=AssetTypes.MLFLOW_MODEL,
            description="sklearn, logged by MLflow",
            tags={"framework": "sklearn"},
        )
    )

    assert (model.name, model.version, model.type) == ("diabetes-mlflow", "1", "mlflow_model")
    assert model.description == "sklearn, logged by MLflow"
    assert model.tags == {"framework": "sklearn"}
    uploaded = {name.rsplit("/", 1)[1]: name for name in azure_double.blob_names()}
    assert set(uploaded) == {"MLmodel", "model.pkl", "conda.yaml"}
    for file_name, blob_name in uploaded.items():
        content = azure_double.blobs[(azure_double.blob_container, blob_name)].content
        assert content == (mlflow_folder / file_name).read_bytes()
    [put] = azure_double.requests("PUT", "/models/diabetes-mlflow/versions/1")
    assert put.request_json["properties"]["modelType"] == "mlflow_model"
    assert put.request_json["properties"]["modelUri"].endswith("/mlflow-model")
    assert model.path == put.request_json["properties"]["modelUri"]


def test_models_list_gives_containers_and_versions(
    ml_client: Any, azure_double: AzureDouble, model_file: Path, mlflow_folder: Path
) -> None:
    for _ in range(2):
        ml_client.models.create_or_update(
            Model(name="diabetes", version=None, path=str(model_file), type="custom_model")
        )
    ml_client.models.create_or_update(
        Model(name="diabetes-mlflow", path=str(mlflow_folder), type="mlflow_model")
    )

    containers = {model.name: model.latest_version for model in ml_client.models.list()}
    versions = sorted(model.version for model in ml_client.models.list(name="diabetes"))

    assert containers == {"diabetes": "2", "diabetes-mlflow": "1"}
    assert versions == ["1", "2"]
    lists = azure_double.requests("GET")
    assert any(
        e.path.endswith("/models") and e.query["listViewType"] == "ActiveOnly" for e in lists
    )
    # The same file registered twice is uploaded once: the SDK finds the blob it confirmed.
    assert len(azure_double.blob_names()) == 1 + 3


def test_a_missing_model_is_resource_not_found(ml_client: Any, azure_double: AzureDouble) -> None:
    with pytest.raises(ResourceNotFoundError) as raised:
        ml_client.models.get("no-such-model", version="1")

    assert raised.value.status_code == 404
    assert raised.value.error is not None and raised.value.error.code == "ResourceNotFound"
    [answer] = _arm(azure_double)
    assert answer.status == 404
    assert answer.response_json["error"]["code"] == "ResourceNotFound"
    assert "no-such-model" in answer.response_json["error"]["message"]


def test_a_429_with_retry_after_is_ridden_out(ml_client: Any, azure_double: AzureDouble) -> None:
    azure_double.fail_next(429, retry_after=1, path_contains="/workspaces/")

    started = time.monotonic()
    workspace = ml_client.workspaces.get(azure_double.workspace_name)
    elapsed = time.monotonic() - started

    assert workspace.name == azure_double.workspace_name
    first, second = _arm(azure_double)
    assert (first.status, first.response_headers["retry-after"]) == (429, "1")
    assert first.response_json["error"]["code"] == "TooManyRequests"
    assert second.status == 200 and second.path == first.path
    assert elapsed >= 1.0, "the SDK did not wait the Retry-After second"


def test_a_changed_path_for_an_existing_version_is_a_conflict(
    ml_client: Any, azure_double: AzureDouble, model_file: Path, mlflow_folder: Path
) -> None:
    ml_client.models.create_or_update(
        Model(name="diabetes", version="1", path=str(model_file), type="custom_model")
    )
    with pytest.raises(ResourceExistsError) as raised:
        ml_client.models.create_or_update(
            Model(name="diabetes", version="1", path=str(mlflow_folder), type="mlflow_model")
        )
    assert raised.value.status_code == 409
    assert "Asset paths cannot be updated" in str(raised.value)


def test_a_rejected_token_is_a_client_authentication_error(
    azure_double: AzureDouble,
) -> None:
    from azure.ai.ml import MLClient

    client = MLClient(
        StaticTokenCredential("not-the-token"),
        subscription_id=azure_double.subscription_id,
        resource_group_name=azure_double.resource_group,
        workspace_name=azure_double.workspace_name,
        enable_telemetry=False,
    )
    with pytest.raises(ClientAuthenticationError) as raised:
        client.workspaces.get(azure_double.workspace_name)
    assert raised.value.status_code == 401
    [answer] = _arm(azure_double)
    assert answer.response_json["error"]["code"] == "InvalidAuthenticationToken"
    assert answer.response_headers["www-authenticate"].startswith("Bearer ")


def test_a_bad_request_surfaces_as_http_response_error(
    ml_client: Any, azure_double: AzureDouble
) -> None:
    azure_double.fail_next(
        400,
        code="InvalidRequestContent",
        message="The body is not valid.",
        path_contains="/models/",
    )
    with pytest.raises(HttpResponseError) as raised:
        ml_client.models.get("diabetes", version="1")
    assert raised.value.status_code == 400
    assert raised.value.error is not None and raised.value.error.code == "InvalidRequestContent"
