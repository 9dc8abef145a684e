"""Clusters and services of an SDK v2 workspace: attached Kubernetes computes, online endpoints.

A service is an online endpoint with one deployment (`DEPLOYMENT`) taking 100 % of the traffic,
either managed (on an instance type) or on an attached Kubernetes compute. `deploy` starts the
endpoint and returns; a thread per service then creates the deployment and routes the traffic
to it, as `az ml online-deployment create --all-traffic` does. `get_service` reads Azure's
states and that thread's outcome together. Calls block; the workspace runs them with deadlines.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from lensflow_protocol.deployment import MANAGED
from lensflow_protocol.errors import Conflict, Unsupported

from ..placement import require_resource_id
from ..tracking.tags import SCRIPT_TAG
from .interface import AksCluster, AksSpec, AzureService, ServiceSpec

log = logging.getLogger(__name__)

DEPLOYMENT = "default"
ATTACHED_TAG = "lensflow.attached"
# What a service's endpoint carries, so that reading it back gives what v1 keeps in fields.
MODEL_TAG, VERSION_TAG = "lensflow.model", "lensflow.modelVersion"
FRAMEWORK_TAG, CPU_TAG, MEMORY_TAG = "lensflow.framework", "lensflow.cpuCores", "lensflow.memoryGb"
# A rollout waits this long for each of Azure's operations (a managed deployment takes minutes).
OPERATION_TIMEOUT_S = 3600.0
_ENDED = {"Succeeded", "Failed", "Canceled"}


class _Rollout:
    """What the rollout thread of one service has done: its end, or the error it met."""

    def __init__(self) -> None:
        self.done = False
        self.error: str | None = None


def kubernetes_quantity(cpu_cores: float, memory_gb: float) -> tuple[str, str]:
    """The seed's requests as Kubernetes writes them: 1 core -> "1", 0.1 -> "100m", 1 GB ->
    "1Gi", 0.5 -> "512Mi"."""
    milli = round(cpu_cores * 1000)
    cpu = str(milli // 1000) if milli % 1000 == 0 else f"{milli}m"
    mebi = round(memory_gb * 1024)
    memory = f"{mebi // 1024}Gi" if mebi % 1024 == 0 else f"{mebi}Mi"
    return cpu, memory


def _last_segment(value: str | None) -> str | None:
    return value.rstrip("/").rsplit("/", 1)[-1] if value else None


def _cluster(compute: Any) -> AksCluster:
    return AksCluster(
        name=str(compute.name), state=str(compute.provisioning_state or "Creating"), vm_size="",
        agent_count=0, location=getattr(compute, "location", None),
        resource_id=getattr(compute, "resource_id", None),
        namespace=getattr(compute, "namespace", None),
        error="; ".join(map(str, getattr(compute, "provisioning_errors", None) or [])) or None,
        owned=(getattr(compute, "tags", None) or {}).get(ATTACHED_TAG) == "true",
    )  # fmt: skip


def _float_tag(tags: dict[str, str], key: str) -> float:
    try:
        return float(tags.get(key, "0"))
    except ValueError:
        return 0.0


class OnlineServing:
    """Mixed into AzureMLSdkV2, which provides `client` (an MLClient)."""

    managed_endpoints = True
    client: Any

    def _init_online(self) -> None:
        self._rollouts: dict[str, _Rollout] = {}
        self._rollouts_lock = threading.Lock()

    # --- clusters: attached Kubernetes computes ------------------------------------------
    def create_cluster(self, spec: AksSpec) -> AksCluster:
        from azure.ai.ml.entities import KubernetesCompute

        resource_id = require_resource_id(spec.name, spec.resource_id)
        compute = KubernetesCompute(
            name=spec.name, resource_id=resource_id, namespace=spec.namespace or "default",
            tags={ATTACHED_TAG: "true"},
        )  # fmt: skip
        self.client.compute.begin_attach(compute)  # its poller follows it; get_cluster reads it
        return AksCluster(
            spec.name, "Creating", "", 0, resource_id=spec.resource_id,
            namespace=spec.namespace or "default",
        )  # fmt: skip

    def get_cluster(self, name: str) -> AksCluster | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            compute = self.client.compute.get(name)
        except ResourceNotFoundError:
            return None
        return _cluster(compute) if str(compute.type).lower() == "kubernetes" else None

    def list_clusters(self) -> list[AksCluster]:
        return [_cluster(c) for c in self.client.compute.list(compute_type="Kubernetes")]

    def delete_cluster(self, name: str) -> None:
        """Detaches a compute Lensflow attached; the AKS cluster itself stays as it is."""
        compute = self.client.compute.get(name)
        if (getattr(compute, "tags", None) or {}).get(ATTACHED_TAG) != "true":
            raise Conflict(
                f"Lensflow did not attach {name!r}, so it leaves it attached: detach it in Azure "
                "ML studio if you mean to.", clusterName=name,
            )  # fmt: skip
        self.client.compute.begin_delete(name, action="Detach")

    # --- services: online endpoints -------------------------------------------------------
    def deploy(self, spec: ServiceSpec) -> AzureService:
        from azure.ai.ml.constants import AssetTypes

        model = self.client.models.get(spec.model_name, version=str(spec.model_version))
        if model.type != AssetTypes.MLFLOW_MODEL:
            raise Unsupported(
                f"{spec.model_name} version {spec.model_version} is a {model.type}: Azure ML "
                "deploys only MLflow models without a scoring script. Lensflow makes one of the "
                "scikit-learn and ONNX files it registers; log other models with "
                "mlflow.<flavor>.log_model and register that folder (modelFramework MLflow).",
                modelName=spec.model_name,
            )  # fmt: skip
        endpoint, deployment = self._entities(spec, str(model.id))
        started = self.client.online_endpoints.begin_create_or_update(endpoint)
        rollout = _Rollout()
        with self._rollouts_lock:
            self._rollouts[spec.service_name] = rollout
        threading.Thread(
            target=self._roll_out, args=(spec.service_name, started, deployment, rollout),
            name=f"rollout-{spec.service_name}", daemon=True,
        ).start()  # fmt: skip
        return AzureService(
            spec.service_name, "Transitioning", spec.cluster_name or MANAGED, None, None,
            spec.auth_enabled, spec.cpu_cores, spec.memory_gb, spec.replicas, spec.model_name,
            spec.model_version, "MLflow", script=spec.script, instance_type=spec.instance_type,
        )  # fmt: skip

    def _entities(self, spec: ServiceSpec, model_id: str) -> tuple[Any, Any]:
        from azure.ai.ml import entities as e

        tags = {
            MODEL_TAG: spec.model_name, VERSION_TAG: str(spec.model_version),
            FRAMEWORK_TAG: "MLflow", CPU_TAG: f"{spec.cpu_cores:g}",
            MEMORY_TAG: f"{spec.memory_gb:g}", **({SCRIPT_TAG: spec.script} if spec.script else {}),
        }  # fmt: skip
        name = spec.service_name
        if spec.cluster_name is None:
            return (
                e.ManagedOnlineEndpoint(name=name, auth_mode="key", tags=tags),
                e.ManagedOnlineDeployment(
                    name=DEPLOYMENT, endpoint_name=name, model=model_id,
                    instance_type=spec.instance_type, instance_count=spec.replicas,
                ),
            )  # fmt: skip
        cpu, memory = kubernetes_quantity(spec.cpu_cores, spec.memory_gb)
        requests = e.ResourceSettings(cpu=cpu, memory=memory)
        return (
            e.KubernetesOnlineEndpoint(
                name=name, compute=spec.cluster_name, auth_mode="key", tags=tags
            ),
            e.KubernetesOnlineDeployment(
                name=DEPLOYMENT, endpoint_name=name, model=model_id,
                instance_count=spec.replicas,
                resources=e.ResourceRequirementsSettings(requests=requests),
            ),
        )  # fmt: skip

    def _roll_out(self, name: str, started: Any, deployment: Any, rollout: _Rollout) -> None:
        try:
            started.result(timeout=OPERATION_TIMEOUT_S)
            deployments = self.client.online_deployments
            deployments.begin_create_or_update(deployment).result(timeout=OPERATION_TIMEOUT_S)
            endpoint = self.client.online_endpoints.get(name)
            endpoint.traffic = {DEPLOYMENT: 100}
            routed = self.client.online_endpoints.begin_create_or_update(endpoint)
            routed.result(timeout=OPERATION_TIMEOUT_S)
        except Exception as exc:  # the service's state says it; the log keeps the trace
            log.warning("rolling out %s failed", name, exc_info=True)
            rollout.error = _message(exc)
        finally:
            rollout.done = True

    def get_service(self, name: str) -> AzureService | None:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            endpoint = self.client.online_endpoints.get(name)
        except ResourceNotFoundError:
            return None
        return self._service(endpoint)

    def _service(self, endpoint: Any) -> AzureService:
        name = str(endpoint.name)
        deployments = {str(d.name): d for d in self.client.online_deployments.list(name)}
        deployment = deployments.get(DEPLOYMENT)
        state, error = self._state(name, endpoint, deployment)
        tags = {str(k): str(v) for k, v in (endpoint.tags or {}).items()}
        version = tags.get(VERSION_TAG, "0")
        return AzureService(
            name=name, state=state, cluster_name=_last_segment(getattr(endpoint, "compute", None))
            or MANAGED, scoring_uri=endpoint.scoring_uri, swagger_uri=endpoint.openapi_uri,
            auth_enabled=True, cpu_cores=_float_tag(tags, CPU_TAG),
            memory_gb=_float_tag(tags, MEMORY_TAG),
            replicas=int(getattr(deployment, "instance_count", None) or 1),
            model_name=tags.get(MODEL_TAG, ""), model_version=int(version) if version.isdigit()
            else 0, model_framework=tags.get(FRAMEWORK_TAG, ""), error=error,
            script=tags.get(SCRIPT_TAG),
            instance_type=getattr(deployment, "instance_type", None),
        )  # fmt: skip

    def _state(self, name: str, endpoint: Any, deployment: Any) -> tuple[str, str | None]:
        """Transitioning -> Healthy or Failed, from Azure's states and the rollout's outcome."""
        with self._rollouts_lock:
            rollout = self._rollouts.get(name)
        if rollout is not None and rollout.error:
            return "Failed", rollout.error
        endpoint_state = str(endpoint.provisioning_state or "")
        deployment_state = str(getattr(deployment, "provisioning_state", "") or "")
        for what, state in (("endpoint", endpoint_state), ("deployment", deployment_state)):
            if state in ("Failed", "Canceled"):
                return "Failed", f"The {what} {name} is {state} in Azure ML."
        routed = (endpoint.traffic or {}).get(DEPLOYMENT) == 100
        if deployment_state == "Succeeded" and routed:
            return "Healthy", None
        rolling = rollout is not None and not rollout.done
        settled = endpoint_state in _ENDED and (deployment is None or deployment_state in _ENDED)
        if not rolling and settled:
            return "Failed", (
                f"The rollout of {name} stopped before its deployment took the traffic (was "
                "Lensflow stopped while deploying?): clean it up and deploy again."
            )
        return "Transitioning", None

    def list_services(self, cluster_name: str | None) -> list[AzureService]:
        services = [
            self._service(endpoint)
            for endpoint in self.client.online_endpoints.list()
            if str(endpoint.provisioning_state or "") != "Deleting"
        ]
        return [s for s in services if cluster_name in (None, s.cluster_name)]

    def service_keys(self, name: str) -> tuple[str, str]:
        keys = self.client.online_endpoints.get_keys(name)
        return str(keys.primary_key), str(keys.secondary_key)

    def service_logs(self, name: str, tail: int) -> list[str]:
        text = self.client.online_deployments.get_logs(DEPLOYMENT, name, lines=tail)
        return str(text or "").splitlines()

    def delete_service(self, name: str) -> None:
        """Deletes the endpoint, and with it its deployment; Azure goes on in the background."""
        self.client.online_endpoints.begin_delete(name=name)
        with self._rollouts_lock:
            self._rollouts.pop(name, None)


def _message(exc: BaseException) -> str:
    """azure-core errors carry Azure's own message; others say what they are."""
    message = getattr(exc, "message", None)
    return message if isinstance(message, str) and message else str(exc) or type(exc).__name__
