"""What the Azure ML workspace asks of the SDK: plain data in, plain data out.

`sdk.AzureMLSdk` implements `AzureSdk` over azureml-core; tests pass any object with the same
methods. Every method blocks (network): the workspace runs each one in a thread with a deadline.
`sdk_v2.AzureMLSdkV2` implements it over azure-ai-ml (online endpoints, attached Kubernetes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from lensflow_protocol.frameworks import ModelFramework

AuthMode = Literal["auto", "servicePrincipal", "cli", "msi", "interactive"]


@dataclass(frozen=True)
class Tracking:
    """What a training child needs to log into Azure ML: the URI and a bearer token."""

    uri: str
    token: str | None = None


@dataclass(frozen=True)
class AksSpec:
    name: str
    vm_size: str
    agent_count: int
    cluster_purpose: Literal["DevTest", "FastProd"]
    location: str | None = None
    resource_id: str | None = None
    """SDK v2: attach this existing AKS/Arc cluster (its ARM id) rather than create one."""
    namespace: str | None = None


@dataclass(frozen=True)
class AksCluster:
    name: str
    state: str
    """Azure's provisioning state: Creating, Succeeded, Failed, Canceled, Deleting, Updating…"""
    vm_size: str
    agent_count: int
    cluster_purpose: str | None = None
    location: str | None = None
    error: str | None = None
    resource_id: str | None = None
    namespace: str | None = None
    owned: bool = True
    """Made by Lensflow (v1 creates, v2 attaches): what `cleanUp {all: true}` removes."""


@dataclass(frozen=True)
class ServiceSpec:
    service_name: str
    model_name: str
    model_version: int
    cluster_name: str | None
    """None: a managed online endpoint (SDK v2), on `instance_type`."""
    cpu_cores: float
    memory_gb: float
    auth_enabled: bool
    replicas: int
    script: str | None = None
    """The model's training script, kept as the service's `lensflow.script` tag for lenses."""
    instance_type: str | None = None


@dataclass(frozen=True)
class AzureService:
    name: str
    state: str
    """Azure's webservice state: Transitioning, Healthy, Unhealthy, Failed, Unschedulable…"""
    cluster_name: str
    scoring_uri: str | None
    swagger_uri: str | None
    auth_enabled: bool
    cpu_cores: float
    memory_gb: float
    replicas: int
    model_name: str = ""
    model_version: int = 0
    model_framework: str = ""
    error: str | None = None
    script: str | None = None
    instance_type: str | None = None


@dataclass(frozen=True)
class AzureModel:
    name: str
    version: int
    framework: str | None
    framework_version: str | None = None
    run_id: str | None = None
    created_ms: int | None = None
    source: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)


class AzureSdk(Protocol):
    """The calls Lensflow makes into Azure ML. Each may raise any exception: see errors.py."""

    managed_endpoints: bool
    """Deploys with no cluster (managed online endpoints) and attaches clusters: SDK v2."""

    def tracking(self) -> Tracking: ...

    def register_model(
        self,
        run_id: str,
        model_name: str,
        model_path: str,
        framework: ModelFramework,
        framework_version: str | None,
        description: str | None,
        tags: Mapping[str, str],
    ) -> AzureModel: ...

    def list_models(self) -> list[AzureModel]: ...

    def get_model(self, name: str, version: int | None) -> AzureModel | None: ...

    def create_cluster(self, spec: AksSpec) -> AksCluster: ...

    def get_cluster(self, name: str) -> AksCluster | None: ...

    def list_clusters(self) -> list[AksCluster]: ...

    def delete_cluster(self, name: str) -> None: ...

    def deploy(self, spec: ServiceSpec) -> AzureService: ...

    def get_service(self, name: str) -> AzureService | None: ...

    def list_services(self, cluster_name: str | None) -> list[AzureService]: ...

    def service_keys(self, name: str) -> tuple[str, str]: ...

    def service_logs(self, name: str, tail: int) -> list[str]: ...

    def delete_service(self, name: str) -> None: ...
