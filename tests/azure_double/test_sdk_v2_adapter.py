"""Lensflow's SDK v2 adapter (`AzureMLSdkV2`) over HTTPS against the Azure double.

The real azure-ai-ml does every request; only the credential is a static token. Errors go
through `errors.map_error` as the workspace's calls do. The workspace's `register_model`
reads the run from the tracking store first, which the double does not serve yet: it is
exercised here through the adapter, and `list_models` through the workspace.
"""

from __future__ import annotations

import pickle
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lensflow.settings import make_workspace, resolve
from lensflow.workspaces.azureml import AzureMLWorkspace
from lensflow.workspaces.azureml.errors import map_error
from lensflow.workspaces.azureml.interface import AksSpec
from lensflow.workspaces.azureml.sdk_v2 import AzureMLSdkV2
from lensflow_protocol.errors import LensflowError, NotFound, NotSignedIn, Unsupported
from lensflow_protocol.settings import Settings

from tests.azure_double.conftest import StaticTokenCredential
from tests.azure_double.server import AzureDouble

pytestmark = pytest.mark.azure_http
SCRIPT_TAG = "lensflow.script"


@pytest.fixture
def sdk(
    azure_double: AzureDouble, credential: StaticTokenCredential, tmp_path: Path
) -> AzureMLSdkV2:
    return AzureMLSdkV2(azure_double.write_config(tmp_path), credential=credential)


@pytest.fixture
def ridge_pkl(tmp_path: Path) -> Path:
    """A real model file: a tiny Ridge, pickled as the seed's script does."""
    from sklearn.linear_model import Ridge

    model = Ridge(alpha=0.5).fit([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]], [1.0, 2.0, 3.0])
    path = tmp_path / "ridge" / "model.pkl"
    path.parent.mkdir()
    path.write_bytes(pickle.dumps(model))
    return path


@pytest.fixture
def mlflow_model_dir(tmp_path: Path) -> Path:
    import mlflow.sklearn
    from sklearn.linear_model import Ridge

    model = Ridge().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
    path = tmp_path / "mlflow-ridge"
    # Requirements given, not inferred: inference runs the model in a child (seconds).
    mlflow.sklearn.save_model(model, str(path), pip_requirements=["scikit-learn"])
    return path


def test_tracking_gives_the_workspace_uri_and_a_resource_manager_token(
    sdk: AzureMLSdkV2, azure_double: AzureDouble, credential: StaticTokenCredential
) -> None:
    tracking = sdk.tracking()

    # With azureml-mlflow installed, azure-ai-ml rewrites the URI for MLflow's v2 routes.
    assert tracking.uri.startswith(f"azureml://127.0.0.1:{azure_double.port}/mlflow/v")
    assert tracking.uri.endswith(azure_double.workspace_id)
    assert tracking.token == credential.token
    assert set(credential.scopes) == {(f"{azure_double.base_url}/.default",)}
    [get] = azure_double.requests("GET", "/workspaces/")
    assert get.path == azure_double.workspace_id and get.status == 200


def test_a_model_file_becomes_a_custom_model_with_its_framework_as_tags(
    sdk: AzureMLSdkV2, azure_double: AzureDouble, ridge_pkl: Path
) -> None:
    tags = {SCRIPT_TAG: "train.py"}
    first = sdk.register_model(
        "run-1", "diabetes", str(ridge_pkl), "ScikitLearn", "1.5.2", "a ridge", tags
    )
    second = sdk.register_model("run-2", "diabetes", str(ridge_pkl), "ScikitLearn", None, None, {})

    assert (first.name, first.version, second.version) == ("diabetes", 1, 2)
    assert (first.framework, first.framework_version, first.run_id) == (
        "ScikitLearn",
        "1.5.2",
        "run-1",
    )
    assert first.tags[SCRIPT_TAG] == "train.py"
    assert first.source.endswith("/model.pkl")
    assert (second.run_id, second.framework_version) == ("run-2", None)
    puts = azure_double.requests("PUT", "/models/diabetes/versions/")
    body = puts[0].request_json["properties"]
    assert body["modelType"] == "custom_model"
    assert body["description"] == "a ridge"
    assert body["tags"] == {
        SCRIPT_TAG: "train.py",
        "modelFramework": "ScikitLearn",
        "modelFrameworkVersion": "1.5.2",
        "runId": "run-1",
    }
    [blob] = {b.content for b in azure_double.blobs.values()}
    assert pickle.loads(blob).alpha == 0.5  # the Ridge itself went up


def test_an_mlflow_model_folder_becomes_an_mlflow_model(
    sdk: AzureMLSdkV2, azure_double: AzureDouble, mlflow_model_dir: Path
) -> None:
    model = sdk.register_model(
        "run-1", "diabetes-mlflow", str(mlflow_model_dir), "MLflow", None, None, {}
    )

    assert (model.name, model.version, model.framework) == ("diabetes-mlflow", 1, "MLflow")
    [put] = azure_double.requests("PUT", "/models/diabetes-mlflow/versions/1")
    assert put.request_json["properties"]["modelType"] == "mlflow_model"
    uploaded = {name.rsplit("/", 1)[1] for name in azure_double.blob_names()}
    assert uploaded == {p.name for p in mlflow_model_dir.iterdir()} and "MLmodel" in uploaded


