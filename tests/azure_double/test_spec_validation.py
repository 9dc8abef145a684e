"""The spec check itself: it passes conforming bodies and fails the ones the spec rules out."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tests.azure_double.server import Exchange
from tests.azure_double.spec_schemas import DATASTORES_API, MODELS_API, WORKSPACE_API
from tests.azure_double.spec_validation import assert_conforms, body_problems, exchange_problems

pytestmark = pytest.mark.azure_http

WS_ID = (
    "/subscriptions/00000000-0000-4000-8000-000000000001/resourceGroups/rg"
    "/providers/Microsoft.MachineLearningServices/workspaces/ws"
)
SYSTEM_DATA = {
    "createdAt": "2026-01-01T00:00:00Z",
    "createdBy": "someone@example.invalid",
    "createdByType": "User",
    "lastModifiedAt": "2026-01-02T00:00:00+00:00",
    "lastModifiedBy": "someone@example.invalid",
    "lastModifiedByType": "User",
}
MODEL_VERSION: dict[str, Any] = {
    "id": f"{WS_ID}/models/diabetes/versions/1",
    "name": "1",
    "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
    "systemData": SYSTEM_DATA,
    "properties": {
        "description": None,
        "properties": {},
        "tags": {"framework": "sklearn"},
        "isAnonymous": False,
        "isArchived": False,
        "flavors": {},
        "modelType": "custom_model",
        "modelUri": "azureml://subscriptions/x/datastores/workspaceblobstore/paths/a/model.pkl",
        "provisioningState": "Succeeded",
    },
}
WORKSPACE: dict[str, Any] = {
    "id": WS_ID,
    "name": "ws",
    "type": "Microsoft.MachineLearningServices/workspaces",
    "location": "eastus",
    "identity": {"type": "SystemAssigned", "principalId": "00000000-0000-4000-8000-00000000000b"},
    "sku": {"name": "Basic", "tier": "Basic"},
    "properties": {"friendlyName": "ws", "provisioningState": "Succeeded"},
}
DATASTORE: dict[str, Any] = {
    "id": f"{WS_ID}/datastores/workspaceblobstore",
    "name": "workspaceblobstore",
    "type": "Microsoft.MachineLearningServices/workspaces/datastores",
    "properties": {
        "credentials": {"credentialsType": "AccountKey"},
        "datastoreType": "AzureBlob",
        "accountName": "account",
        "containerName": "container",
        "isDefault": True,
    },
}


def _exchange(method: str, path: str, api_version: str | None, status: int, body: Any) -> Exchange:
    return Exchange(
        method=method,
        host="127.0.0.1:1",
        path=path,
        query={} if api_version is None else {"api-version": api_version},
        api_version=api_version,
        request_headers={},
        request_json=None,
        request_bytes=0,
        status=status,
        response_headers={"content-type": "application/json"},
        response_json=body,
        response_content_type="application/json",
    )


@pytest.mark.parametrize(
    ("definition", "body"),
    [
        ("ModelVersionResource", MODEL_VERSION),
        ("Workspace", WORKSPACE),
        ("DatastoreResource", DATASTORE),
        ("ErrorResponse", {"error": {"code": "ResourceNotFound", "message": "Not found."}}),
    ],
)
def test_conforming_bodies_pass(definition: str, body: dict[str, Any]) -> None:
    assert body_problems(definition, body) == []


def test_a_missing_required_field_fails() -> None:
    version = copy.deepcopy(MODEL_VERSION)
    del version["properties"]
    error = {"error": {"code": "ResourceNotFound"}}
    datastore = copy.deepcopy(DATASTORE)
    del datastore["properties"]["datastoreType"]

    assert body_problems("ModelVersionResource", version) == [
        "ModelVersionResource at (body): 'properties' is a required property"
    ]
    assert body_problems("ErrorResponse", error) == [
        "ErrorResponse at error: 'message' is a required property"
    ]
    assert body_problems("DatastoreResource", datastore)


def test_an_unknown_field_fails() -> None:
    version = copy.deepcopy(MODEL_VERSION)
    version["properties"]["innerModelType"] = "custom"
    workspace = copy.deepcopy(WORKSPACE)
    workspace["etag"] = '"1"'

    [version_problem] = body_problems("ModelVersionResource", version)
    [workspace_problem] = body_problems("Workspace", workspace)

    assert version_problem.startswith("ModelVersionResource at properties: Additional properties")
    assert "'innerModelType' was unexpected" in version_problem
    assert "'etag' was unexpected" in workspace_problem


def test_wrong_types_enums_and_formats_fail() -> None:
    version = copy.deepcopy(MODEL_VERSION)
    version["properties"]["provisioningState"] = "Done"
    version["properties"]["isArchived"] = "no"
    version["systemData"] = {**SYSTEM_DATA, "createdAt": "yesterday"}
    workspace = copy.deepcopy(WORKSPACE)
    workspace["identity"]["principalId"] = "not-a-uuid"
    # AccountKey secrets are writable only: the spec keeps them out of every answer.
    datastore = copy.deepcopy(DATASTORE)
    datastore["properties"]["credentials"]["secrets"] = {"secretsType": "AccountKey", "key": "k"}

    problems = " | ".join(body_problems("ModelVersionResource", version))
    assert "properties/isArchived: 'no' is not of type 'boolean'" in problems
    assert "properties/provisioningState: 'Done' is not one of" in problems
    assert "systemData/createdAt: 'yesterday' is not a 'date-time'" in problems
    assert body_problems("Workspace", workspace) == [
        "Workspace at identity/principalId: 'not-a-uuid' is not a 'uuid'"
    ]
    assert body_problems("DatastoreResource", datastore)


def test_answers_are_matched_to_the_spec_operation_by_path_and_api_version() -> None:
    good = _exchange("GET", f"{WS_ID}/models/diabetes/versions/1", MODELS_API, 200, MODEL_VERSION)
    wrong_version = _exchange("GET", WS_ID, "2023-04-01", 200, WORKSPACE)
    unmodelled = _exchange("GET", f"{WS_ID}/jobs/train", WORKSPACE_API, 200, {"id": "x"})
    wrong_body = _exchange("GET", f"{WS_ID}/datastores/workspaceblobstore", DATASTORES_API, 200, {})
    no_body = _exchange("GET", WS_ID, WORKSPACE_API, 200, None)
    bad_error = _exchange("GET", WS_ID, WORKSPACE_API, 404, {"message": "gone"})
    good_error = _exchange(
        "GET",
        WS_ID,
        "2023-04-01",
        400,
        {"error": {"code": "InvalidApiVersionParameter", "message": "x"}},
    )

    assert exchange_problems(good) == []
    assert exchange_problems(good_error) == []
    assert (
        "modelled at ['2023-08-01-preview', '2024-10-01-preview'], not at 2023-04-01"
        in exchange_problems(wrong_version)[0]
    )
    assert "no operation of the spec is modelled" in exchange_problems(unmodelled)[0]
    assert "'properties' is a required property" in exchange_problems(wrong_body)[0]
    assert "defines a Workspace body, and none came" in exchange_problems(no_body)[0]
    assert "'error' is a required property" in " ".join(exchange_problems(bad_error))
    with pytest.raises(AssertionError, match="answered outside Microsoft's REST spec"):
        assert_conforms([good, wrong_body])
    assert assert_conforms([good, good_error]) == 2
