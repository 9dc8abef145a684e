"""Online endpoints and their deployments for the double, each deployment a real scoring service.

``install(double)`` plugs in the long-running operations (``lro.py``), Kubernetes computes
(``computes.py``) and ``onlineEndpoints`` (this module; its deployments in ``deployments.py``):
endpoints (managed, or Kubernetes on an attached compute) with key auth, whose keys are a
Lensflow keys file; deployments that, once
their operation succeeds, run Lensflow's scoring app for the deployment's registered model on
127.0.0.1 (``scorer.py``) — the endpoint's ``scoringUri`` is that service's ``/score``. Deleting a
deployment or its endpoint, or resetting the double, stops its scorers.

Knobs for tests: ``fail_deployment(name, message)`` makes the next create of that deployment end
Failed; ``lro.settings.in_progress_polls`` holds every operation InProgress longer.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lensflow.scoring.config import read_keys, write_keys

from tests.azure_double import scorer as scorers
from tests.azure_double.computes import Computes
from tests.azure_double.deployments import NAME, Deployment, Deployments
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
from tests.azure_double.spec_schemas_online import ONLINE_APIS

if TYPE_CHECKING:
    from tests.azure_double.server import AzureDouble


@dataclass
class Endpoint:
    name: str
    compute_type: str  # "Managed" or "Kubernetes"
    auth_mode: str
    compute: str | None
    folder: Path
    location: str
    created: str
    modified: str
    description: str | None = None
    properties: dict[str, str] = field(default_factory=dict)
    traffic: dict[str, int] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    identity: JsonObject | None = None
    state: str = "Creating"
    deployments: dict[str, Deployment] = field(default_factory=dict)

    @property
    def keys_file(self) -> Path:
        return self.folder / "keys.json"


class OnlineDouble:
    def __init__(self, double: AzureDouble) -> None:
        self.double = double
        self.lro = LongRunningOperations(double)
        self.computes = Computes(double, self.lro)
        self.endpoints: dict[str, Endpoint] = {}
        self._lock = threading.RLock()
        self.deployments = Deployments(double, self.lro, self._lock)
        self._root_folder: Path | None = None  # made with the first endpoint
        double.resources["onlineendpoints"] = self.handle
        API_VERSIONS["onlineendpoints"] = ONLINE_APIS
        double.reset_hooks.append(self.reset)

    # ---- what tests use ------------------------------------------------------------------

    def fail_deployment(self, name: str, message: str) -> None:
        """The next create of deployment ``name`` ends Failed with ``message`` (no scorer)."""
        self.deployments.fail_next(name, message)

    def scorer(self, endpoint: str, deployment: str) -> scorers.Scorer | None:
        with self._lock:
            found = self.endpoints.get(endpoint.lower())
            record = found.deployments.get(deployment.lower()) if found else None
            return record.scorer if record else None

    def reset(self) -> None:
        with self._lock:
            endpoints = list(self.endpoints.values())
            self.endpoints.clear()
        self.deployments.reset()
        for endpoint in endpoints:
            self._drop(endpoint)

    def close(self) -> None:
        self.reset()
        if self._root_folder is not None:
            shutil.rmtree(self._root_folder, ignore_errors=True)

    @property
    def _root(self) -> Path:
        if self._root_folder is None:
            self._root_folder = Path(tempfile.mkdtemp(prefix="lensflow-azure-double-online-"))
        return self._root_folder

    # ---- routing -------------------------------------------------------------------------

    def handle(self, exchange: Exchange, segments: list[str], body: Any) -> Answer:
        method = exchange.method
        if not segments:
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")
            with self._lock:
                value = [self._endpoint_json(e) for _, e in sorted(self.endpoints.items())]
            return 200, {}, {"value": value}
        name, rest = segments[0], segments[1:]
        if not rest and method == "PUT":
            return self._put_endpoint(exchange, name, body)
        with self._lock:
            endpoint = self.endpoints.get(name.lower())
        if endpoint is None:
            if not rest and method == "DELETE":
                return 204, {}, None  # ARM: deleting what does not exist is done
            raise self.double._not_found("onlineEndpoints", name)
        if not rest:
            if method == "GET":
                return 200, {}, self._endpoint_json(endpoint)
            if method == "DELETE":
                return self._delete_endpoint(exchange, endpoint)
        elif rest == ["listKeys"] and method == "POST":
            if endpoint.auth_mode != "Key":
                raise ArmError(400, "BadRequest", f"Endpoint {name} does not use key auth.")
            primary, secondary = read_keys(endpoint.keys_file)
            return 200, {}, {"primaryKey": primary, "secondaryKey": secondary}
        elif rest[0].lower() == "deployments" and len(rest) <= 3:
            return self.deployments.handle(exchange, endpoint, rest[1:], body)
        else:
            raise ArmError(404, "NoRegisteredProviderFound", "Unknown endpoint sub-resource.")
        raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")

    # ---- endpoints -----------------------------------------------------------------------

    def _put_endpoint(self, exchange: Exchange, name: str, body: Any) -> Answer:
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict) or not properties.get("authMode"):
            raise ArmError(400, "InvalidRequestContent", "properties.authMode is required.")
        if not NAME.fullmatch(name):
            raise ArmError(400, "BadRequest", f"Invalid endpoint name {name!r}.")
        compute = properties.get("compute")
        compute_type = "Kubernetes" if compute else "Managed"
        if compute is not None:
            compute_name = str(compute).rstrip("/").rsplit("/", 1)[-1]
            if self.computes.kubernetes(compute_name) is None:
                raise ArmError(
                    400,
                    "BadRequest",
                    f"Compute {compute_name!r} is not an attached Kubernetes compute of the "
                    "workspace: attach it first.",
                )
        traffic = {str(k): int(v) for k, v in (properties.get("traffic") or {}).items()}
        now = _iso(_now())
        with self._lock:
            endpoint = self.endpoints.get(name.lower())
            if endpoint is not None and endpoint.state == "Deleting":
                raise ArmError(409, "Conflict", f"Endpoint {name} is being deleted.")
            known = set(endpoint.deployments) if endpoint else set()
            unknown = sorted(k for k in traffic if k.lower() not in known)
            if unknown:
                raise ArmError(
                    400, "BadRequest", f"Traffic names deployments that do not exist: {unknown}."
                )
            if traffic and sum(traffic.values()) != 100:
                raise ArmError(400, "BadRequest", "Traffic values must add up to 100.")
            if endpoint is None:
                folder = self._root / f"{name.lower()}-{now.replace(':', '')}"
                folder.mkdir(parents=True)
                write_keys(folder / "keys.json")
                endpoint = Endpoint(
                    name=name,
                    compute_type=compute_type,
                    auth_mode=str(properties["authMode"]),
                    compute=compute,
                    folder=folder,
                    location=str(body.get("location") or self.double.location),
                    created=now,
                    modified=now,
                )
                self.endpoints[name.lower()] = endpoint
            elif endpoint.compute_type != compute_type:
                raise ArmError(400, "BadRequest", "An endpoint's compute cannot be changed.")
            else:
                endpoint.state, endpoint.modified = "Updating", now
            endpoint.description = properties.get("description")
            endpoint.properties = dict(properties.get("properties") or {})
            endpoint.traffic = {k.lower(): v for k, v in traffic.items()}
            endpoint.tags = dict(body.get("tags") or {})
            endpoint.identity = self._identity(body.get("identity"))
            created = endpoint.state == "Creating"

        def finish(outcome: Outcome) -> None:
            with self._lock:
                endpoint.state, endpoint.modified = outcome[0], _iso(_now())

        operation = self.lro.start(exchange.api_version or "", lambda: ("Succeeded", None), finish)
        status = 201 if created else 200
        return status, self.lro.put_headers(operation), self._endpoint_json(endpoint)

    def _identity(self, identity: Any) -> JsonObject | None:
        """A system-assigned identity as ARM answers it: with its principal and tenant."""
        if not isinstance(identity, dict) or not identity.get("type"):
            return None
        answer: JsonObject = {"type": identity["type"]}
        if "SystemAssigned" in str(identity["type"]):
            answer["principalId"] = "00000000-0000-4000-8000-00000000000c"
            answer["tenantId"] = self.double.tenant_id
        return answer

    def _delete_endpoint(self, exchange: Exchange, endpoint: Endpoint) -> Answer:
        with self._lock:
            endpoint.state = "Deleting"
            for deployment in endpoint.deployments.values():
                deployment.state = "Deleting"

        def finish(_: Outcome) -> None:
            with self._lock:
                self.endpoints.pop(endpoint.name.lower(), None)
            self._drop(endpoint)

        operation = self.lro.start(exchange.api_version or "", lambda: ("Succeeded", None), finish)
        return 202, self.lro.delete_headers(operation), None

    def _drop(self, endpoint: Endpoint) -> None:
        for deployment in list(endpoint.deployments.values()):
            if deployment.scorer is not None:
                deployment.scorer.stop()
        shutil.rmtree(endpoint.folder, ignore_errors=True)

    def _routed(self, endpoint: Endpoint) -> Deployment | None:
        """The deployment the endpoint's URI reaches: most traffic, else the latest running."""
        running = [
            d
            for d in endpoint.deployments.values()
            if d.state == "Succeeded" and d.scorer is not None and d.scorer.running
        ]
        if not running:
            return None
        return max(running, key=lambda d: (endpoint.traffic.get(d.name.lower(), 0), d.modified))

    def _endpoint_json(self, endpoint: Endpoint) -> JsonObject:
        with self._lock:
            routed = self._routed(endpoint)
            properties: JsonObject = {
                "authMode": endpoint.auth_mode,
                "description": endpoint.description,
                "properties": dict(endpoint.properties),
                "scoringUri": routed.scorer.scoring_uri if routed and routed.scorer else None,
                "swaggerUri": routed.scorer.swagger_uri if routed and routed.scorer else None,
                "provisioningState": endpoint.state,
                "traffic": dict(endpoint.traffic),
                "mirrorTraffic": {},
            }
            if endpoint.compute is not None:
                properties["compute"] = endpoint.compute
            answer: JsonObject = {
                "id": f"{self.double.workspace_id}/onlineEndpoints/{endpoint.name}",
                "name": endpoint.name,
                "type": f"{PROVIDER}/workspaces/onlineEndpoints",
                "location": endpoint.location,
                "tags": dict(endpoint.tags),
                "kind": endpoint.compute_type,
                "systemData": self.double._system_data(endpoint.created, endpoint.modified),
                "properties": properties,
            }
            if endpoint.identity is not None:
                answer["identity"] = endpoint.identity
            return answer


def install(double: AzureDouble) -> OnlineDouble:
    return OnlineDouble(double)
