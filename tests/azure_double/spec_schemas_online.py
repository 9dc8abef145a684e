"""JSON Schemas of the double's computes, online endpoints and deployments, from Microsoft's spec.

Written for these tests, in ``spec_schemas.py``'s style (flattened ``allOf``, closed objects, the
spec's ``required``, ``x-nullable`` as ``null``), from Azure/azure-rest-api-specs,
``specification/machinelearningservices/resource-manager/Microsoft.MachineLearningServices/
preview/<api-version>/``, at the api-versions azure-ai-ml 1.23 sends:

- ``2023-08-01-preview/machineLearningServices.json`` (computes): ComputeResource, Compute and
  its Kubernetes subtype with KubernetesProperties, PaginatedComputeResourcesList, the compute
  ProvisioningState; Compute_CreateOrUpdate answers 200/201 (201 with Azure-AsyncOperation),
  Compute_Delete 200/202 (202 with Azure-AsyncOperation and Location).
- ``2022-02-01-preview/mfe.json`` (what ``ml_client.online_endpoints`` sends) and
  ``2023-04-01-preview/mfe.json`` (what ``ml_client.online_deployments`` sends, including its GET of
  the endpoint): OnlineEndpointTrackedResource (+ OnlineEndpoint, EndpointPropertiesBase,
  EndpointAuthMode, EndpointProvisioningState), EndpointAuthKeys, OnlineDeploymentTrackedResource
  (+ OnlineDeployment discriminated by endpointComputeType into ManagedOnlineDeployment and
  KubernetesOnlineDeployment, EndpointDeploymentPropertiesBase, CodeConfiguration, ProbeSettings,
  OnlineRequestSettings, OnlineScaleSettings, ContainerResourceRequirements,
  DeploymentProvisioningState), DeploymentLogs, and the ``...ArmPaginatedResult`` lists.
  Both versions answer on the same paths, so each schema is what the two versions share: 2023-04
  adds OnlineEndpoint.publicNetworkAccess and OnlineDeployment.dataCollector and
  egressPublicNetworkAccess, and drops 2022-02's OnlineDeployment.privateNetworkConnection; none of
  these is allowed here, so an answer that passes is valid at both versions.
  EndpointPropertiesBase.keys is create-only (``x-ms-mutability: [create]``): not in an answer.
- common-types ``resource-management/v3/types.json``: TrackedResource (location required).
- The Azure-AsyncOperation status body is not in mfe.json (the operation URLs belong to ARM's
  resource-provider contract, "asynchronous operations"); its schema is common-types
  ``resource-management/v5/types.json``'s OperationStatusResult: ``status`` required, ``id``,
  ``name``, ``percentComplete``, ``startTime``, ``endTime``, ``error`` (ErrorDetail). The Location
  URL answers 202 while running and 204 when done, both without a body.
"""

from __future__ import annotations

import re

from tests.azure_double.spec_schemas import (
    RESOURCE_PROPERTIES,
    JsonSchema,
    Operation,
    _path,
    array,
    boolean,
    closed,
    integer,
    one_of,
    ref,
    register,
    string,
    string_map,
)

COMPUTES_API = "2023-08-01-preview"
ENDPOINTS_API = "2022-02-01-preview"
DEPLOYMENTS_API = "2023-04-01-preview"
ONLINE_APIS = frozenset({ENDPOINTS_API, DEPLOYMENTS_API})

KUBERNETES_PROPERTIES = (
    "relayConnectionString",
    "serviceBusConnectionString",
    "extensionPrincipalId",
    "extensionInstanceReleaseTrain",
    "vcName",
    "namespace",
    "defaultInstanceType",
    "instanceTypes",
)

_NULLABLE_STRING_MAP = string_map(nullable=True, nullable_values=True)
_INT_MAP = {"type": ["object", "null"], "additionalProperties": {"type": "integer"}}
_DURATION = string()


def _tracked(properties: str) -> JsonSchema:
    return closed(
        {
            **RESOURCE_PROPERTIES,
            "location": string(),
            "tags": string_map(),
            "identity": ref("ManagedServiceIdentity"),
            "kind": string(),
            "sku": ref("Sku"),
            "properties": ref(properties),
        },
        ("location", "properties"),
    )


def _paginated(item: str) -> JsonSchema:
    return closed({"nextLink": string(), "value": array(ref(item))})


