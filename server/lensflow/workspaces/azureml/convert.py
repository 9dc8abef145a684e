"""Azure's states and records → Lensflow's wire models."""

from __future__ import annotations

from typing import Any

from lensflow_protocol.deployment import ClusterInfo, ClusterState, ServiceInfo, ServiceState
from lensflow_protocol.errors import Unsupported

from lensflow.frameworks import AZURE_NAMES

from ..catalog import CATALOG
from .interface import AksCluster, AzureService

CLUSTER_SETTLED = {"Succeeded", "Failed", "Canceled"}
SERVICE_SETTLED = {"Healthy", "Unhealthy", "Failed", "Unschedulable", "Crashloop"}
# Azure's values for our frameworks (the same names) deploy with no scoring script; so does
# its own "Multi", which Lensflow never registers.
NO_CODE_FRAMEWORKS = {*AZURE_NAMES, "Multi"}

_CLUSTER_STATES: dict[str, ClusterState] = {
    "succeeded": "Succeeded", "failed": "Failed", "canceled": "Failed", "deleting": "Deleting",
}  # fmt: skip
_SERVICE_STATES: dict[str, ServiceState] = {
    "healthy": "Healthy", "unhealthy": "Unhealthy", "failed": "Failed",
    "unschedulable": "Failed", "crashloop": "CrashLoopBackOff",
}  # fmt: skip


def cluster_state(azure_state: str) -> ClusterState:
    """Creating, Updating, Unknown… all mean "not there yet"."""
    return _CLUSTER_STATES.get(azure_state.lower(), "Creating")


def service_state(azure_state: str) -> ServiceState:
    return _SERVICE_STATES.get(azure_state.lower(), "Transitioning")


def still_running(what: str, name: str) -> str:
    """What a cancelled wait tells the user."""
    listing = "lensflow.listClusters" if what == "cluster" else "lensflow.listServices"
    return (
        f"Stopped waiting for the {what} {name}; the operation goes on in Azure. "
        f"{listing} shows its state, and a notification follows when it settles."
    )


def cluster_info(
    cluster: AksCluster,
    state: ClusterState | None = None,
    error: str | None = None,
    services: list[str] | None = None,
) -> ClusterInfo:
    size = CATALOG.get(cluster.vm_size.lower())
    count = cluster.agent_count
    purpose = "FastProd" if cluster.cluster_purpose == "FastProd" else "DevTest"
    return ClusterInfo(
        name=cluster.name,
        state=state or cluster_state(cluster.state),
        vm_size=cluster.vm_size,
        node_count=count,
        cluster_purpose=purpose,
        cpu_cores=float(size.vcpus * count) if size else 0.0,
        memory_gb=float(size.memory_gb * count) if size else 0.0,
        location=cluster.location,
        services=services or [],
        error=error or cluster.error,
        resource_id=cluster.resource_id,
        namespace=cluster.namespace,
    )


def service_info(
    service: AzureService, state: ServiceState | None = None, error: str | None = None
) -> ServiceInfo:
    return ServiceInfo(
        service_name=service.name,
        state=state or service_state(service.state),
        cluster_name=service.cluster_name,
        model_name=service.model_name,
        model_version=service.model_version,
        model_framework=service.model_framework,
        scoring_uri=service.scoring_uri or "",
        swagger_uri=service.swagger_uri or "",
        auth_enabled=service.auth_enabled,
        cpu_cores=service.cpu_cores,
        memory_gb=service.memory_gb,
        replicas=service.replicas,
        error=error or service.error,
        script=service.script,
        instance_type=service.instance_type,
    )


def mlflow_body(body: Any) -> Any:
    """The seed's `{"data": rows, "method": "predict"}` as an Azure ML MLflow deployment takes
    it, `{"input_data": rows}`; a body already in that form (or any other) goes as it is."""
    if not isinstance(body, dict) or "input_data" in body or "data" not in body:
        return body
    method = body.get("method", "predict")
    if method != "predict":
        raise Unsupported(
            f"An MLflow deployment answers predict only, not {str(method)[:40]!r}: leave "
            "`method` out, or send the deployment's own input_data body.", method=str(method),
        )  # fmt: skip
    extra = sorted(set(body) - {"data", "method"})
    if extra:
        raise Unsupported(
            f'Unknown keys {", ".join(map(str, extra))} beside "data": send '
            '{"data": [[...]]} or {"input_data": ...}.'
        )
    return {"input_data": body["data"]}
