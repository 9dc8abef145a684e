"""JSON Schemas of the double's response bodies, written for these tests from Microsoft's REST spec.

The definitions follow Azure/azure-rest-api-specs, ``specification/machinelearningservices/
resource-manager/Microsoft.MachineLearningServices/preview/<api-version>/``, at the api-versions
azure-ai-ml 1.23 sends (all three are preview folders; no stable folder has these versions):

- ``2024-10-01-preview/workspaceRP.json``: Workspace, WorkspaceProperties, ProvisioningState,
  PublicNetworkAccessType, WorkspaceHubConfig;
- ``2023-08-01-preview/mfe.json``: ModelContainerResource (+ ModelContainer, AssetContainer),
  ModelVersionResource (+ ModelVersion, AssetBase, AutoDeleteSetting, FlavorData,
  IntellectualProperty), their ``...ArmPaginatedResult`` lists, AssetProvisioningState;
- ``2024-07-01-preview/mfe.json``: DatastoreResource (+ Datastore, AzureDatastore,
  AzureBlobDatastore, DatastoreCredentials), DatastoreSecrets, DatastoreResourceArmPaginatedResult;
- ``specification/common-types/resource-management/v3``: Resource/ProxyResource, SystemData, Sku,
  ManagedServiceIdentity, ErrorResponse/ErrorDetail.

How the spec becomes JSON Schema here:

- ``allOf`` chains are flattened into one object per concrete type, and every object modelled
  is closed (``additionalProperties: false``), so a field the spec does not define fails.
- ``required`` is the spec's; ``x-nullable`` admits ``null``; ``readOnly`` properties are
  allowed (these are responses) and write-only ones (``x-ms-mutability`` without ``read``, such
  as AccountKeyDatastoreCredentials.secrets) are not allowed in a response.
- A discriminated base (Datastore, DatastoreCredentials, DatastoreSecrets) is a ``oneOf`` of the
  subtypes the double serves; a subtype not modelled here fails, on purpose.
- Nested workspace settings the double never serves (encryption, managedNetwork, notebookInfo,
  ...) are typed as objects or arrays without their inner fields.
- ErrorResponse: the spec marks nothing required; ARM's resource-provider contract requires
  ``error.code`` and ``error.message``, and so does this schema.

The cloud metadata document (``/metadata/endpoints``) has no definition in azure-rest-api-specs;
its schema below is the shape azure-ai-ml's ``_azure_environments`` reads.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

JsonSchema = dict[str, Any]

WORKSPACE_API = "2024-10-01-preview"
MODELS_API = "2023-08-01-preview"
DATASTORES_API = "2024-07-01-preview"


def _types(kind: str, nullable: bool) -> str | list[str]:
    return [kind, "null"] if nullable else kind


def string(
    *,
    nullable: bool = False,
    fmt: str | None = None,
    enum: list[str] | None = None,
    min_length: int | None = None,
) -> JsonSchema:
    schema: JsonSchema = {"type": _types("string", nullable)}
    if fmt is not None:
        schema["format"] = fmt
    if enum is not None:
        schema["enum"] = [*enum, None] if nullable else list(enum)
    if min_length is not None:
        schema["minLength"] = min_length
    return schema


def boolean(*, nullable: bool = False) -> JsonSchema:
    return {"type": _types("boolean", nullable)}


def integer(*, nullable: bool = False) -> JsonSchema:
    return {"type": _types("integer", nullable)}


def string_map(*, nullable: bool = False, nullable_values: bool = False) -> JsonSchema:
    return {
        "type": _types("object", nullable),
        "additionalProperties": string(nullable=nullable_values),
    }


def array(items: JsonSchema) -> JsonSchema:
    return {"type": "array", "items": items}


def closed(
    properties: dict[str, JsonSchema], required: tuple[str, ...] = (), *, nullable: bool = False
) -> JsonSchema:
    """An object with exactly these properties (the spec's, flattened)."""
    missing = set(required) - set(properties)
    assert not missing, f"required but not defined: {missing}"
    return {
        "type": _types("object", nullable),
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
    }


def ref(name: str) -> JsonSchema:
    return {"$ref": f"#/$defs/{name}"}


def one_of(*names: str) -> JsonSchema:
    return {"oneOf": [ref(name) for name in names]}


def unmodelled_object(*, nullable: bool = False) -> JsonSchema:
    """A nested definition the double never serves: an object, its fields not checked."""
    return {"type": _types("object", nullable)}


# ---- common-types/resource-management/v3 ---------------------------------------------------

CREATED_BY_TYPE = ["User", "Application", "ManagedIdentity", "Key"]

COMMON: dict[str, JsonSchema] = {
    "SystemData": closed(
        {
            "createdBy": string(),
            "createdByType": string(enum=CREATED_BY_TYPE),
            "createdAt": string(fmt="date-time"),
            "lastModifiedBy": string(),
            "lastModifiedByType": string(enum=CREATED_BY_TYPE),
            "lastModifiedAt": string(fmt="date-time"),
        }
    ),
    "ErrorAdditionalInfo": closed({"type": string(), "info": {"type": "object"}}),
    "ErrorDetail": closed(
        {
            "code": string(),
            "message": string(),
            "target": string(),
            "details": array(ref("ErrorDetail")),
            "additionalInfo": array(ref("ErrorAdditionalInfo")),
        },
        # Not required by the swagger; required by ARM's resource-provider contract.
        ("code", "message"),
    ),
    "ErrorResponse": closed({"error": ref("ErrorDetail")}, ("error",)),
    "Sku": closed(
        {
            "name": string(),
            "tier": string(enum=["Free", "Basic", "Standard", "Premium"]),
            "size": string(),
            "family": string(),
            "capacity": integer(),
        },
        ("name",),
    ),
    "UserAssignedIdentity": closed(
        {"principalId": string(fmt="uuid"), "clientId": string(fmt="uuid")}
    ),
    "ManagedServiceIdentity": closed(
        {
            "principalId": string(fmt="uuid"),
            "tenantId": string(fmt="uuid"),
            "type": string(
                enum=["None", "SystemAssigned", "UserAssigned", "SystemAssigned,UserAssigned"]
            ),
            "userAssignedIdentities": {
                "type": "object",
                "additionalProperties": ref("UserAssignedIdentity"),
            },
        },
        ("type",),
    ),
}

RESOURCE_PROPERTIES: dict[str, JsonSchema] = {
    "id": string(),
    "name": string(),
    "type": string(),
    "systemData": ref("SystemData"),
}

# ---- workspaceRP.json, 2024-10-01-preview ----------------------------------------------------

WORKSPACE: dict[str, JsonSchema] = {
    "WorkspaceHubConfig": closed(
        {
            "additionalWorkspaceStorageAccounts": array(string()),
            "defaultWorkspaceResourceGroup": string(),
        }
    ),
    "WorkspaceProperties": closed(
        {
            "allowPublicAccessWhenBehindVnet": boolean(),
            "allowRoleAssignmentOnRG": boolean(),
            "applicationInsights": string(),
            "associatedWorkspaces": array(string()),
            "containerRegistries": array(string()),
            "containerRegistry": string(),
            "description": string(),
            "discoveryUrl": string(),
            "enableDataIsolation": boolean(),
            "enableServiceSideCMKEncryption": boolean(),
            "enableSimplifiedCmk": boolean(),
            "enableSoftwareBillOfMaterials": boolean(),
            "encryption": unmodelled_object(),
            "existingWorkspaces": array(string()),
            "featureStoreSettings": unmodelled_object(),
            "friendlyName": string(),
            "hbiWorkspace": boolean(),
            "hubResourceId": string(),
            "imageBuildCompute": string(),
            "ipAllowlist": array(string()),
            "keyVault": string(),
            "keyVaults": array(string()),
            "managedNetwork": unmodelled_object(),
            "mlFlowTrackingUri": string(),
            "notebookInfo": unmodelled_object(),
            "primaryUserAssignedIdentity": string(),
            "privateEndpointConnections": array(unmodelled_object()),
            "privateLinkCount": integer(),
            "provisioningState": string(
                enum=[
                    "Unknown",
                    "Updating",
                    "Creating",
                    "Deleting",
                    "Succeeded",
                    "Failed",
                    "Canceled",
                ]
            ),
            "publicNetworkAccess": string(enum=["Enabled", "Disabled"]),
            "serverlessComputeSettings": unmodelled_object(),
            "serviceManagedResourcesSettings": unmodelled_object(),
            "serviceProvisionedResourceGroup": string(),
            "sharedPrivateLinkResources": array(unmodelled_object()),
            "softDeleteRetentionInDays": integer(),
            "storageAccount": string(),
            "storageAccounts": array(string()),
            "storageHnsEnabled": boolean(),
            "systemDatastoresAuthMode": string(),
            "tenantId": string(),
            "v1LegacyMode": boolean(),
            "workspaceHubConfig": ref("WorkspaceHubConfig"),
            "workspaceId": string(),
        }
    ),
    "Workspace": closed(
        {
            **RESOURCE_PROPERTIES,
            "identity": ref("ManagedServiceIdentity"),
            "kind": string(),
            "location": string(),
            "properties": ref("WorkspaceProperties"),
            "sku": ref("Sku"),
            "tags": string_map(),
        },
        ("properties",),
    ),
}

# ---- mfe.json, 2023-08-01-preview: models ----------------------------------------------------

ASSET_PROVISIONING_STATE = ["Succeeded", "Failed", "Canceled", "Creating", "Updating", "Deleting"]

RESOURCE_BASE: dict[str, JsonSchema] = {
    "description": string(nullable=True),
    "properties": string_map(nullable=True, nullable_values=True),
    "tags": string_map(nullable=True, nullable_values=True),
}

MODELS: dict[str, JsonSchema] = {
    "AutoDeleteSetting": closed(
        {
            "condition": string(enum=["CreatedGreaterThan", "LastAccessedGreaterThan"]),
            "value": string(nullable=True),
        },
        nullable=True,
    ),
    "FlavorData": closed({"data": string_map(nullable=True, nullable_values=True)}, nullable=True),
    "IntellectualProperty": closed(
        {
            "protectionLevel": string(enum=["All", "None"]),
            "publisher": string(min_length=1),
        },
        ("publisher",),
        nullable=True,
    ),
    "ModelContainer": closed(
        {
            **RESOURCE_BASE,
            "isArchived": boolean(),
            "latestVersion": string(nullable=True),
            "nextVersion": string(nullable=True),
            "provisioningState": string(enum=ASSET_PROVISIONING_STATE),
        }
    ),
    "ModelContainerResource": closed(
        {**RESOURCE_PROPERTIES, "properties": ref("ModelContainer")}, ("properties",)
    ),
    "ModelContainerResourceArmPaginatedResult": closed(
        {"nextLink": string(), "value": array(ref("ModelContainerResource"))}
    ),
    "ModelVersion": closed(
        {
            **RESOURCE_BASE,
            "autoDeleteSetting": ref("AutoDeleteSetting"),
            "isAnonymous": boolean(),
            "isArchived": boolean(),
            "flavors": {
                "type": ["object", "null"],
                "additionalProperties": ref("FlavorData"),
            },
            "intellectualProperty": ref("IntellectualProperty"),
            "jobName": string(nullable=True),
            "modelType": string(nullable=True),
            "modelUri": string(nullable=True),
            "provisioningState": string(enum=ASSET_PROVISIONING_STATE),
            "stage": string(nullable=True),
        }
    ),
    "ModelVersionResource": closed(
        {**RESOURCE_PROPERTIES, "properties": ref("ModelVersion")}, ("properties",)
    ),
    "ModelVersionResourceArmPaginatedResult": closed(
        {"nextLink": string(), "value": array(ref("ModelVersionResource"))}
    ),
}

# ---- mfe.json, 2024-07-01-preview: datastores ------------------------------------------------


def _credentials(credentials_type: str) -> JsonSchema:
    # AccountKey and Sas credentials also define `secrets`, writable only (create, update).
    return closed(
        {"credentialsType": {"const": credentials_type}},
        ("credentialsType",),
    )


DATASTORES: dict[str, JsonSchema] = {
    "AccountKeyDatastoreCredentials": _credentials("AccountKey"),
    "SasDatastoreCredentials": _credentials("Sas"),
    "NoneDatastoreCredentials": _credentials("None"),
    "DatastoreCredentials": one_of(
        "AccountKeyDatastoreCredentials", "SasDatastoreCredentials", "NoneDatastoreCredentials"
    ),
    "AzureBlobDatastore": closed(
        {
            **RESOURCE_BASE,
            "credentials": ref("DatastoreCredentials"),
            "datastoreType": {"const": "AzureBlob"},
            "isDefault": boolean(),
            "resourceGroup": string(nullable=True),
            "subscriptionId": string(nullable=True),
            "accountName": string(nullable=True),
            "containerName": string(nullable=True),
            "endpoint": string(nullable=True),
            "protocol": string(nullable=True),
            "serviceDataAccessAuthIdentity": string(
                enum=["None", "WorkspaceSystemAssignedIdentity", "WorkspaceUserAssignedIdentity"]
            ),
        },
        ("credentials", "datastoreType"),
    ),
    "Datastore": one_of("AzureBlobDatastore"),
    "DatastoreResource": closed(
        {**RESOURCE_PROPERTIES, "properties": ref("Datastore")}, ("properties",)
    ),
    "DatastoreResourceArmPaginatedResult": closed(
        {"nextLink": string(), "value": array(ref("DatastoreResource"))}
    ),
    "SasDatastoreSecrets": closed(
        {"secretsType": {"const": "Sas"}, "sasToken": string(nullable=True)}, ("secretsType",)
    ),
    "AccountKeyDatastoreSecrets": closed(
        {"secretsType": {"const": "AccountKey"}, "key": string(nullable=True)}, ("secretsType",)
    ),
    "DatastoreSecrets": one_of("SasDatastoreSecrets", "AccountKeyDatastoreSecrets"),
}

# ---- not in the spec: the cloud metadata azure-ai-ml reads ------------------------------------

_URL = string(min_length=1)

METADATA: dict[str, JsonSchema] = {
    "CloudMetadata": closed(
        {
            "name": string(min_length=1),
            "portal": _URL,
            "resourceManager": _URL,
            "authentication": closed(
                {
                    "loginEndpoint": _URL,
                    "audiences": array(string()),
                    "tenant": string(),
                    "identityProvider": string(),
                },
                ("loginEndpoint",),
            ),
            "media": string(),
            "graphAudience": string(),
            "graph": string(),
            "activeDirectoryDataLake": string(),
            "batch": string(),
            "gallery": string(),
            "microsoftGraphResourceId": string(),
            "sqlManagement": string(),
            "vmImageAliasDoc": string(),
            "suffixes": {
                "type": "object",
                "properties": {"storage": string(min_length=1)},
                "required": ["storage"],
                "additionalProperties": string(),
            },
        },
        ("name", "portal", "resourceManager", "authentication", "suffixes"),
    ),
    "CloudMetadataList": array(ref("CloudMetadata")),
}

DEFINITIONS: dict[str, JsonSchema] = {}
for _group in (COMMON, WORKSPACE, MODELS, DATASTORES, METADATA):
    _clash = set(DEFINITIONS) & set(_group)
    assert not _clash, f"a definition is defined twice: {_clash}"
    DEFINITIONS.update(_group)


def schema_for(definition: str) -> JsonSchema:
    """A self-contained JSON Schema for one definition above."""
    if definition not in DEFINITIONS:
        raise KeyError(f"no definition {definition!r} is modelled")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$defs": DEFINITIONS,
        "$ref": f"#/$defs/{definition}",
    }