COMPUTES: dict[str, JsonSchema] = {
    "KubernetesProperties": closed(
        {
            **{name: string(nullable=True) for name in KUBERNETES_PROPERTIES},
            # InstanceTypeSchema (nodeSelector, resources): served as given, fields unchecked.
            "instanceTypes": {"type": ["object", "null"]},
        }
    ),
    "Kubernetes": closed(
        {
            "computeType": {"const": "Kubernetes"},
            "computeLocation": string(),
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
            "description": string(nullable=True),
            "createdOn": string(fmt="date-time"),
            "modifiedOn": string(fmt="date-time"),
            "resourceId": string(nullable=True),
            "provisioningErrors": {"type": ["array", "null"], "items": ref("ErrorResponse")},
            "isAttachedCompute": boolean(),
            "disableLocalAuth": boolean(),
            "properties": ref("KubernetesProperties"),
        },
        ("computeType",),
    ),
    "Compute": one_of("Kubernetes"),
    "ComputeResource": closed(
        {
            **RESOURCE_PROPERTIES,
            "identity": ref("ManagedServiceIdentity"),
            "location": string(),
            "tags": string_map(nullable=True),
            "sku": ref("Sku"),
            "properties": ref("Compute"),
        }
    ),
    "PaginatedComputeResourcesList": _paginated("ComputeResource"),
}

_DEPLOYMENT_BASE: dict[str, JsonSchema] = {
    # EndpointDeploymentPropertiesBase
    "codeConfiguration": ref("CodeConfiguration"),
    "description": string(nullable=True),
    "environmentId": string(nullable=True),
    "environmentVariables": _NULLABLE_STRING_MAP,
    "properties": _NULLABLE_STRING_MAP,
    # OnlineDeployment
    "appInsightsEnabled": boolean(),
    "instanceType": string(nullable=True),
    "livenessProbe": ref("ProbeSettings"),
    "model": string(nullable=True),
    "modelMountPath": string(nullable=True),
    "provisioningState": string(
        enum=["Creating", "Deleting", "Scaling", "Updating", "Succeeded", "Failed", "Canceled"]
    ),
    "readinessProbe": ref("ProbeSettings"),
    "requestSettings": ref("OnlineRequestSettings"),
    "scaleSettings": {"oneOf": [{"type": "null"}, ref("OnlineScaleSettings")]},
}

ONLINE: dict[str, JsonSchema] = {
    "OnlineEndpoint": closed(
        {
            # EndpointPropertiesBase
            "authMode": string(enum=["AMLToken", "Key", "AADToken"]),
            "description": string(nullable=True),
            "properties": _NULLABLE_STRING_MAP,
            "scoringUri": string(nullable=True, fmt="uri"),
            "swaggerUri": string(nullable=True, fmt="uri"),
            # OnlineEndpoint
            "compute": string(nullable=True),
            "mirrorTraffic": _INT_MAP,
            "provisioningState": string(
                enum=["Creating", "Deleting", "Succeeded", "Failed", "Updating", "Canceled"]
            ),
            "traffic": _INT_MAP,
        },
        ("authMode",),
    ),
    "OnlineEndpointTrackedResource": _tracked("OnlineEndpoint"),
    "OnlineEndpointTrackedResourceArmPaginatedResult": _paginated("OnlineEndpointTrackedResource"),
    "EndpointAuthKeys": closed(
        {"primaryKey": string(nullable=True), "secondaryKey": string(nullable=True)}
    ),
    "CodeConfiguration": closed(
        {"codeId": string(nullable=True), "scoringScript": string(min_length=1)},
        ("scoringScript",),
        nullable=True,
    ),
    "ProbeSettings": closed(
        {
            "failureThreshold": integer(),
            "initialDelay": string(nullable=True),
            "period": _DURATION,
            "successThreshold": integer(),
            "timeout": _DURATION,
        },
        nullable=True,
    ),
    "OnlineRequestSettings": closed(
        {
            "maxConcurrentRequestsPerInstance": integer(),
            "maxQueueWait": _DURATION,
            "requestTimeout": _DURATION,
        },
        nullable=True,
    ),
    "DefaultScaleSettings": closed({"scaleType": {"const": "Default"}}, ("scaleType",)),
    "TargetUtilizationScaleSettings": closed(
        {
            "scaleType": {"const": "TargetUtilization"},
            "maxInstances": integer(),
            "minInstances": integer(),
            "pollingInterval": _DURATION,
            "targetUtilizationPercentage": integer(),
        },
        ("scaleType",),
    ),
    "OnlineScaleSettings": one_of("DefaultScaleSettings", "TargetUtilizationScaleSettings"),
    "ContainerResourceSettings": closed(
        {
            "cpu": string(nullable=True),
            "gpu": string(nullable=True),
            "memory": string(nullable=True),
        },
        nullable=True,
    ),
    "ContainerResourceRequirements": closed(
        {
            "containerResourceLimits": ref("ContainerResourceSettings"),
            "containerResourceRequests": ref("ContainerResourceSettings"),
        },
        nullable=True,
    ),
    "ManagedOnlineDeployment": closed(
        {**_DEPLOYMENT_BASE, "endpointComputeType": {"const": "Managed"}},
        ("endpointComputeType",),
    ),
    "KubernetesOnlineDeployment": closed(
        {
            **_DEPLOYMENT_BASE,
            "endpointComputeType": {"const": "Kubernetes"},
            "containerResourceRequirements": ref("ContainerResourceRequirements"),
        },
        ("endpointComputeType",),
    ),
    "OnlineDeployment": one_of("ManagedOnlineDeployment", "KubernetesOnlineDeployment"),
    "OnlineDeploymentTrackedResource": _tracked("OnlineDeployment"),
    "OnlineDeploymentTrackedResourceArmPaginatedResult": _paginated(
        "OnlineDeploymentTrackedResource"
    ),
    "DeploymentLogs": closed({"content": string(nullable=True)}),
    "OperationStatusResult": closed(
        {
            "id": string(),
            "name": string(),
            "status": string(min_length=1),
            "percentComplete": {"type": "number", "minimum": 0, "maximum": 100},
            "startTime": string(fmt="date-time"),
            "endTime": string(fmt="date-time"),
            "error": ref("ErrorDetail"),
        },
        ("status",),
    ),
}

