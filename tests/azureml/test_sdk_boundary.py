"""The real sdk.py against look-alike azureml classes: the calls Lensflow makes into the SDK."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from lensflow.workspaces.azureml.errors import map_error
from lensflow.workspaces.azureml.interface import AksSpec, ServiceSpec
from lensflow.workspaces.azureml.sdk import AzureMLSdk, load_sdk
from lensflow_protocol.errors import InvalidPath, NotSignedIn, Unsupported

from . import fake_azureml
from .fake_azureml import CALLS

SP_ENV = {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake_azureml.install(monkeypatch)
    for name in ("config.json", "c.json"):
        (tmp_path / name).write_text("{}")
    monkeypatch.chdir(tmp_path)


def _calls(name: str) -> list[dict[str, object]]:
    return [kwargs for n, _, kwargs in CALLS if n == name]


def test_cluster_arguments_map_to_sdk_constants(fake: None) -> None:
    sdk = AzureMLSdk(Path("config.json").resolve(), env=SP_ENV)
    for purpose in ("DevTest", "FastProd"):
        cluster = sdk.create_cluster(AksSpec("aks-1", "Standard_D3_v2", 3, purpose, "westeurope"))  # type: ignore[arg-type]
        assert cluster.state == "Creating" and cluster.vm_size == "Standard_D3_v2"
    configs = _calls("AksCompute.provisioning_configuration")
    assert configs == [
        {"agent_count": 3, "vm_size": "Standard_D3_v2", "location": "westeurope",
         "cluster_purpose": "DevTest-constant"},
        {"agent_count": 3, "vm_size": "Standard_D3_v2", "location": "westeurope",
         "cluster_purpose": "FastProd-constant"},
    ]  # fmt: skip
    assert [args[1] for n, args, _ in CALLS if n == "ComputeTarget.create"] == ["aks-1", "aks-1"]


def test_deploy_is_no_code_with_aks_config(fake: None) -> None:
    sdk = AzureMLSdk(Path("config.json"), env=SP_ENV)
    spec = ServiceSpec("svc-1", "diabetes_model", 2, "aks-1", 1.0, 1.0, True, 1, "/p/train.py")
    service = sdk.deploy(spec)
    assert _calls("AksWebservice.deploy_configuration") == [
        {"cpu_cores": 1.0, "memory_gb": 1.0, "auth_enabled": True, "num_replicas": 1,
         "tags": {"lensflow.script": "/p/train.py"}}
    ]  # fmt: skip
    (_, args, kwargs) = next(c for c in CALLS if c[0] == "Model.deploy")
    assert args[1] == "svc-1" and [(m.name, m.version) for m in args[2]] == [("diabetes_model", 2)]
    assert kwargs["deployment_target"].name == "aks-1"
    assert "inference_config" not in kwargs  # no scoring script
    assert (service.state, service.cluster_name, service.model_version) == (
        "Transitioning",
        "aks-1",
        2,
    )


def test_register_passes_framework_and_version(fake: None) -> None:
    sdk = AzureMLSdk(Path("config.json"), env=SP_ENV)
    model = sdk.register_model("run1", "m", "model.pkl", "ScikitLearn", "1.9.1", None, {"a": "b"})
    (kwargs,) = _calls("Run.register_model")
    assert kwargs["model_framework"] == "ScikitLearn"
    assert kwargs["model_framework_version"] == "1.9.1" and kwargs["model_path"] == "model.pkl"
    assert model.version == 3


def test_service_principal_from_environment(fake: None) -> None:
    sdk = AzureMLSdk(Path("config.json").resolve(), env=SP_ENV)
    tracking = sdk.tracking()
    assert tracking.token == "abc" and tracking.uri.startswith("azureml://")
    (kwargs,) = _calls("Workspace.from_config")
    assert kwargs["path"] == str(Path("config.json").resolve())
    auth = kwargs["auth"]
    assert type(auth).__name__ == "ServicePrincipalAuthentication"
    assert auth.kwargs == {"tenant_id": "t", "service_principal_id": "c",
                           "service_principal_password": "s"}  # fmt: skip


def test_other_sign_ins(fake: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    msi = AzureMLSdk(Path("c.json"), env={"IDENTITY_ENDPOINT": "http://x"})
    assert type(msi.ws.auth).__name__ == "MsiAuthentication"
    interactive = AzureMLSdk(Path("c.json"), auth="interactive", env={})
    assert type(interactive.ws.auth).__name__ == "InteractiveLoginAuthentication"
    monkeypatch.setattr("shutil.which", lambda name: "/usr/bin/az")
    assert type(AzureMLSdk(Path("c.json"), env={}).ws.auth).__name__ == "AzureCliAuthentication"


def test_missing_config_is_said_before_any_sign_in(fake: None) -> None:
    with pytest.raises(InvalidPath) as caught:
        AzureMLSdk(Path("elsewhere/config.json"), env=SP_ENV).tracking()
    assert "Download it from the workspace's overview page" in caught.value.message
    assert not _calls("Workspace.from_config")


def test_no_credentials_is_not_signed_in_without_a_browser(
    fake: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(NotSignedIn) as caught:
        AzureMLSdk(Path("c.json"), env={}).tracking()
    assert "az login" in caught.value.message
    assert not _calls("Workspace.from_config")


def test_error_mapping() -> None:
    class WebserviceException(Exception):
        pass

    assert map_error(WebserviceException("Service svc not found"), "x").kind.value == "notFound"
    wrapped = WebserviceException("request failed")
    wrapped.__cause__ = OSError(101, "Network is unreachable")
    assert map_error(wrapped, "x").kind.value == "unreachable"
    assert map_error(WebserviceException("quota exceeded"), "x").kind.value == "storeError"
    wrapped.__cause__ = ConnectionError("refused")
    assert map_error(wrapped, "x").kind.value == "unreachable"
    assert map_error(Exception("HTTP 401 Unauthorized"), "x").kind.value == "notSignedIn"


def test_missing_sdk_says_install_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.split(".")[0] == "azureml"] or ["azureml"]:
        monkeypatch.setitem(sys.modules, name, None)  # as if the extra were not installed
    with pytest.raises(Unsupported) as caught:
        load_sdk()
    assert "lensflow[azureml]" in caught.value.message


def test_missing_sdk_in_a_clean_interpreter(tmp_path: Path) -> None:
    """The real import, in a child where azureml cannot be imported: a clear error."""
    (tmp_path / "config.json").write_text("{}")
    code = (
        "import sys\nsys.modules['azureml'] = None  # as if the extra were not installed\n"
        "from pathlib import Path\n"
        "from lensflow.workspaces.azureml.sdk import AzureMLSdk\n"
        "from lensflow_protocol.errors import LensflowError\n"
        "try:\n    AzureMLSdk(Path('config.json')).tracking()\n"
        "except LensflowError as e:\n    print(e.kind.value, '|', e.message)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert out.stdout.startswith("unsupported |"), out.stderr
    assert "lensflow[azureml]" in out.stdout
