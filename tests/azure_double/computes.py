"""Kubernetes computes (an AKS or Arc cluster attached to the workspace) for the double.

What azure-ai-ml 1.23 sends for ``KubernetesCompute``: ``begin_create_or_update`` / ``begin_attach``
PUT ``computes/<name>`` (a long-running operation: 201 + Azure-AsyncOperation, Creating then
Succeeded), ``get`` and ``list`` GET, ``begin_delete(name, action="Detach")`` DELETE with
``underlyingResourceAction=Detach`` (202 + Location + Azure-AsyncOperation). The double attaches
Kubernetes clusters only, and never deletes a cluster: ``underlyingResourceAction=Delete`` is a 400.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.azure_double.lro import LongRunningOperations, Outcome
from tests.azure_double.server import (
    API_VERSIONS,
    PROVIDER,
    Answer,
    ArmError,
    Exchange,
    JsonObject,
    _iso,
    _now,
)
from tests.azure_double.spec_schemas_online import COMPUTES_API, KUBERNETES_PROPERTIES

if TYPE_CHECKING:
    from tests.azure_double.server import AzureDouble


@dataclass
class ComputeRecord:
    name: str
    resource_id: str
    location: str
    description: str | None
    properties: JsonObject
    created: str
    modified: str
    provisioning_state: str = "Creating"
    tags: dict[str, str] = field(default_factory=dict)


class Computes:
    def __init__(self, double: AzureDouble, lro: LongRunningOperations) -> None:
        self.double = double
        self.lro = lro
        self.records: dict[str, ComputeRecord] = {}
        self._lock = threading.Lock()
        double.resources["computes"] = self.handle
        API_VERSIONS["computes"] = frozenset({COMPUTES_API})
        # ml_client.compute reads the workspace's location with its own (older) client.
        API_VERSIONS["workspaces"] = API_VERSIONS["workspaces"] | {COMPUTES_API}
        double.reset_hooks.append(self.reset)

    def reset(self) -> None:
        with self._lock:
            self.records.clear()

    def kubernetes(self, name: str) -> ComputeRecord | None:
        """The attached cluster of that name, if it exists and is attached (Succeeded)."""
        with self._lock:
            record = self.records.get(name.lower())
        if record is None or record.provisioning_state != "Succeeded":
            return None
        return record

    def arm_id(self, name: str) -> str:
        return f"{self.double.workspace_id}/computes/{name}"

    def handle(self, exchange: Exchange, segments: list[str], body: Any) -> Answer:
        method = exchange.method
        if not segments:
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")
            with self._lock:
                value = [self._json(r) for _, r in sorted(self.records.items())]
            return 200, {}, {"value": value}
        if len(segments) > 1:
            raise ArmError(404, "NoRegisteredProviderFound", "Unknown compute sub-resource.")
        name = segments[0]
        if method == "GET":
            with self._lock:
                record = self.records.get(name.lower())
                if record is None:
                    raise self.double._not_found("computes", name)
                return 200, {}, self._json(record)
        if method == "PUT":
            return self._attach(exchange, name, body)
        if method == "DELETE":
            return self._detach(exchange, name)
        raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")

    def _attach(self, exchange: Exchange, name: str, body: Any) -> Answer:
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            raise ArmError(400, "InvalidRequestContent", "properties is required.")
        if properties.get("computeType") != "Kubernetes":
            raise ArmError(
                400,
                "BadRequest",
                f"The double attaches Kubernetes computes only, not "
                f"{properties.get('computeType')!r}.",
            )
        resource_id = properties.get("resourceId")
        if not isinstance(resource_id, str) or "/providers/" not in resource_id:
            raise ArmError(
                400, "BadRequest", "properties.resourceId must be the cluster's ARM resource ID."
            )
        inner = properties.get("properties") or {}
        now = _iso(_now())
        record = ComputeRecord(
            name=name,
            resource_id=resource_id,
            location=str(body.get("location") or self.double.location),
            description=properties.get("description"),
            # Only what KubernetesProperties defines is kept (the answer is spec-checked).
            properties={
                k: v for k, v in inner.items() if k in KUBERNETES_PROPERTIES and v is not None
            },
            created=now,
            modified=now,
            tags=dict(body.get("tags") or {}),
        )
        record.properties.setdefault("namespace", "default")
        with self._lock:
            if name.lower() in self.records:
                raise ArmError(
                    409,
                    "Conflict",
                    f"A compute named '{name}' already exists in the workspace: detach it first.",
                )
            self.records[name.lower()] = record

        def finish(outcome: Outcome) -> None:
            with self._lock:
                record.provisioning_state = outcome[0]
                record.modified = _iso(_now())

        operation = self.lro.start(exchange.api_version or "", lambda: ("Succeeded", None), finish)
        return 201, self.lro.put_headers(operation), self._json(record)

    def _detach(self, exchange: Exchange, name: str) -> Answer:
        action = exchange.query.get("underlyingResourceAction")
        if action is None or action.lower() != "detach":
            raise ArmError(
                400,
                "BadRequest",
                f"underlyingResourceAction={action!r}: the double only detaches clusters "
                "(underlyingResourceAction=Detach); it never deletes one.",
            )
        with self._lock:
            record = self.records.get(name.lower())
            if record is None:
                raise self.double._not_found("computes", name)
            record.provisioning_state = "Deleting"

        def finish(_: Outcome) -> None:
            with self._lock:
                self.records.pop(name.lower(), None)

        operation = self.lro.start(exchange.api_version or "", lambda: ("Succeeded", None), finish)
        return 202, self.lro.delete_headers(operation), None

    def _json(self, record: ComputeRecord) -> JsonObject:
        compute: JsonObject = {
            "computeType": "Kubernetes",
            "computeLocation": record.location,
            "provisioningState": record.provisioning_state,
            "createdOn": record.created,
            "modifiedOn": record.modified,
            "resourceId": record.resource_id,
            "isAttachedCompute": True,
            "disableLocalAuth": False,
            "properties": dict(record.properties),
        }
        if record.description is not None:
            compute["description"] = record.description
        return {
            "id": self.arm_id(record.name),
            "name": record.name,
            "type": f"{PROVIDER}/workspaces/computes",
            "location": record.location,
            "tags": dict(record.tags),
            "systemData": self.double._system_data(record.created, record.modified),
            "properties": compute,
        }
