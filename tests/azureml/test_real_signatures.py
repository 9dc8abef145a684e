"""Every call sdk.py makes, bound to the installed azureml SDK's own signatures.

The look-alike SDK records each call as the real one would receive it; here each recorded call
is bound (`inspect.Signature.bind`) to the real class's function, and the constants sdk.py
reads are looked up on the real classes. A renamed or misspelt keyword fails here, offline."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path
from typing import Any

import pytest
from lensflow.workspaces.azureml.interface import AksSpec, ServiceSpec
from lensflow.workspaces.azureml.sdk import _FRAMEWORKS, AzureMLSdk

from . import fake_azureml
from .fake_azureml import CALLS

SP_ENV = {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}
# Where each recorded class lives in the real SDK.
HOMES = {
    "Workspace": "azureml.core", "ComputeTarget": "azureml.core", "Model": "azureml.core",
    "Run": "azureml.core", "AksCompute": "azureml.core.compute",
    "AksWebservice": "azureml.core.webservice", "Webservice": "azureml.core.webservice",
    "ServicePrincipalAuthentication": "azureml.core.authentication",
    "AzureCliAuthentication": "azureml.core.authentication",
    "MsiAuthentication": "azureml.core.authentication",
    "InteractiveLoginAuthentication": "azureml.core.authentication",
}  # fmt: skip


def real(name: str) -> Any:
    """The installed SDK's function for a recorded "Class.method" (before the fake is in); a
    property's getter for a recorded property read."""
    cls_name, method = name.split(".")
    found = inspect.getattr_static(
        getattr(importlib.import_module(HOMES[cls_name]), cls_name), method
    )
    return found.fget if isinstance(found, property) else getattr(found, "__func__", found)


@pytest.fixture(scope="module")
def real_sdk() -> dict[str, Any]:
    """Imported before any test puts the look-alike into sys.modules."""
    core = importlib.import_module("azureml.core")
    compute = importlib.import_module("azureml.core.compute")
    return {"Model": core.Model, "AksCompute": compute.AksCompute}


def exercise_every_method(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setattr("shutil.which", lambda name: None)
    sdk = AzureMLSdk(tmp_path / "config.json", env=SP_ENV)
    sdk.tracking()
    sdk.register_model("run1", "m", "model.pkl", "ScikitLearn", "1.9.1", "d", {"a": "b"})
    sdk.list_models()
    assert sdk.get_model("m", None) is not None
    sdk.create_cluster(AksSpec("aks-1", "Standard_D3_v2", 3, "FastProd", "westeurope"))
    assert sdk.get_cluster("aks-1") is not None
    assert [c.name for c in sdk.list_clusters()] == ["aks-1"]  # AKS only
    sdk.deploy(ServiceSpec("svc-1", "m", 2, "aks-1", 0.5, 1.0, True, 2))
    assert sdk.get_service("svc-1") is not None
    sdk.list_services("aks-1")
    assert sdk.service_keys("svc-1") == ("k1", "k2")
    assert sdk.service_logs("svc-1", 2) == ["two", "three"]
    sdk.delete_service("svc-1")
    sdk.delete_cluster("aks-1")
    for env in (
        {"IDENTITY_ENDPOINT": "http://x"},
        {"IDENTITY_ENDPOINT": "x", "AZURE_CLIENT_ID": "c"},
    ):
        AzureMLSdk(tmp_path / "config.json", env=env).ws  # noqa: B018
    AzureMLSdk(tmp_path / "config.json", auth="cli", env={}).ws  # noqa: B018
    AzureMLSdk(tmp_path / "config.json", auth="interactive", env={"AZURE_TENANT_ID": "t"}).ws  # noqa: B018


def test_every_call_binds_to_the_installed_sdk(
    real_sdk: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    functions = {name: real(name) for name in _recorded_names(tmp_path, monkeypatch)}
    fake_azureml.install(monkeypatch)
    exercise_every_method(tmp_path, monkeypatch)
    assert len(CALLS) >= 20
    # The three the fakes once skipped: the tracking URI, the token, the read of the computes.
    assert {
        "Workspace.get_mlflow_tracking_uri",
        "ServicePrincipalAuthentication.get_authentication_header",
        "Workspace.compute_targets",
    } <= {name for name, _, _ in CALLS}
    for name, args, kwargs in CALLS:
        try:
            inspect.signature(functions[name]).bind(*args, **kwargs)
        except TypeError as exc:
            pytest.fail(f"{name}{args, kwargs} does not fit the installed SDK: {exc}")


def _recorded_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """A dry run against the look-alike, to learn which real functions to look up first."""
    with monkeypatch.context() as dry:
        fake_azureml.install(dry)
        exercise_every_method(tmp_path, dry)
        return {name for name, _, _ in CALLS}


def test_constants_sdk_py_reads_exist(real_sdk: dict[str, Any]) -> None:
    purpose = real_sdk["AksCompute"].ClusterPurpose
    assert (purpose.DEV_TEST, purpose.FAST_PROD) == ("DevTest", "FastProd")
    framework = real_sdk["Model"].Framework
    assert {name: getattr(framework, attr) for name, attr in _FRAMEWORKS.items()} == {
        "ScikitLearn": "ScikitLearn", "TensorFlow": "TensorFlow", "Onnx": "Onnx",
    }  # fmt: skip
