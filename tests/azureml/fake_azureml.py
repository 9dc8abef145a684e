"""Look-alike azureml modules, put into sys.modules so the real sdk.py runs against them.

Each call is recorded as the real SDK would receive it (`self` or the workspace included), so
test_real_signatures can bind every recorded call to the installed SDK's own signature."""

from __future__ import annotations

import sys
import types
from typing import Any

CALLS: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []


def _rec(call: str, /, *args: Any, **kwargs: Any) -> None:
    CALLS.append((call, args, kwargs))


class _Ns(types.SimpleNamespace):
    pass


class Workspace:
    def __init__(self, auth: Any) -> None:
        self.auth = auth
        self._computes: dict[str, Any] = {}

    @property
    def compute_targets(self) -> dict[str, Any]:
        # A property, as in azureml-core: its read is recorded like a call with no arguments.
        _rec("Workspace.compute_targets", self)
        return self._computes

    @staticmethod
    def from_config(path: str, auth: Any) -> Workspace:
        _rec("Workspace.from_config", path=path, auth=auth)
        return Workspace(auth)

    def get_mlflow_tracking_uri(self) -> str:
        _rec("Workspace.get_mlflow_tracking_uri", self)
        return "azureml://westeurope.api.azureml.ms/mlflow/v2.0/subscriptions/s"


class AksCompute:
    ClusterPurpose = _Ns(DEV_TEST="DevTest-constant", FAST_PROD="FastProd-constant")

    @staticmethod
    def provisioning_configuration(**kwargs: Any) -> dict[str, Any]:
        _rec("AksCompute.provisioning_configuration", **kwargs)
        return kwargs


def _aks(name: str, config: dict[str, Any]) -> Any:
    return _Ns(name=name, type="AKS", provisioning_state="Creating",
               agent_vm_size=config["vm_size"], agent_count=config["agent_count"],
               cluster_purpose="FastProd", cluster_location=config["location"],
               provisioning_errors=None)  # fmt: skip


class ComputeTarget:
    def __init__(self, workspace: Any, name: str) -> None:
        _rec("ComputeTarget.__init__", self, workspace=workspace, name=name)
        self.name = name

    @staticmethod
    def create(ws: Any, name: str, config: dict[str, Any]) -> Any:
        _rec("ComputeTarget.create", ws, name, config)
        ws._computes[name] = _aks(name, config)
        return ws._computes[name]

    @staticmethod
    def list(ws: Any) -> list[Any]:
        _rec("ComputeTarget.list", ws)
        return [*ws._computes.values(), _Ns(name="cpu-cluster", type="AmlCompute")]

    def delete(self) -> None:
        _rec("ComputeTarget.delete", self)


class Model:
    Framework = _Ns(SCIKITLEARN="ScikitLearn", TENSORFLOW="TensorFlow", ONNX="Onnx")

    def __init__(self, ws: Any, name: str, version: int) -> None:
        _rec("Model.__init__", self, ws, name=name, version=version)
        self.name, self.version, self.model_framework = name, version, "ScikitLearn"

    @staticmethod
    def list(ws: Any, **kwargs: Any) -> list[Any]:
        _rec("Model.list", ws, **kwargs)
        return [_Ns(name="m", version=v, model_framework="ScikitLearn", tags={}) for v in (1, 2)]

    @staticmethod
    def deploy(ws: Any, name: str, models: list[Any], **kwargs: Any) -> Any:
        _rec("Model.deploy", ws, name, models, **kwargs)
        return _Ns(name=name, state="Transitioning", compute_name=kwargs["deployment_target"].name,
                   scoring_uri=None, swagger_uri=None, auth_enabled=True, models=models,
                   container_resource_requirements=_Ns(cpu=1.0, memory_in_gb=1.0),
                   num_replicas=1, error=None)  # fmt: skip


class Run:
    @staticmethod
    def get(ws: Any, run_id: str) -> Run:
        _rec("Run.get", ws, run_id)
        return Run()

    def register_model(self, **kwargs: Any) -> Any:
        _rec("Run.register_model", self, **kwargs)
        return _Ns(name=kwargs["model_name"], version=3, model_framework="ScikitLearn",
                   model_framework_version=kwargs["model_framework_version"], run_id="r",
                   created_time=None, url="aml://asset/x", tags={})  # fmt: skip


class AksWebservice:
    @staticmethod
    def deploy_configuration(**kwargs: Any) -> dict[str, Any]:
        _rec("AksWebservice.deploy_configuration", **kwargs)
        return kwargs


class Webservice:
    def __init__(self, ws: Any, name: str) -> None:
        _rec("Webservice.__init__", self, ws, name=name)

    @staticmethod
    def list(ws: Any, **kwargs: Any) -> list[Any]:
        _rec("Webservice.list", ws, **kwargs)
        return [_Ns(name="svc-1", state="Healthy", compute_name="aks-1", models=[])]

    def get_keys(self) -> tuple[str, str]:
        _rec("Webservice.get_keys", self)
        return ("k1", "k2")

    def get_logs(self, **kwargs: Any) -> str:
        _rec("Webservice.get_logs", self, **kwargs)
        return "one\ntwo\nthree"

    def delete(self) -> None:
        _rec("Webservice.delete", self)


def _auth_class(name: str) -> type:
    def init(self: Any, **kwargs: Any) -> None:
        _rec(f"{name}.__init__", self, **kwargs)
        self.kwargs = kwargs

    def header(self: Any) -> dict[str, str]:
        _rec(f"{name}.get_authentication_header", self)
        return {"Authorization": "Bearer abc"}

    return type(name, (), {"__init__": init, "get_authentication_header": header})


def install(monkeypatch: Any) -> None:
    """Registers the fake package for the duration of a test."""
    CALLS.clear()
    core = types.ModuleType("azureml.core")
    for cls in (Workspace, ComputeTarget, Model, Run):
        setattr(core, cls.__name__, cls)
    auth = types.ModuleType("azureml.core.authentication")
    for name in ("ServicePrincipalAuthentication", "AzureCliAuthentication",
                 "MsiAuthentication", "InteractiveLoginAuthentication"):  # fmt: skip
        setattr(auth, name, _auth_class(name))
    core.authentication = auth  # type: ignore[attr-defined]
    compute = types.ModuleType("azureml.core.compute")
    compute.AksCompute = AksCompute  # type: ignore[attr-defined]
    webservice = types.ModuleType("azureml.core.webservice")
    webservice.AksWebservice = AksWebservice  # type: ignore[attr-defined]
    webservice.Webservice = Webservice  # type: ignore[attr-defined]
    modules = {"azureml": types.ModuleType("azureml"), "azureml.core": core,
               "azureml.core.authentication": auth, "azureml.core.compute": compute,
               "azureml.core.webservice": webservice}  # fmt: skip
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
