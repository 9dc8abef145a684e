"""A substitute `AzureSdk`: records every call, answers from scripted state."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from lensflow.workspaces.azureml.interface import (
    AksCluster,
    AksSpec,
    AzureModel,
    AzureService,
    ServiceSpec,
    Tracking,
)


class AuthenticationException(Exception):
    """Named like azureml.exceptions.AuthenticationException."""


@dataclass
class FakeSdk:
    managed_endpoints = False
    calls: list[tuple[str, Any]] = field(default_factory=list)
    clusters: dict[str, list[AksCluster]] = field(default_factory=dict)
    """Each poll of a cluster pops the next state (the last one stays)."""
    services: dict[str, list[AzureService]] = field(default_factory=dict)
    models: list[AzureModel] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    """Services whose deployment ends Failed."""
    fail: BaseException | None = None
    hang: threading.Event | None = None
    tokens: int = 0

    def _record(self, name: str, arg: Any = None) -> None:
        self.calls.append((name, arg))
        if self.hang is not None:
            self.hang.wait(10)
        if self.fail is not None:
            raise self.fail

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def tracking(self) -> Tracking:
        self._record("tracking")
        self.tokens += 1
        return Tracking(uri=f"azureml://example/{self.tokens}", token=f"token-{self.tokens}")

    def register_model(
        self, run_id: str, model_name: str, model_path: str, framework: str,
        framework_version: str | None, description: str | None, tags: Mapping[str, str],
    ) -> AzureModel:  # fmt: skip
        self._record("register_model", (run_id, model_name, model_path, framework))
        version = 1 + sum(m.name == model_name for m in self.models)
        source = f"aml://asset/{model_name}:{version}"
        model = AzureModel(model_name, version, framework, framework_version, run_id,
                           source=source, tags=dict(tags))  # fmt: skip
        self.models.append(model)
        return model

    def list_models(self) -> list[AzureModel]:
        self._record("list_models")
        return list(self.models)

    def get_model(self, name: str, version: int | None) -> AzureModel | None:
        self._record("get_model", (name, version))
        found = [m for m in self.models if m.name == name and version in (None, m.version)]
        return max(found, key=lambda m: m.version) if found else None

    def create_cluster(self, spec: AksSpec) -> AksCluster:
        self._record("create_cluster", spec)
        first = AksCluster(spec.name, "Creating", spec.vm_size, spec.agent_count,
                           spec.cluster_purpose, spec.location)  # fmt: skip
        self.clusters.setdefault(spec.name, [first, replace(first, state="Succeeded")])
        return first

    def get_cluster(self, name: str) -> AksCluster | None:
        self._record("get_cluster", name)
        states = self.clusters.get(name)
        if not states:
            return None
        return states.pop(0) if len(states) > 1 else states[0]

    def list_clusters(self) -> list[AksCluster]:
        self._record("list_clusters")
        return [states[-1] for states in self.clusters.values()]

    def delete_cluster(self, name: str) -> None:
        self._record("delete_cluster", name)
        self.clusters.pop(name, None)

    def deploy(self, spec: ServiceSpec) -> AzureService:
        self._record("deploy", spec)
        base = AzureService(spec.service_name, "Transitioning", spec.cluster_name, None, None,
                            spec.auth_enabled, spec.cpu_cores, spec.memory_gb, spec.replicas,
                            spec.model_name, spec.model_version, "ScikitLearn",
                            script=spec.script)  # fmt: skip
        uri = f"http://10.0.0.1/api/v1/service/{spec.service_name}/score"
        healthy = replace(base, state="Healthy", scoring_uri=uri,
                          swagger_uri=uri.replace("/score", "/swagger.json"))  # fmt: skip
        failed = replace(base, state="Failed", error="ImagePullBackOff")
        end = failed if spec.service_name in self.failing else healthy
        self.services.setdefault(spec.service_name, [base, base, end])
        return base

    def get_service(self, name: str) -> AzureService | None:
        self._record("get_service", name)
        states = self.services.get(name)
        if not states:
            return None
        return states.pop(0) if len(states) > 1 else states[0]

    def list_services(self, cluster_name: str | None) -> list[AzureService]:
        self._record("list_services", cluster_name)
        found = [states[-1] for states in self.services.values()]
        return [s for s in found if cluster_name in (None, s.cluster_name)]

    def service_keys(self, name: str) -> tuple[str, str]:
        self._record("service_keys", name)
        return ("primary-key", "secondary-key")

    def service_logs(self, name: str, tail: int) -> list[str]:
        self._record("service_logs", (name, tail))
        return [f"line {i}" for i in range(200)][-tail:]

    def delete_service(self, name: str) -> None:
        self._record("delete_service", name)
        self.services.pop(name, None)


@dataclass
class Events:
    clusters: list[tuple[str, str, str | None]] = field(default_factory=list)
    services: list[tuple[str, str, str | None]] = field(default_factory=list)

    def cluster_updated(self, name: str, state: str, error: str | None) -> None:
        self.clusters.append((name, state, error))

    def service_updated(self, name: str, state: str, error: str | None) -> None:
        self.services.append((name, state, error))
