"""Arguments and results of the cluster, deployment and endpoint commands."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from .base import SafeStr, WireModel

ClusterState = Literal["Creating", "Succeeded", "Failed", "Deleting"]
ServiceState = Literal[
    "Transitioning", "Healthy", "Unhealthy", "CrashLoopBackOff", "OOMKilled", "Failed"
]
ClusterPurpose = Literal["DevTest", "FastProd"]

# Azure's rules: compute names 2–16 chars, service names 3–32, lowercase, starting with a letter.
ClusterName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{1,15}$")]
ServiceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{2,31}$")]
# The clusterName of a deployment that needs no cluster: an Azure ML managed online endpoint.
MANAGED = "managed"
# An ARM resource id: /subscriptions/<id>/resourceGroups/<rg>/providers/<namespace>/<type>/<name>
ResourceId = Annotated[
    str, Field(pattern=r"^/subscriptions/[^/]+/resource[Gg]roups/[^/]+/providers/[^/]+/.+[^/]$",
               max_length=1024)
]  # fmt: skip
# Kubernetes' namespace names (RFC 1123 labels).
Namespace = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]


class CreateClusterArgs(WireModel):
    name: ClusterName
    vm_size: Annotated[SafeStr, Field(min_length=1, max_length=64)] = "Standard_D3_v2"
    node_count: Annotated[int, Field(ge=1, le=100)] = 1
    cluster_purpose: ClusterPurpose = Field(
        default="DevTest", description="DevTest: one node. FastProd: at least 12 vCPU in all."
    )
    location: Annotated[SafeStr, Field(max_length=64)] | None = None
    resource_id: ResourceId | None = Field(
        default=None,
        description=(
            "Azure ML SDK v2: attach this existing AKS or Arc cluster as a Kubernetes compute "
            "instead of creating one."
        ),
    )
    namespace: Namespace | None = Field(
        default=None, description="With resourceId: the Kubernetes namespace (default: default)."
    )
    wait: bool = True


class ClusterInfo(WireModel):
    name: str
    state: ClusterState
    vm_size: str
    node_count: int
    cluster_purpose: ClusterPurpose
    cpu_cores: float = Field(description="vCPU in all nodes; 0 when unknown (attached).")
    memory_gb: float = Field(description="Memory in all nodes, GB; 0 when unknown (attached).")
    location: str | None = None
    services: list[str] = Field(default_factory=list)
    error: str | None = None
    resource_id: str | None = Field(default=None, description="An attached cluster's ARM id.")
    namespace: str | None = None


class DeployArgs(WireModel):
    service_name: ServiceName
    model_name: Annotated[SafeStr, Field(min_length=1, max_length=256)]
    model_version: Annotated[int, Field(ge=1)] | None = Field(default=None, description="Latest.")
    cluster_name: ClusterName | None = Field(
        default=None,
        description=f'The cluster to deploy to; "{MANAGED}" or none: an Azure ML managed endpoint.',
    )
    cpu_cores: Annotated[float, Field(gt=0, le=64)] = 0.1
    memory_gb: Annotated[float, Field(gt=0, le=512)] = 0.5
    auth_enabled: bool = True
    replicas: Annotated[int, Field(ge=1, le=16)] = 1
    max_request_mb: Annotated[int, Field(ge=1, le=1024)] = Field(
        default=100,
        description=(
            "The largest request body a local service accepts, in MiB; a larger one gets a 413."
        ),
    )
    wait: bool = True


class Termination(WireModel):
    """A replica's end that the service lived through, as Kubernetes reports a container's."""

    reason: Literal["OOMKilled"]
    exit_code: int = Field(description="137: killed by SIGKILL, as a container's exit code.")
    finished_at: str = Field(description="When Lensflow saw it, ISO 8601 UTC.")
    message: str
    count: int = Field(description="How many times this has happened to the service.")


class ServiceInfo(WireModel):
    service_name: str
    state: ServiceState
    cluster_name: str
    model_name: str
    model_version: int
    model_framework: str
    scoring_uri: str
    swagger_uri: str
    auth_enabled: bool
    cpu_cores: float
    memory_gb: float
    replicas: int
    max_request_mb: int | None = Field(
        default=None, description="A local service's request body limit, in MiB."
    )
    error: str | None = Field(default=None, description="With the service log's tail.")
    script: str | None = Field(
        default=None, description="The training script whose run produced the model version."
    )
    instance_type: str | None = Field(
        default=None, description="A managed online deployment's VM size, chosen to fit."
    )
    limits_enforced: bool | None = Field(
        default=None,
        description=(
            "A local service: whether cpuCores and memoryGb are enforced on each replica "
            "(cgroups), as on AKS; false: only counted against the cluster's capacity."
        ),
    )
    limits_note: str | None = Field(
        default=None, description="Why the limits are not enforced, when they are not."
    )
    last_termination: Termination | None = Field(
        default=None, description="How a replica last ended, as kubectl's `Last State`."
    )


class InvokeEndpointArgs(WireModel):
    service_name: ServiceName
    input: dict[str, Any] | list[Any] | None = Field(
        default=None,
        description=(
            'The request body, e.g. {"data": [[...]], "method": "predict"}; '
            "default: the example request in the service's swagger.json."
        ),
    )
    path: Literal["/score", "/invocations"] = "/score"


class InvokeEndpointResult(WireModel):
    status_code: int
    output: Any
    latency_ms: float


class CleanUpArgs(WireModel):
    service_name: ServiceName | None = None
    cluster_name: ClusterName | None = None
    all: bool = False

    @model_validator(mode="after")
    def _exactly_one(self) -> CleanUpArgs:
        chosen = [self.service_name is not None, self.cluster_name is not None, self.all]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of serviceName, clusterName or all: true")
        return self


class Deleted(WireModel):
    kind: Literal["service", "cluster"]
    name: str


class CleanUpResult(WireModel):
    deleted: list[Deleted]


class ListClustersArgs(WireModel):
    pass


class DamagedRecord(WireModel):
    """A cluster or service whose record cannot be read: listed by name, never hiding the rest."""

    name: str
    kind: Literal["storeError"] = "storeError"
    message: str = Field(description="What is wrong and how to fix it (usually: cleanUp it).")
    path: str | None = Field(default=None, description="The damaged file.")


_DAMAGED = "Records that cannot be read; every other one is listed as usual."


class ListClustersResult(WireModel):
    clusters: list[ClusterInfo]
    damaged: list[DamagedRecord] = Field(default_factory=list, description=_DAMAGED)


class ListServicesArgs(WireModel):
    cluster_name: ClusterName | None = None


class ListServicesResult(WireModel):
    services: list[ServiceInfo]
    damaged: list[DamagedRecord] = Field(default_factory=list, description=_DAMAGED)


class ServiceNameArgs(WireModel):
    service_name: ServiceName


class ServiceKeys(WireModel):
    primary_key: str
    secondary_key: str


class GetServiceLogsArgs(WireModel):
    service_name: ServiceName
    tail: Annotated[int, Field(ge=1, le=10000)] = 100


class ServiceLogs(WireModel):
    lines: list[str]


class ServiceUpdatedParams(WireModel):
    service_name: str
    state: ServiceState
    error: str | None = None
    last_termination: Termination | None = None


class ClusterUpdatedParams(WireModel):
    name: str
    state: ClusterState
    error: str | None = None