def test_list_and_get_give_back_what_was_registered(
    sdk: AzureMLSdkV2, ridge_pkl: Path, mlflow_model_dir: Path
) -> None:
    for run in ("run-1", "run-2"):
        sdk.register_model(run, "diabetes", str(ridge_pkl), "ScikitLearn", None, None, {})
    sdk.register_model("run-3", "diabetes-mlflow", str(mlflow_model_dir), "MLflow", None, None, {})

    listed = sorted((m.name, m.version, m.framework, m.run_id) for m in sdk.list_models())
    assert listed == [
        ("diabetes", 1, "ScikitLearn", "run-1"),
        ("diabetes", 2, "ScikitLearn", "run-2"),
        ("diabetes-mlflow", 1, "MLflow", "run-3"),
    ]
    latest = sdk.get_model("diabetes", None)
    one = sdk.get_model("diabetes", 1)
    assert latest is not None and (latest.version, latest.run_id) == (2, "run-2")
    assert one is not None and (one.version, one.run_id) == (1, "run-1")
    assert one.created_ms is not None and one.created_ms > 0
    assert sdk.get_model("diabetes", 7) is None
    assert sdk.get_model("no-such-model", None) is None
    assert sdk.get_model("no-such-model", 1) is None


def test_a_rejected_token_is_not_signed_in(azure_double: AzureDouble, tmp_path: Path) -> None:
    sdk = AzureMLSdkV2(
        azure_double.write_config(tmp_path), credential=StaticTokenCredential("not-the-token")
    )
    with pytest.raises(Exception) as raised:
        sdk.list_models()
    error = map_error(raised.value, "list models")
    assert isinstance(error, NotSignedIn), error
    assert "az login" in error.message


def test_a_missing_workspace_is_not_found(
    azure_double: AzureDouble, credential: StaticTokenCredential, tmp_path: Path
) -> None:
    sdk = AzureMLSdkV2(azure_double.write_config(tmp_path, "no-such-ws"), credential=credential)
    with pytest.raises(Exception) as raised:
        sdk.tracking()
    error = map_error(raised.value, "get the MLflow tracking URI")
    assert isinstance(error, NotFound), error
    assert "no-such-ws" in error.message


def test_creating_a_cluster_without_a_resource_id_is_unsupported_without_a_request(
    sdk: AzureMLSdkV2, azure_double: AzureDouble
) -> None:
    with pytest.raises(Unsupported) as raised:
        sdk.create_cluster(AksSpec("aks-1", "Standard_D3_v2", 1, "DevTest"))
    assert "managed online endpoints need none" in raised.value.message
    assert "resourceId" in raised.value.message
    assert azure_double.requests() == []


def test_a_config_without_the_workspace_keys_is_an_invalid_path(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"subscription_id": "x"}')
    with pytest.raises(LensflowError) as raised:
        AzureMLSdkV2(path).tracking()
    assert raised.value.kind.value == "invalidPath"
    assert "resource_group" in raised.value.message


@pytest.fixture
async def workspace(
    azure_double: AzureDouble, sdk: AzureMLSdkV2, tmp_path: Path
) -> AsyncIterator[AzureMLWorkspace]:
    ws = AzureMLWorkspace(tmp_path / "config.json", sys.executable, sdk=sdk)
    yield ws
    await ws.close()


async def test_the_workspace_lists_models_through_sdk_v2(
    workspace: AzureMLWorkspace, sdk: AzureMLSdkV2, ridge_pkl: Path
) -> None:
    tags = {SCRIPT_TAG: "train.py"}
    for run in ("run-1", "run-2"):
        sdk.register_model(run, "diabetes", str(ridge_pkl), "ScikitLearn", None, None, tags)

    result = await workspace.list_models()

    [model] = result.models
    assert (model.name, model.latest_version) == ("diabetes", 2)
    assert [(v.version, v.run_id, v.script) for v in model.versions] == [
        (2, "run-2", "train.py"),
        (1, "run-1", "train.py"),
    ]
    assert model.versions[0].model_framework == "ScikitLearn"


async def test_the_workspace_maps_a_missing_workspace_to_not_found(
    azure_double: AzureDouble, credential: StaticTokenCredential, tmp_path: Path
) -> None:
    config = azure_double.write_config(tmp_path, "no-such-ws")
    ws = AzureMLWorkspace(config, sys.executable, sdk=AzureMLSdkV2(config, credential=credential))
    try:
        with pytest.raises(NotFound):
            await ws.list_models()
    finally:
        await ws.close()


def test_the_azure_sdk_setting_defaults_to_v2_and_picks_v1_when_asked(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    default = make_workspace(resolve(Settings(workspace="config.json"), tmp_path))
    v1 = make_workspace(resolve(Settings(workspace="config.json", azureSdk="v1"), tmp_path))

    assert isinstance(getattr(default, "sdk", None), AzureMLSdkV2)
    assert type(getattr(v1, "sdk", None)).__name__ == "AzureMLSdk"
