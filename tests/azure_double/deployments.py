"""Online deployments for the double (``online.py`` routes ``onlineEndpoints/<e>/deployments``).

A deployment's create or update is a long-running operation that ends Succeeded once its scorer
(Lensflow's scoring app for the deployment's model, ``scorer.py``) answers /ping, or Failed when
the scorer fails to start or a test asked for a failure (``OnlineDouble.fail_deployment``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.azure_double import scorer as scorers
from tests.azure_double.lro import LongRunningOperations, Outcome
from tests.azure_double.model_files import materialize
from tests.azure_double.server import PROVIDER, Answer, ArmError, Exchange, JsonObject, _iso, _now

if TYPE_CHECKING:
    from tests.azure_double.online import Endpoint
    from tests.azure_double.server import AzureDouble

NAME = re.compile(r"[a-zA-Z][a-zA-Z0-9-]{1,31}")
# What the double keeps of a deployment's properties (all defined by the spec at both versions).
_DEPLOYMENT_FIELDS = (
    "description", "environmentId", "environmentVariables", "properties", "appInsightsEnabled",
    "instanceType", "livenessProbe", "readinessProbe", "requestSettings", "scaleSettings",
    "modelMountPath", "codeConfiguration", "containerResourceRequirements",
)  # fmt: skip

_DEFAULT_SCALE: dict[str, JsonObject] = {
    "Managed": {"scaleType": "Default"},
    "Kubernetes": {
        "scaleType": "TargetUtilization",
        "minInstances": 1,
        "maxInstances": 1,
        "pollingInterval": "PT1S",
        "targetUtilizationPercentage": 70,
    },
}


@dataclass
class Deployment:
    name: str
    endpoint: str
    compute_type: str
    model: str
    properties: JsonObject
    location: str
    created: str
    modified: str
    tags: dict[str, str] = field(default_factory=dict)
    sku: JsonObject | None = None
    state: str = "Creating"
    scorer: scorers.Scorer | None = None
    failure: str | None = None


class Deployments:
    def __init__(
        self, double: AzureDouble, lro: LongRunningOperations, lock: threading.RLock
    ) -> None:
        self.double = double
        self.lro = lro
        self._lock = lock  # the endpoints' lock: a deployment lives in its endpoint's record
        self._failures: dict[str, str] = {}

    def fail_next(self, name: str, message: str) -> None:
        with self._lock:
            self._failures[name.lower()] = message

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()

    def handle(
        self, exchange: Exchange, endpoint: Endpoint, segments: list[str], body: Any
    ) -> Answer:
        method = exchange.method
        if not segments:
            if method != "GET":
                raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")
            with self._lock:
                items = sorted(endpoint.deployments.items())
                return 200, {}, {"value": [self._deployment_json(d) for _, d in items]}
        name = segments[0]
        if len(segments) == 1 and method == "PUT":
            return self._put_deployment(exchange, endpoint, name, body)
        with self._lock:
            deployment = endpoint.deployments.get(name.lower())
        if deployment is None:
            if len(segments) == 1 and method == "DELETE":
                return 204, {}, None
            raise self.double._not_found(f"onlineEndpoints/{endpoint.name}/deployments", name)
        if len(segments) == 1 and method == "GET":
            return 200, {}, self._deployment_json(deployment)
        if len(segments) == 1 and method == "DELETE":
            return self._delete_deployment(exchange, endpoint, deployment)
        if segments[1:] == ["getLogs"] and method == "POST":
            return 200, {}, {"content": self._logs(deployment, body)}
        raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")

    def _put_deployment(
        self, exchange: Exchange, endpoint: Endpoint, name: str, body: Any
    ) -> Answer:
        properties = body.get("properties") if isinstance(body, dict) else None
        if not isinstance(properties, dict):
            raise ArmError(400, "InvalidRequestContent", "properties is required.")
        if not NAME.fullmatch(name):
            raise ArmError(400, "BadRequest", f"Invalid deployment name {name!r}.")
        compute_type = properties.get("endpointComputeType")
        if compute_type != endpoint.compute_type:
            raise ArmError(
                400,
                "BadRequest",
                f"A {compute_type} deployment cannot go to {endpoint.compute_type} endpoint "
                f"{endpoint.name}.",
            )
        model = properties.get("model")
        if not isinstance(model, str) or not model:
            raise ArmError(400, "BadRequest", "properties.model is required by the double.")
        now = _iso(_now())
        with self._lock:
            if endpoint.state == "Deleting":
                raise ArmError(409, "Conflict", f"Endpoint {endpoint.name} is being deleted.")
            previous = endpoint.deployments.get(name.lower())
            failure = self._failures.pop(name.lower(), None)
        folder = endpoint.folder / name.lower() / now.replace(":", "")
        scorer: scorers.Scorer | None = None
        if failure is None:
            files = materialize(self.double, model, folder / "model")
            scorer = scorers.Scorer(
                folder=folder,
                service_name=f"{endpoint.name}-{name}",
                model_name=files.name,
                model_version=int(files.version) if files.version.isdigit() else 1,
                framework=files.framework,
                model_path=files.path,
                keys_file=endpoint.keys_file,
            )
        deployment = Deployment(
            name=name,
            endpoint=endpoint.name,
            compute_type=compute_type,
            model=model,
            properties={
                # Azure fills in the scale settings the spec names as defaults; the SDK needs them.
                "scaleSettings": _DEFAULT_SCALE[compute_type],
                **{k: properties[k] for k in _DEPLOYMENT_FIELDS if properties.get(k) is not None},
            },
            location=str(body.get("location") or endpoint.location),
            created=previous.created if previous else now,
            modified=now,
            tags=dict(body.get("tags") or {}),
            sku=body.get("sku"),
            state="Creating" if previous is None else "Updating",
            scorer=scorer,
        )
        with self._lock:
            endpoint.deployments[name.lower()] = deployment
        if previous is not None and previous.scorer is not None:
            previous.scorer.stop()
        if scorer is not None:
            scorer.start()

        def check() -> Outcome:
            if failure is not None:
                return "Failed", {"code": "DeploymentFailed", "message": failure}
            assert scorer is not None
            state = scorer.state()
            if state == "Ready":
                return "Succeeded", None
            if state == "Failed":
                message = scorer.error or "The scoring service failed to start."
                return "Failed", {"code": "DeploymentFailed", "message": message}
            return "InProgress", None

        def finish(outcome: Outcome) -> None:
            with self._lock:
                deployment.state, deployment.modified = outcome[0], _iso(_now())
                if outcome[1] is not None:
                    deployment.failure = str(outcome[1]["message"])

        operation = self.lro.start(exchange.api_version or "", check, finish)
        status = 201 if previous is None else 200
        return status, self.lro.put_headers(operation), self._deployment_json(deployment)

    def _delete_deployment(
        self, exchange: Exchange, endpoint: Endpoint, deployment: Deployment
    ) -> Answer:
        with self._lock:
            if endpoint.traffic.get(deployment.name.lower(), 0) > 0:
                raise ArmError(
                    400,
                    "BadRequest",
                    f"Deployment {deployment.name} takes traffic: set it to 0 before deleting.",
                )
            deployment.state = "Deleting"

        def finish(_: Outcome) -> None:
            with self._lock:
                endpoint.deployments.pop(deployment.name.lower(), None)
            if deployment.scorer is not None:
                deployment.scorer.stop()

        operation = self.lro.start(exchange.api_version or "", lambda: ("Succeeded", None), finish)
        return 202, self.lro.delete_headers(operation), None

    def _logs(self, deployment: Deployment, body: Any) -> str:
        tail = body.get("tail") if isinstance(body, dict) else None
        lines = deployment.scorer.log_lines() if deployment.scorer else []
        if deployment.failure is not None:
            lines.append(f"Deployment failed: {deployment.failure}")
        if isinstance(tail, int) and not isinstance(tail, bool):
            lines = lines[-tail:] if tail > 0 else []
        return "\n".join(lines)

    def _deployment_json(self, deployment: Deployment) -> JsonObject:
        properties: JsonObject = {
            **deployment.properties,
            "endpointComputeType": deployment.compute_type,
            "model": deployment.model,
            "provisioningState": deployment.state,
        }
        answer: JsonObject = {
            "id": (
                f"{self.double.workspace_id}/onlineEndpoints/{deployment.endpoint}"
                f"/deployments/{deployment.name}"
            ),
            "name": deployment.name,
            "type": f"{PROVIDER}/workspaces/onlineEndpoints/deployments",
            "location": deployment.location,
            "tags": dict(deployment.tags),
            "kind": deployment.compute_type,
            "systemData": self.double._system_data(deployment.created, deployment.modified),
            "properties": properties,
        }
        if deployment.sku is not None:
            answer["sku"] = deployment.sku
        return answer
