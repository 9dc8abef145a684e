"""A test double of Azure Resource Manager, the Azure ML resource provider and Blob storage.

It serves, over HTTPS on 127.0.0.1 (see ``tls.py`` for why TLS), what azure-ai-ml's real HTTP code
asks for when a workspace is read and models are registered:

- ``GET /metadata/endpoints``: the cloud metadata that azure-ai-ml fetches from
  ``ARM_CLOUD_METADATA_URL``; its ``resourceManager`` is the double itself and its storage suffix
  is ``localhost:<port>``, so a datastore's blob URL (``https://<account>.blob.localhost:<port>``)
  comes back here too.
- the workspace, model containers and versions, datastores and their ``listSecrets`` under
  ``/subscriptions/.../providers/Microsoft.MachineLearningServices/workspaces/<name>``;
- Blob storage for ``<account>.blob.localhost``: properties, put, metadata, download, list.

ARM behaviour: a bearer token is required (401 otherwise), the api-version must be one the
double models (400 otherwise), unknown resources are 404, a model version whose path changes is
409, every error body is ``{"error": {"code", "message"}}``; ``fail_next`` makes coming requests
answer an error (for instance 429 with ``Retry-After: 1``). Every request and its answer are
recorded in ``exchanges`` for the tests' assertions and for the spec validation in
``spec_validation.py``.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import json
import re
import secrets
import socket
import threading
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.azure_double.tls import TlsFiles

JsonObject = dict[str, Any]
# What ARM answers: (status, headers, JSON body or None).
Answer = tuple[int, dict[str, str], Any]
# A resource type under the workspace (``models``, ``computes``…): (exchange, path segments
# after the type, JSON body) -> Answer. Raise ArmError for errors.
ResourceHandler = Callable[["Exchange", list[str], Any], Answer]
# A path prefix served outside ARM's JSON conventions (a proxied service): it answers itself.
MountHandler = Callable[[Request, "Exchange", bytes], Awaitable[Response]]

PROVIDER = "Microsoft.MachineLearningServices"
CLOUD_NAME = "LensflowAzureDouble"
BLOB_HOST_SUFFIX = ".blob.localhost"
# The api-versions the double answers, per kind of resource: the ones azure-ai-ml 1.23 sends,
# and the ones spec_schemas.py models. Anything else is a 400, so a new SDK cannot slip past.
API_VERSIONS: dict[str, frozenset[str]] = {
    "workspaces": frozenset({"2024-10-01-preview"}),
    "models": frozenset({"2023-08-01-preview"}),
    "datastores": frozenset({"2024-07-01-preview"}),
}
METADATA_API_VERSIONS = frozenset({"2019-05-01", "2022-09-01"})
BLOB_SERVICE_VERSION = "2025-01-05"


@dataclass
class Exchange:
    """One request the double received and the answer it gave."""

    method: str
    host: str
    path: str
    query: dict[str, str]
    api_version: str | None
    request_headers: dict[str, str]
    request_json: Any
    request_bytes: int
    status: int = 0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_json: Any = None
    response_content_type: str | None = None
    mount: str | None = None  # the mount prefix that answered it, outside ARM's conventions

    @property
    def is_blob(self) -> bool:
        return self.host.split(":")[0].endswith(BLOB_HOST_SUFFIX)


@dataclass
class Fault:
    status: int
    code: str
    message: str
    retry_after: int | None
    path_contains: str | None
    remaining: int


@dataclass
class ModelVersionRecord:
    body: JsonObject
    created_at: str
    modified_at: str


@dataclass
class ModelContainerRecord:
    created_at: str
    modified_at: str
    versions: dict[str, ModelVersionRecord] = field(default_factory=dict)
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    properties: dict[str, str] = field(default_factory=dict)
    is_archived: bool = False


@dataclass
class Blob:
    content: bytes
    metadata: dict[str, str]
    content_type: str
    etag: str
    last_modified: datetime.datetime


class ArmError(Exception):
    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _iso(moment: datetime.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class AzureDouble:
    """The double's state and behaviour; ``serve`` runs it on 127.0.0.1."""

    def __init__(
        self,
        *,
        subscription_id: str = "00000000-0000-4000-8000-000000000001",
        resource_group: str = "lensflow-rg",
        workspace_name: str = "lensflow-ws",
        location: str = "eastus",
        token: str = "lensflow-double-token",
        storage_account: str = "lensflowdouble",
    ) -> None:
        self.subscription_id = subscription_id
        self.resource_group = resource_group
        self.workspace_name = workspace_name
        self.location = location
        self.tenant_id = "00000000-0000-4000-8000-00000000000a"
        self.workspace_guid = str(uuid.UUID(int=0x1E45F10E, version=4))
        self.storage_account = storage_account
        self.blob_container = f"azureml-blobstore-{self.workspace_guid}"
        self.port = 0
        self.ca_bundle: Path | None = None
        self.accepted_tokens = {token}
        self._lock = threading.Lock()
        self.exchanges: list[Exchange] = []
        self._faults: list[Fault] = []
        self.models: dict[str, ModelContainerRecord] = {}
        self.blobs: dict[tuple[str, str], Blob] = {}
        self._sas_signature = ""
        # Other modules of the double plug in here (see ResourceHandler, MountHandler); each
        # registers a reset hook for the state it owns.
        self.resources: dict[str, ResourceHandler] = {
            "models": self._models,
            "datastores": lambda exchange, segments, _body: self._datastores(exchange, segments),
        }
        self.mounts: dict[str, MountHandler] = {}
        self.reset_hooks: list[Callable[[], None]] = []
        # Kubernetes computes, online endpoints and deployments (imported here: they import this).
        from tests.azure_double.online import OnlineDouble

        self.online = OnlineDouble(self)
        self.reset()

    # ---- what tests use ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/metadata/endpoints?api-version=2022-09-01"

    @property
    def storage_suffix(self) -> str:
        return f"localhost:{self.port}"

    @property
    def workspace_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/{PROVIDER}/workspaces/{self.workspace_name}"
        )

    def write_config(self, folder: Path, workspace_name: str | None = None) -> Path:
        """The workspace's config.json, as the Azure portal hands it out, in ``folder``."""
        path = folder / "config.json"
        config = {
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "workspace_name": workspace_name or self.workspace_name,
        }
        path.write_text(json.dumps(config))
        return path

    def reset(self) -> None:
        """Forget every request, fault, model and blob: a fresh workspace."""
        with self._lock:
            self.exchanges.clear()
            self._faults.clear()
            self.models.clear()
            self.blobs.clear()
            self._sas_signature = secrets.token_urlsafe(24)
        for hook in self.reset_hooks:
            hook()

    def fail_next(
        self,
        status: int,
        *,
        code: str | None = None,
        message: str | None = None,
        retry_after: int | None = None,
        path_contains: str | None = None,
        times: int = 1,
    ) -> None:
        """Make the next ``times`` requests (whose path contains ``path_contains``) fail."""
        default_codes = {
            400: "BadRequest",
            401: "AuthenticationFailed",
            404: "ResourceNotFound",
            409: "Conflict",
            429: "TooManyRequests",
            500: "InternalServerError",
            503: "ServiceUnavailable",
        }
        with self._lock:
            self._faults.append(
                Fault(
                    status=status,
                    code=code or default_codes.get(status, "Error"),
                    message=message or f"Injected by the test double: HTTP {status}.",
                    retry_after=retry_after,
                    path_contains=path_contains,
                    remaining=times,
                )
            )

    def requests(
        self, method: str | None = None, path_contains: str | None = None
    ) -> list[Exchange]:
        with self._lock:
            return [
                exchange
                for exchange in self.exchanges
                if (method is None or exchange.method == method)
                and (path_contains is None or path_contains in exchange.path)
            ]

    def blob_names(self) -> list[str]:
        with self._lock:
            return sorted(name for _, name in self.blobs)

    # ---- the ASGI app --------------------------------------------------------------------

    def app(self) -> Starlette:
        methods = ["GET", "HEAD", "PUT", "POST", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", self._endpoint, methods=methods)])

    async def _endpoint(self, request: Request) -> Response:
        raw = await request.body()
        query = dict(parse_qsl(request.url.query, keep_blank_values=True))
        host = request.headers.get("host", "")
        request_json: Any = None
        if raw and "json" in request.headers.get("content-type", ""):
            try:
                request_json = json.loads(raw)
            except ValueError:
                request_json = None
        exchange = Exchange(
            method=request.method,
            host=host,
            path=request.url.path,
            query=query,
            api_version=query.get("api-version"),
            request_headers={k.lower(): v for k, v in request.headers.items()},
            request_json=request_json,
            request_bytes=len(raw),
        )
        with self._lock:
            self.exchanges.append(exchange)
        try:
            fault = self._take_fault(exchange.path)
            if fault is not None:
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                raise ArmError(fault.status, fault.code, fault.message, headers)
            for prefix, mount in self.mounts.items():
                if exchange.path.startswith(prefix):
                    exchange.mount = prefix
                    return await mount(request, exchange, raw)
            if exchange.is_blob:
                status, headers, body = self._blob(request.method, exchange, raw)
            else:
                status, headers, payload = self._arm(exchange, raw)
                body = b"" if payload is None else json.dumps(payload).encode()
                if payload is not None:
                    headers.setdefault("Content-Type", "application/json; charset=utf-8")
                    exchange.response_json = payload
        except ArmError as error:
            status, headers = error.status, dict(error.headers)
            if exchange.is_blob:
                headers["x-ms-error-code"] = error.code
                body = (
                    b""
                    if request.method == "HEAD"
                    else (
                        '<?xml version="1.0" encoding="utf-8"?><Error>'
                        f"<Code>{escape(error.code)}</Code>"
                        f"<Message>{escape(error.message)}</Message></Error>"
                    ).encode()
                )
                if body:
                    headers["Content-Type"] = "application/xml"
            else:
                payload = {"error": {"code": error.code, "message": error.message}}
                exchange.response_json = payload
                body = json.dumps(payload).encode()
                headers["Content-Type"] = "application/json; charset=utf-8"
                if error.status == 401:
                    headers["WWW-Authenticate"] = (
                        f'Bearer authorization_uri="{self.base_url}/login/{self.tenant_id}", '
                        'error="invalid_token", error_description="The access token is invalid."'
                    )
        headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        exchange.status = status
        exchange.response_headers = {k.lower(): v for k, v in headers.items()}
        exchange.response_content_type = exchange.response_headers.get("content-type")
        if request.method == "HEAD":
            headers.setdefault("Content-Length", "0")
            return Response(status_code=status, headers=headers)
        return Response(content=body, status_code=status, headers=headers)

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path_contains is None or fault.path_contains in path:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    # ---- ARM -----------------------------------------------------------------------------

    _WORKSPACE_PATH = re.compile(
        r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
        rf"/providers/{re.escape(PROVIDER)}/workspaces/(?P<ws>[^/]+)(?P<rest>/.*)?$",
        re.IGNORECASE,
    )

    def _arm(self, exchange: Exchange, raw: bytes) -> tuple[int, dict[str, str], Any]:
        if exchange.path.rstrip("/") == "/metadata/endpoints":
            if exchange.method != "GET":
                raise ArmError(405, "MethodNotAllowed", "The metadata endpoint only answers GET.")
            version = exchange.api_version
            if version not in METADATA_API_VERSIONS:
                raise ArmError(
                    400,
                    "InvalidApiVersionParameter",
                    f"The api-version '{version}' is invalid. The supported versions are "
                    f"'{', '.join(sorted(METADATA_API_VERSIONS))}'.",
                )
            return 200, {}, self._cloud_metadata()

        self.authorize(exchange)

        match = self._WORKSPACE_PATH.match(exchange.path)
        if match is None:
            raise ArmError(
                404,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for path '{exchange.path}'.",
            )
        if match["sub"] != self.subscription_id:
            raise ArmError(
                404,
                "SubscriptionNotFound",
                f"The subscription '{match['sub']}' could not be found.",
            )
        if match["rg"].lower() != self.resource_group.lower():
            raise ArmError(
                404, "ResourceGroupNotFound", f"Resource group '{match['rg']}' could not be found."
            )
        if match["ws"].lower() != self.workspace_name.lower():
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{PROVIDER}/workspaces/{match['ws']}' under resource group "
                f"'{match['rg']}' was not found.",
            )
        segments = [s for s in (match["rest"] or "").split("/") if s]
        kind = segments[0].lower() if segments else "workspaces"
        if kind != "workspaces" and kind not in self.resources:
            raise ArmError(
                404,
                "NoRegisteredProviderFound",
                f"The double models no resource type '{kind}' under a workspace.",
            )
        version = exchange.api_version
        if version is None:
            raise ArmError(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        if version not in API_VERSIONS[kind]:
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{version}' is invalid for '{kind}'. The supported versions "
                f"are '{', '.join(sorted(API_VERSIONS[kind]))}'.",
            )
        body: Any = None
        if exchange.method in ("PUT", "POST", "PATCH") and raw:
            if exchange.request_json is None:
                raise ArmError(400, "InvalidRequestContent", "The request content is not JSON.")
            body = exchange.request_json
        if kind == "workspaces":
            if exchange.method != "GET":
                raise ArmError(405, "MethodNotAllowed", "The double only reads the workspace.")
            return 200, {}, self._workspace()
        return self.resources[kind](exchange, segments[1:], body)

    def authorize(self, exchange: Exchange) -> None:
        """ARM's bearer check, for every service of the double: a 401 (answered as ARM does,
        with WWW-Authenticate) unless the token is one the double accepts."""
        authorization = exchange.request_headers.get("authorization", "")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or token not in self.accepted_tokens:
            raise ArmError(
                401,
                "AuthenticationFailed" if not authorization else "InvalidAuthenticationToken",
                "Authentication failed. The 'Authorization' header is missing."
                if not authorization
                else "The access token is invalid.",
            )

    def _cloud_metadata(self) -> list[JsonObject]:
        base = self.base_url + "/"
        return [
            {
                "name": CLOUD_NAME,
                "portal": "https://portal.azure-double.localhost",
                "resourceManager": base,
                "authentication": {
                    "loginEndpoint": f"{base}login/",
                    "audiences": [base],
                    "tenant": "common",
                    "identityProvider": "AAD",
                },
                "media": base,
                "graphAudience": base,
                "graph": base,
                "activeDirectoryDataLake": base,
                "batch": base,
                "gallery": base,
                "microsoftGraphResourceId": base,
                "sqlManagement": base,
                "vmImageAliasDoc": base,
                "suffixes": {
                    "storage": self.storage_suffix,
                    "keyVaultDns": "vault.localhost",
                    "acrLoginServer": "azurecr.localhost",
                    "sqlServerHostname": "database.localhost",
                    "azureDataLakeStoreFileSystem": "azuredatalakestore.localhost",
                    "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.localhost",
                },
            }
        ]

    def _system_data(self, created: str, modified: str) -> JsonObject:
        return {
            "createdAt": created,
            "createdBy": "lensflow-tests@example.invalid",
            "createdByType": "User",
            "lastModifiedAt": modified,
            "lastModifiedBy": "lensflow-tests@example.invalid",
            "lastModifiedByType": "User",
        }

    def _workspace(self) -> JsonObject:
        arm_rg = f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
        host = f"127.0.0.1:{self.port}"
        return {
            "id": self.workspace_id,
            "name": self.workspace_name,
            "type": f"{PROVIDER}/workspaces",
            "location": self.location,
            "kind": "Default",
            "tags": {},
            "sku": {"name": "Basic", "tier": "Basic"},
            "identity": {
                "type": "SystemAssigned",
                "principalId": "00000000-0000-4000-8000-00000000000b",
                "tenantId": self.tenant_id,
            },
            "systemData": self._system_data("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            "properties": {
                "friendlyName": self.workspace_name,
                "description": "Lensflow's Azure ML test double",
                "workspaceId": self.workspace_guid,
                "tenantId": self.tenant_id,
                "provisioningState": "Succeeded",
                "storageAccount": (
                    f"{arm_rg}/providers/Microsoft.Storage/storageAccounts/{self.storage_account}"
                ),
                "keyVault": f"{arm_rg}/providers/Microsoft.KeyVault/vaults/lensflowdoublekv",
                "applicationInsights": (
                    f"{arm_rg}/providers/Microsoft.Insights/components/lensflowdoubleai"
                ),
                "discoveryUrl": f"https://{host}/discovery",
                "mlFlowTrackingUri": f"azureml://{host}/mlflow/v1.0{self.workspace_id}",
                "hbiWorkspace": False,
                "publicNetworkAccess": "Enabled",
                "v1LegacyMode": False,
                "storageHnsEnabled": False,
                "privateLinkCount": 0,
                "enableDataIsolation": False,
            },
        }

    # ---- models --------------------------------------------------------------------------

    def _models(
        self, exchange: Exchange, segments: list[str], body: Any
    ) -> tuple[int, dict[str, str], Any]:
        method = exchange.method
        with self._lock:
            if not segments:
                if method != "GET":
                    raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")
                view = exchange.query.get("listViewType", "ActiveOnly")
                containers = [
                    self._container_json(name, record)
                    for name, record in sorted(self.models.items())
                    if _in_view(record.is_archived, view)
                ]
                return 200, {}, {"value": containers}
            name = segments[0]
            record = self.models.get(name)
            if len(segments) == 1:
                if method != "GET":
                    raise ArmError(405, "MethodNotAllowed", "The double only reads containers.")
                if record is None:
                    raise self._not_found("models", name)
                return 200, {}, self._container_json(name, record)
            if segments[1].lower() != "versions" or len(segments) > 3:
                raise ArmError(404, "NoRegisteredProviderFound", "Unknown model sub-resource.")
            if len(segments) == 2:
                if method != "GET":
                    raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")
                if record is None:
                    return 200, {}, {"value": []}
                return 200, {}, {"value": self._list_versions(name, record, exchange.query)}
            version = segments[2]
            if method == "GET":
                if record is None or version not in record.versions:
                    raise self._not_found("models", f"{name}/versions/{version}")
                return 200, {}, self._version_json(name, version, record.versions[version])
            if method == "PUT":
                return self._put_version(name, version, body)
            raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")

    def _not_found(self, kind: str, name: str) -> ArmError:
        return ArmError(
            404,
            "ResourceNotFound",
            f"The Resource '{PROVIDER}/workspaces/{self.workspace_name}/{kind}/{name}' under "
            f"resource group '{self.resource_group}' was not found.",
        )

    def _put_version(self, name: str, version: str, body: Any) -> tuple[int, dict[str, str], Any]:
        if not isinstance(body, dict) or not isinstance(body.get("properties"), dict):
            raise ArmError(
                400,
                "InvalidRequestContent",
                "The request content was invalid: 'properties' is required.",
            )
        properties: JsonObject = body["properties"]
        model_uri = properties.get("modelUri")
        if not isinstance(model_uri, str) or not model_uri:
            raise ArmError(400, "InvalidRequestContent", "properties.modelUri is required.")
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9\-_.]{0,254}", name):
            raise ArmError(400, "InvalidRequestContent", f"Invalid model name '{name}'.")
        now = _iso(_now())
        record = self.models.get(name)
        if record is None:
            record = ModelContainerRecord(created_at=now, modified_at=now)
            self.models[name] = record
        existing = record.versions.get(version)
        if existing is not None and existing.body.get("modelUri") != model_uri:
            raise ArmError(409, "UserError", "Asset paths cannot be updated.")
        stored: JsonObject = {
            "description": properties.get("description"),
            "properties": dict(properties.get("properties") or {}),
            "tags": dict(properties.get("tags") or {}),
            "isAnonymous": bool(properties.get("isAnonymous", False)),
            "isArchived": bool(properties.get("isArchived", False)),
            "flavors": properties.get("flavors") or {},
            "jobName": properties.get("jobName"),
            "modelType": properties.get("modelType"),
            "modelUri": model_uri,
            "stage": properties.get("stage"),
        }
        created_at = existing.created_at if existing else now
        record.versions[version] = ModelVersionRecord(stored, created_at, now)
        record.modified_at = now
        status = 200 if existing else 201
        return status, {}, self._version_json(name, version, record.versions[version])

    def _list_versions(
        self, name: str, record: ModelContainerRecord, query: dict[str, str]
    ) -> list[JsonObject]:
        view = query.get("listViewType", "ActiveOnly")
        items = [
            (version, stored)
            for version, stored in record.versions.items()
            if _in_view(bool(stored.body.get("isArchived")), view)
            and (query.get("version") in (None, version))
        ]
        order = query.get("$orderBy", "").lower()
        if order.startswith("createdtime"):
            items.sort(key=lambda item: item[1].created_at, reverse=order.endswith("desc"))
        else:
            items.sort(key=lambda item: _version_key(item[0]))
        top = query.get("$top")
        if top is not None and top.isdigit():
            items = items[: int(top)]
        return [self._version_json(name, version, stored) for version, stored in items]

    def _version_json(self, name: str, version: str, stored: ModelVersionRecord) -> JsonObject:
        properties = {key: value for key, value in stored.body.items() if value is not None}
        properties["provisioningState"] = "Succeeded"
        return {
            "id": f"{self.workspace_id}/models/{name}/versions/{version}",
            "name": version,
            "type": f"{PROVIDER}/workspaces/models/versions",
            "systemData": self._system_data(stored.created_at, stored.modified_at),
            "properties": properties,
        }

    def _container_json(self, name: str, record: ModelContainerRecord) -> JsonObject:
        versions = sorted(record.versions, key=_version_key)
        numeric = [int(v) for v in versions if v.isdigit()]
        properties: JsonObject = {
            "properties": dict(record.properties),
            "tags": dict(record.tags),
            "isArchived": record.is_archived,
            "nextVersion": str(max(numeric, default=0) + 1),
            "provisioningState": "Succeeded",
        }
        if record.description is not None:
            properties["description"] = record.description
        if versions:
            latest = max(record.versions.items(), key=lambda item: item[1].created_at)
            properties["latestVersion"] = latest[0]
        return {
            "id": f"{self.workspace_id}/models/{name}",
            "name": name,
            "type": f"{PROVIDER}/workspaces/models",
            "systemData": self._system_data(record.created_at, record.modified_at),
            "properties": properties,
        }

    # ---- datastores ----------------------------------------------------------------------

    def _datastores(
        self, exchange: Exchange, segments: list[str]
    ) -> tuple[int, dict[str, str], Any]:
        method = exchange.method
        if not segments:
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")
            value = [self._datastore_json()]
            if exchange.query.get("isDefault", "").lower() == "false":
                value = []
            names = exchange.query.get("names")
            if names is not None and "workspaceblobstore" not in names.split(","):
                value = []
            return 200, {}, {"value": value}
        name = segments[0]
        if name != "workspaceblobstore":
            raise self._not_found("datastores", name)
        if len(segments) == 1:
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", "The double only reads datastores.")
            return 200, {}, self._datastore_json()
        if len(segments) == 2 and segments[1] == "listSecrets" and method == "POST":
            return 200, {}, {"secretsType": "Sas", "sasToken": self._sas_token()}
        raise ArmError(404, "NoRegisteredProviderFound", "Unknown datastore sub-resource.")

    def _datastore_json(self) -> JsonObject:
        return {
            "id": f"{self.workspace_id}/datastores/workspaceblobstore",
            "name": "workspaceblobstore",
            "type": f"{PROVIDER}/workspaces/datastores",
            "systemData": self._system_data("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            "properties": {
                "description": None,
                "tags": {},
                "properties": {},
                "isDefault": True,
                "credentials": {"credentialsType": "AccountKey"},
                "datastoreType": "AzureBlob",
                "accountName": self.storage_account,
                "containerName": self.blob_container,
                "endpoint": self.storage_suffix,
                "protocol": "https",
                "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity",
                "subscriptionId": self.subscription_id,
                "resourceGroup": self.resource_group,
            },
        }

    def _sas_token(self) -> str:
        expiry = (_now() + datetime.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"sv={BLOB_SERVICE_VERSION}&sr=c&sp=racwdl&se={expiry}&sig={self._sas_signature}"

    # ---- Blob storage --------------------------------------------------------------------

    def _blob(
        self, method: str, exchange: Exchange, raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        account = exchange.host.split(":")[0].removesuffix(BLOB_HOST_SUFFIX)
        if account != self.storage_account:
            raise ArmError(404, "ResourceNotFound", f"The storage account '{account}' is unknown.")
        if exchange.query.get("sig") != self._sas_signature:
            raise ArmError(
                403,
                "AuthenticationFailed",
                "Server failed to authenticate the request: the SAS signature does not match.",
            )
        container, _, blob_name = exchange.path.lstrip("/").partition("/")
        if container != self.blob_container:
            raise ArmError(404, "ContainerNotFound", "The specified container does not exist.")
        # Blob storage answers in the service version the client asked for.
        common = {
            "x-ms-version": exchange.request_headers.get("x-ms-version", BLOB_SERVICE_VERSION)
        }
        comp = exchange.query.get("comp")
        if not blob_name:
            if method == "GET" and comp == "list":
                return 200, {**common, "Content-Type": "application/xml"}, self._list_xml(exchange)
            raise ArmError(400, "InvalidQueryParameterValue", "Unsupported container operation.")
        key = (container, blob_name)
        with self._lock:
            blob = self.blobs.get(key)
            if method == "PUT" and comp == "metadata":
                if blob is None:
                    raise ArmError(404, "BlobNotFound", "The specified blob does not exist.")
                blob.metadata = _metadata_of(exchange.request_headers)
                blob.etag, blob.last_modified = _new_etag(), _now()
                return 200, {**common, **_blob_stamp(blob)}, b""
            if method == "PUT" and comp is None:
                if exchange.request_headers.get("x-ms-blob-type") != "BlockBlob":
                    raise ArmError(400, "InvalidHeaderValue", "The double stores block blobs only.")
                if blob is not None and exchange.request_headers.get("if-none-match") == "*":
                    raise ArmError(409, "BlobAlreadyExists", "The specified blob already exists.")
                md5 = exchange.request_headers.get("content-md5")
                digest = base64.b64encode(hashlib.md5(raw).digest()).decode()
                if md5 is not None and md5 != digest:
                    raise ArmError(400, "Md5Mismatch", "The MD5 value specified does not match.")
                blob = Blob(
                    content=raw,
                    metadata=_metadata_of(exchange.request_headers),
                    content_type=exchange.request_headers.get(
                        "x-ms-blob-content-type", "application/octet-stream"
                    ),
                    etag=_new_etag(),
                    last_modified=_now(),
                )
                self.blobs[key] = blob
                headers = {**common, **_blob_stamp(blob), "Content-MD5": digest}
                headers["x-ms-request-server-encrypted"] = "true"
                return 201, headers, b""
            if method in ("HEAD", "GET") and comp is None:
                if blob is None:
                    raise ArmError(404, "BlobNotFound", "The specified blob does not exist.")
                headers = {
                    **common,
                    **_blob_stamp(blob),
                    "x-ms-blob-type": "BlockBlob",
                    "Content-Type": blob.content_type,
                    "Content-Length": str(len(blob.content)),
                    "Accept-Ranges": "bytes",
                    "x-ms-creation-time": format_datetime(blob.last_modified, usegmt=True),
                    "x-ms-server-encrypted": "true",
                }
                headers.update({f"x-ms-meta-{k}": v for k, v in blob.metadata.items()})
                # azure-storage-blob's download_blob asks for a range and needs a 206 back.
                asked = exchange.request_headers.get("x-ms-range") or exchange.request_headers.get(
                    "range"
                )
                ranged = re.fullmatch(r"bytes=(\d+)-(\d*)", asked or "")
                if method == "GET" and ranged is not None:
                    start, size = int(ranged[1]), len(blob.content)
                    if start >= size:
                        raise ArmError(416, "InvalidRange", "The range specified is invalid.")
                    end = min(int(ranged[2] or size - 1), size - 1)
                    headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                    headers["Content-Length"] = str(end + 1 - start)
                    return 206, headers, blob.content[start : end + 1]
                return 200, headers, b"" if method == "HEAD" else blob.content
        raise ArmError(400, "UnsupportedHttpVerb", f"{method} is not supported by the double.")

    def _list_xml(self, exchange: Exchange) -> bytes:
        prefix = exchange.query.get("prefix", "")
        with self._lock:
            items = sorted(
                (name, blob)
                for (container, name), blob in self.blobs.items()
                if container == self.blob_container and name.startswith(prefix)
            )
        include_metadata = "metadata" in exchange.query.get("include", "")
        parts = [
            '<?xml version="1.0" encoding="utf-8"?>',
            f'<EnumerationResults ServiceEndpoint="https://{exchange.host}/" '
            f'ContainerName="{escape(self.blob_container)}">',
            f"<Prefix>{escape(prefix)}</Prefix><Blobs>",
        ]
        for name, blob in items:
            metadata = ""
            if include_metadata:
                metadata = "<Metadata>" + "".join(
                    f"<{k}>{escape(v)}</{k}>" for k, v in blob.metadata.items()
                )
                metadata += "</Metadata>"
            parts.append(
                f"<Blob><Name>{escape(name)}</Name><Properties>"
                f"<Last-Modified>{format_datetime(blob.last_modified, usegmt=True)}"
                f"</Last-Modified><Etag>{blob.etag}</Etag>"
                f"<Content-Length>{len(blob.content)}</Content-Length>"
                f"<Content-Type>{escape(blob.content_type)}</Content-Type>"
                "<BlobType>BlockBlob</BlobType></Properties>"
                f"{metadata}</Blob>"
            )
        parts.append("</Blobs><NextMarker /></EnumerationResults>")
        return "".join(parts).encode()


def _in_view(archived: bool, view: str) -> bool:
    view = view.lower()
    if view == "all":
        return True
    if view == "archivedonly":
        return archived
    return not archived


def _version_key(version: str) -> tuple[int, int | str]:
    return (0, int(version)) if version.isdigit() else (1, version)


def _metadata_of(headers: dict[str, str]) -> dict[str, str]:
    return {
        k.removeprefix("x-ms-meta-"): v for k, v in headers.items() if k.startswith("x-ms-meta-")
    }


def _new_etag() -> str:
    return f'"0x{secrets.token_hex(8).upper()}"'


def _blob_stamp(blob: Blob) -> dict[str, str]:
    return {"ETag": blob.etag, "Last-Modified": format_datetime(blob.last_modified, usegmt=True)}


# ---- running it ----------------------------------------------------------------------------


class _ThreadedServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        return None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # The SDKs' pooled keep-alive connections would hold a TLS close for up to 30 s: at the
        # end of the session there is nothing left to answer on them, so drop them.
        for connection in list(self.server_state.connections):
            transport = getattr(connection, "transport", None)
            if transport is not None:
                transport.abort()
        await super().shutdown(sockets)


@contextmanager
def serve(double: AzureDouble, tls: TlsFiles) -> Iterator[AzureDouble]:
    """Run the double on 127.0.0.1, on a free port, in a background thread, over HTTPS."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    double.port = sock.getsockname()[1]
    double.ca_bundle = tls.ca_cert
    config = uvicorn.Config(
        double.app(),
        log_level="warning",
        lifespan="off",
        ssl_certfile=str(tls.server_cert),
        ssl_keyfile=str(tls.server_key),
        access_log=False,
        # The SDKs keep connections alive; on shutdown the double waits for them 1 s at most.
        timeout_graceful_shutdown=1,
    )
    server = _ThreadedServer(config)
    thread = threading.Thread(
        target=lambda: asyncio.run(server.serve(sockets=[sock])),
        name="azure-double",
        daemon=True,
    )
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            if not thread.is_alive():
                raise RuntimeError("the Azure double's server thread ended before it started")
            threading.Event().wait(0.01)
        else:
            raise RuntimeError("the Azure double did not start within 5 s")
        yield double
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
