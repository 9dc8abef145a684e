"""The one module that imports the Azure ML SDK v1 (azureml-core, azureml-mlflow), lazily.

`AzureMLSdk` implements `interface.AzureSdk` with the calls the seed document makes:
`Workspace.from_config`, `get_mlflow_tracking_uri`, `Run.register_model` / `Model.list`,
`AksCompute.provisioning_configuration` + `ComputeTarget.create`, `Model.deploy` with
`AksWebservice.deploy_configuration`, and the webservice's `get_keys` / `get_logs` / `delete`.
Methods block; the workspace calls them in threads with deadlines.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from lensflow_protocol.errors import InvalidPath, NotSignedIn, Unsupported
from lensflow_protocol.frameworks import ModelFramework

from lensflow.frameworks import AZURE_NAMES

from ..tracking.tags import SCRIPT_TAG
from .errors import SIGN_IN_HELP, uses_service_principal
from .interface import (
    AksCluster,
    AksSpec,
    AuthMode,
    AzureModel,
    AzureService,
    ServiceSpec,
    Tracking,
)

INSTALL_HELP = (
    "The Azure ML workspace needs the Azure ML SDK in the server's environment: install the "
    "`azureml` extra (pip install 'lensflow[azureml]'), restart the server, or set `workspace` "
    'to "local".'
)


def load_sdk() -> SimpleNamespace:
    """The azureml classes Lensflow uses, imported on first use only."""
    try:
        from azureml.core import (
            ComputeTarget,
            Model,
            Run,
            Workspace,
        )
        from azureml.core import authentication as auth
        from azureml.core.compute import AksCompute
        from azureml.core.webservice import (
            AksWebservice,
            Webservice,
        )
    except ImportError as exc:
        raise Unsupported(INSTALL_HELP, workspace="azureml", missing=str(exc.name)) from exc
    return SimpleNamespace(
        Workspace=Workspace, Run=Run, Model=Model, ComputeTarget=ComputeTarget,
        AksCompute=AksCompute, AksWebservice=AksWebservice, Webservice=Webservice, auth=auth,
    )  # fmt: skip


def make_auth(sdk: SimpleNamespace, mode: AuthMode, env: Mapping[str, str]) -> Any:
    """A non-interactive credential unless `mode` asks for the browser."""
    auth = sdk.auth
    tenant = env.get("AZURE_TENANT_ID")
    if mode == "interactive":
        return auth.InteractiveLoginAuthentication(tenant_id=tenant)
    if uses_service_principal(mode, env):
        return auth.ServicePrincipalAuthentication(
            tenant_id=env["AZURE_TENANT_ID"],
            service_principal_id=env["AZURE_CLIENT_ID"],
            service_principal_password=env["AZURE_CLIENT_SECRET"],
        )
    if mode == "cli" or (mode == "auto" and shutil.which("az")):
        return auth.AzureCliAuthentication()
    managed = any(env.get(name) for name in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT"))
    if mode == "msi" or (mode == "auto" and managed):
        client_id = env.get("AZURE_CLIENT_ID")
        return auth.MsiAuthentication(identity_config={"client_id": client_id}) if client_id \
            else auth.MsiAuthentication()  # fmt: skip
    raise NotSignedIn(f"No Azure credentials found. {SIGN_IN_HELP}")


def _model(m: Any) -> AzureModel:
    created = getattr(m, "created_time", None)
    return AzureModel(
        name=str(m.name), version=int(m.version), framework=getattr(m, "model_framework", None),
        framework_version=getattr(m, "model_framework_version", None),
        run_id=getattr(m, "run_id", None),
        created_ms=int(created.timestamp() * 1000) if created is not None else None,
        source=str(getattr(m, "url", "") or ""), tags=dict(getattr(m, "tags", None) or {}),
    )  # fmt: skip


def _cluster(c: Any) -> AksCluster:
    errors = getattr(c, "provisioning_errors", None)
    return AksCluster(
        name=str(c.name), state=str(getattr(c, "provisioning_state", None) or "Creating"),
        vm_size=str(getattr(c, "agent_vm_size", "") or ""),
        agent_count=int(getattr(c, "agent_count", 0) or 0),
        cluster_purpose=getattr(c, "cluster_purpose", None),
        location=getattr(c, "cluster_location", None) or getattr(c, "location", None),
        error=str(errors)[:2000] if errors else None,
    )  # fmt: skip


def _service(s: Any) -> AzureService:
    resources = getattr(s, "container_resource_requirements", None)
    models = list(getattr(s, "models", None) or [])
    model = models[0] if models else None
    error = getattr(s, "error", None)
    return AzureService(
        name=str(s.name), state=str(getattr(s, "state", None) or "Transitioning"),
        cluster_name=str(getattr(s, "compute_name", "") or ""),
        scoring_uri=getattr(s, "scoring_uri", None), swagger_uri=getattr(s, "swagger_uri", None),
        auth_enabled=bool(getattr(s, "auth_enabled", False)),
        cpu_cores=float(getattr(resources, "cpu", 0) or 0),
        memory_gb=float(getattr(resources, "memory_in_gb", 0) or 0),
        replicas=int(getattr(s, "num_replicas", 1) or 1),
        model_name=str(model.name) if model else "",
        model_version=int(model.version) if model else 0,
        model_framework=str(getattr(model, "model_framework", "") or "") if model else "",
        error=str(error)[:4000] if error else None,
        script=(getattr(s, "tags", None) or {}).get(SCRIPT_TAG),
    )  # fmt: skip


class AzureMLSdk:
    """azureml-core behind `AzureSdk`. The workspace object is built (and signed in) once."""

    managed_endpoints = False  # v1 deploys to AKS clusters it creates

    def __init__(
        self, config_path: Path, auth: AuthMode = "auto", env: Mapping[str, str] | None = None
    ) -> None:
        self.config_path = config_path
        self.auth_mode: AuthMode = auth
        self.env = env if env is not None else os.environ
        self._lock = threading.Lock()
        self._sdk: SimpleNamespace | None = None
        self._ws: Any = None
        self._auth: Any = None

    @property
    def sdk(self) -> SimpleNamespace:
        if self._sdk is None:
            self._sdk = load_sdk()
        return self._sdk

    @property
    def ws(self) -> Any:
        with self._lock:
            if self._ws is None:
                if not self.config_path.is_file():
                    raise InvalidPath(
                        f"No Azure ML config.json at {self.config_path}. Download it from the "
                        "workspace's overview page in the Azure portal, and point the "
                        "`workspace` setting at it.",
                        path=str(self.config_path),
                    )
                auth = make_auth(self.sdk, self.auth_mode, self.env)
                self._ws = self.sdk.Workspace.from_config(path=str(self.config_path), auth=auth)
                self._auth = auth
            return self._ws

    def tracking(self) -> Tracking:
        uri = str(self.ws.get_mlflow_tracking_uri())  # signs in first: `_auth` is set after
        header = self._auth.get_authentication_header().get("Authorization", "")
        token = header.removeprefix("Bearer ").strip() or None
        return Tracking(uri=uri, token=token)

    def register_model(
        self, run_id: str, model_name: str, model_path: str, framework: ModelFramework,
        framework_version: str | None, description: str | None, tags: Mapping[str, str],
    ) -> AzureModel:  # fmt: skip
        run = self.sdk.Run.get(self.ws, run_id)
        model = run.register_model(
            model_name=model_name, model_path=model_path, tags=dict(tags),
            model_framework=getattr(self.sdk.Model.Framework, _FRAMEWORKS[framework]),
            model_framework_version=framework_version, description=description,
        )  # fmt: skip
        return _model(model)

    def list_models(self) -> list[AzureModel]:
        return [_model(m) for m in self.sdk.Model.list(self.ws)]

    def get_model(self, name: str, version: int | None) -> AzureModel | None:
        found = self.sdk.Model.list(self.ws, name=name, latest=version is None)
        matches = [m for m in found if version is None or int(m.version) == version]
        return _model(max(matches, key=lambda m: int(m.version))) if matches else None

    def create_cluster(self, spec: AksSpec) -> AksCluster:
        aks = self.sdk.AksCompute
        purpose = {"DevTest": aks.ClusterPurpose.DEV_TEST, "FastProd": aks.ClusterPurpose.FAST_PROD}
        config = aks.provisioning_configuration(
            agent_count=spec.agent_count, vm_size=spec.vm_size,
            cluster_purpose=purpose[spec.cluster_purpose], location=spec.location,
        )  # fmt: skip
        return _cluster(self.sdk.ComputeTarget.create(self.ws, spec.name, config))

    def get_cluster(self, name: str) -> AksCluster | None:
        compute = self.ws.compute_targets.get(name)
        return _cluster(compute) if compute is not None else None

    def list_clusters(self) -> list[AksCluster]:
        computes = self.sdk.ComputeTarget.list(self.ws)
        return [_cluster(c) for c in computes if getattr(c, "type", "AKS") == "AKS"]

    def delete_cluster(self, name: str) -> None:
        self.sdk.ComputeTarget(workspace=self.ws, name=name).delete()

    def deploy(self, spec: ServiceSpec) -> AzureService:
        model = self.sdk.Model(self.ws, name=spec.model_name, version=spec.model_version)
        config = self.sdk.AksWebservice.deploy_configuration(
            cpu_cores=spec.cpu_cores, memory_gb=spec.memory_gb, auth_enabled=spec.auth_enabled,
            num_replicas=spec.replicas, tags={SCRIPT_TAG: spec.script} if spec.script else None,
        )  # fmt: skip
        target = self.sdk.ComputeTarget(workspace=self.ws, name=spec.cluster_name)
        service = self.sdk.Model.deploy(
            self.ws, spec.service_name, [model], deployment_config=config,
            deployment_target=target,
        )  # fmt: skip
        return _service(service)

    def _webservice(self, name: str) -> Any:
        return self.sdk.Webservice(self.ws, name=name)

    def get_service(self, name: str) -> AzureService | None:
        found = self.sdk.Webservice.list(self.ws, compute_type="AKS")
        return next((_service(s) for s in found if s.name == name), None)

    def list_services(self, cluster_name: str | None) -> list[AzureService]:
        found = [_service(s) for s in self.sdk.Webservice.list(self.ws, compute_type="AKS")]
        return [s for s in found if cluster_name is None or s.cluster_name == cluster_name]

    def service_keys(self, name: str) -> tuple[str, str]:
        primary, secondary = self._webservice(name).get_keys()
        return str(primary), str(secondary)

    def service_logs(self, name: str, tail: int) -> list[str]:
        return str(self._webservice(name).get_logs(num_lines=tail) or "").splitlines()[-tail:]

    def delete_service(self, name: str) -> None:
        self._webservice(name).delete()


# Lensflow's framework names → attributes of azureml's `Model.Framework`.
_FRAMEWORKS = AZURE_NAMES