# ---- the operations: which definition each answer must match ---------------------------------


@dataclass(frozen=True)
class Operation:
    """One operation of the spec: its path, the api-versions modelled, its answers' bodies.

    ``responses`` maps a status to the definition of its body (None: no body). A status of 400
    or more not listed is the spec's ``default`` answer, an ErrorResponse.
    """

    operation_id: str
    method: str
    path: re.Pattern[str]
    api_versions: frozenset[str]
    responses: dict[int, str | None]
    arm: bool = True


_WS = (
    r"/subscriptions/[^/]+/resourceGroups/[^/]+"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/[^/]+"
)


def _path(suffix: str) -> re.Pattern[str]:
    return re.compile(f"^{_WS}{suffix}/?$", re.IGNORECASE)


OPERATIONS: tuple[Operation, ...] = (
    # ml_client.compute reads the workspace (its location) at 2023-08-01-preview: every field the
    # double serves is defined at both versions, so the 2024-10-01-preview schema checks both.
    Operation(
        "Workspaces_Get",
        "GET",
        _path(""),
        frozenset({WORKSPACE_API, "2023-08-01-preview"}),
        {200: "Workspace"},
    ),
    Operation(
        "ModelContainers_List",
        "GET",
        _path("/models"),
        frozenset({MODELS_API}),
        {200: "ModelContainerResourceArmPaginatedResult"},
    ),
    Operation(
        "ModelContainers_Get",
        "GET",
        _path("/models/[^/]+"),
        frozenset({MODELS_API}),
        {200: "ModelContainerResource"},
    ),
    Operation(
        "ModelVersions_List",
        "GET",
        _path("/models/[^/]+/versions"),
        frozenset({MODELS_API}),
        {200: "ModelVersionResourceArmPaginatedResult"},
    ),
    Operation(
        "ModelVersions_Get",
        "GET",
        _path("/models/[^/]+/versions/[^/]+"),
        frozenset({MODELS_API}),
        {200: "ModelVersionResource"},
    ),
    Operation(
        "ModelVersions_CreateOrUpdate",
        "PUT",
        _path("/models/[^/]+/versions/[^/]+"),
        frozenset({MODELS_API}),
        {200: "ModelVersionResource", 201: "ModelVersionResource"},
    ),
    Operation(
        "Datastores_List",
        "GET",
        _path("/datastores"),
        frozenset({DATASTORES_API}),
        {200: "DatastoreResourceArmPaginatedResult"},
    ),
    Operation(
        "Datastores_Get",
        "GET",
        _path("/datastores/[^/]+"),
        frozenset({DATASTORES_API}),
        {200: "DatastoreResource"},
    ),
    Operation(
        "Datastores_ListSecrets",
        "POST",
        _path("/datastores/[^/]+/listSecrets"),
        frozenset({DATASTORES_API}),
        {200: "DatastoreSecrets"},
    ),
    Operation(
        "CloudMetadata (not in azure-rest-api-specs)",
        "GET",
        re.compile(r"^/metadata/endpoints/?$"),
        frozenset({"2019-05-01", "2022-09-01"}),
        {200: "CloudMetadataList"},
        arm=False,
    ),
)


def register(definitions: dict[str, JsonSchema], operations: tuple[Operation, ...]) -> None:
    """Add the definitions and operations of a resource type another module of the double serves."""
    global OPERATIONS
    clash = set(DEFINITIONS) & set(definitions)
    assert not clash, f"a definition is defined twice: {clash}"
    DEFINITIONS.update(definitions)
    OPERATIONS = (*OPERATIONS, *operations)


def find_operation(method: str, path: str) -> Operation | None:
    for operation in OPERATIONS:
        if operation.method == method and operation.path.match(path):
            return operation
    return None


# The resource types other modules of the double serve register here, whoever is imported first
# (at the end: that module imports the helpers above).
from tests.azure_double import spec_schemas_online  # noqa: E402, F401