_LOCATION = r"/subscriptions/[^/]+/providers/Microsoft\.MachineLearningServices/locations/[^/]+"
_ENDPOINT = "/onlineEndpoints/[^/]+"
_DEPLOYMENT = f"{_ENDPOINT}/deployments/[^/]+"
_ALL_APIS = frozenset({COMPUTES_API, *ONLINE_APIS})
_TRACKED_ENDPOINT = "OnlineEndpointTrackedResource"
_TRACKED_DEPLOYMENT = "OnlineDeploymentTrackedResource"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "Compute_List",
        "GET",
        _path("/computes"),
        frozenset({COMPUTES_API}),
        {200: "PaginatedComputeResourcesList"},
    ),
    Operation(
        "Compute_Get",
        "GET",
        _path("/computes/[^/]+"),
        frozenset({COMPUTES_API}),
        {200: "ComputeResource"},
    ),
    Operation(
        "Compute_CreateOrUpdate",
        "PUT",
        _path("/computes/[^/]+"),
        frozenset({COMPUTES_API}),
        {200: "ComputeResource", 201: "ComputeResource"},
    ),
    Operation(
        "Compute_Delete",
        "DELETE",
        _path("/computes/[^/]+"),
        frozenset({COMPUTES_API}),
        {200: None, 202: None},
    ),
    Operation(
        "OnlineEndpoints_List",
        "GET",
        _path("/onlineEndpoints"),
        ONLINE_APIS,
        {200: "OnlineEndpointTrackedResourceArmPaginatedResult"},
    ),
    Operation(
        "OnlineEndpoints_Get", "GET", _path(_ENDPOINT), ONLINE_APIS, {200: _TRACKED_ENDPOINT}
    ),
    Operation(
        "OnlineEndpoints_CreateOrUpdate",
        "PUT",
        _path(_ENDPOINT),
        ONLINE_APIS,
        {200: _TRACKED_ENDPOINT, 201: _TRACKED_ENDPOINT},
    ),
    Operation(
        "OnlineEndpoints_Delete",
        "DELETE",
        _path(_ENDPOINT),
        ONLINE_APIS,
        {200: None, 202: None, 204: None},
    ),
    Operation(
        "OnlineEndpoints_ListKeys",
        "POST",
        _path(f"{_ENDPOINT}/listKeys"),
        ONLINE_APIS,
        {200: "EndpointAuthKeys"},
    ),
    Operation(
        "OnlineDeployments_List",
        "GET",
        _path(f"{_ENDPOINT}/deployments"),
        ONLINE_APIS,
        {200: "OnlineDeploymentTrackedResourceArmPaginatedResult"},
    ),
    Operation(
        "OnlineDeployments_Get", "GET", _path(_DEPLOYMENT), ONLINE_APIS, {200: _TRACKED_DEPLOYMENT}
    ),
    Operation(
        "OnlineDeployments_CreateOrUpdate",
        "PUT",
        _path(_DEPLOYMENT),
        ONLINE_APIS,
        {200: _TRACKED_DEPLOYMENT, 201: _TRACKED_DEPLOYMENT},
    ),
    Operation(
        "OnlineDeployments_Delete",
        "DELETE",
        _path(_DEPLOYMENT),
        ONLINE_APIS,
        {200: None, 202: None, 204: None},
    ),
    Operation(
        "OnlineDeployments_GetLogs",
        "POST",
        _path(f"{_DEPLOYMENT}/getLogs"),
        ONLINE_APIS,
        {200: "DeploymentLogs"},
    ),
    Operation(
        "Azure-AsyncOperation status (ARM RPC; OperationStatusResult)",
        "GET",
        re.compile(f"^{_LOCATION}/mfeOperationsStatus/[^/]+/?$", re.IGNORECASE),
        _ALL_APIS,
        {200: "OperationStatusResult"},
    ),
    Operation(
        "Location result (ARM RPC)",
        "GET",
        re.compile(f"^{_LOCATION}/mfeOperationResults/[^/]+/?$", re.IGNORECASE),
        _ALL_APIS,
        {202: None, 204: None},
    ),
)

register({**COMPUTES, **ONLINE}, OPERATIONS)
