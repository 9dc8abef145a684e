"""The SDK v2 workspace's serving paths that the seed's happy path does not take, in process,
against the Azure double through the real azure-ai-ml: a deployment Azure fails, `wait: false`
with its later notifications, a 429 in the middle of a command, and the answers that need no
request (a managed deployment too big for any instance type, a custom model, a keyless one)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lensflow.workspaces.azureml import AzureMLWorkspace
from lensflow.workspaces.azureml.sdk_v2 import AzureMLSdkV2
from lensflow_protocol.deployment import DeployArgs
from lensflow_protocol.errors import Unschedulable, Unsupported

from tests.azure_double.conftest import StaticTokenCredential
from tests.azure_double.server import AzureDouble
from tests.azureml.fakes import Events

pytestmark = pytest.mark.azure_http


@pytest.fixture
async def workspace(
    azure_double: AzureDouble, credential: StaticTokenCredential, tmp_path: Path
) -> AsyncIterator[AzureMLWorkspace]:
    config = azure_double.write_config(tmp_path)
    ws = AzureMLWorkspace(config, sys.executable, sdk=AzureMLSdkV2(config, credential=credential))
    ws.service_poll_s = 0.5
    yield ws
    await ws.close()


def _register(ws: AzureMLWorkspace, path: Path, kind: str = "MLflow") -> None:
    ws.sdk.register_model("run-1", "ridge", str(path), kind, None, None, {})  # type: ignore[arg-type]


async def test_a_deployment_azure_fails_is_failed_with_its_message_and_log(
    workspace: AzureMLWorkspace, azure_double: AzureDouble, mlflow_folder: Path
) -> None:
    _register(workspace, mlflow_folder)
    azure_double.online.fail_deployment("default", "The image could not be pulled.")
    # A throttled request in the middle of the command is ridden out (Retry-After: 1).
    azure_double.fail_next(429, retry_after=1, path_contains="/onlineEndpoints/svc-red")
    events = Events()

    info = await workspace.deploy(
        DeployArgs(service_name="svc-red", model_name="ridge", cpu_cores=1, memory_gb=2), events
    )

    assert info.state == "Failed"
    assert "The image could not be pulled." in (info.error or "")
    assert events.services[0][1] == "Transitioning"
    assert events.services[-1][1] == "Failed"
    throttled = [e for e in azure_double.exchanges if e.status == 429]
    assert throttled and throttled[0].response_headers["retry-after"] == "1"


async def test_wait_false_answers_at_once_and_the_end_comes_as_a_notification(
    workspace: AzureMLWorkspace, azure_double: AzureDouble, mlflow_folder: Path
) -> None:
    _register(workspace, mlflow_folder)
    azure_double.online.fail_deployment("default", "Quota exceeded for Standard_DS1_v2.")
    events = Events()

    info = await workspace.deploy(
        DeployArgs(service_name="svc-later", model_name="ridge", wait=False), events
    )

    assert (info.state, info.instance_type) == ("Transitioning", "Standard_DS1_v2")
    for _ in range(200):
        if events.services and events.services[-1][1] != "Transitioning":
            break
        await asyncio.sleep(0.1)
    name, state, error = events.services[-1]
    assert (name, state) == ("svc-later", "Failed")
    assert "Quota exceeded" in (error or "")


async def test_answers_that_need_no_request(
    workspace: AzureMLWorkspace, azure_double: AzureDouble, model_file: Path
) -> None:
    events = Events()
    with pytest.raises(Unschedulable) as too_big:
        await workspace.deploy(
            DeployArgs(service_name="svc-big", model_name="m", cpu_cores=64, memory_gb=512),
            events,
        )
    assert "Standard_E64s_v3" in too_big.value.message
    with pytest.raises(Unsupported) as keyless:
        await workspace.deploy(
            DeployArgs(service_name="svc-open", model_name="m", auth_enabled=False), events
        )
    assert "always need a key" in keyless.value.message
    assert azure_double.requests() == []

    # A custom model (not an MLflow one) is refused by name, before anything is created.
    _register(workspace, model_file, "ScikitLearn")
    with pytest.raises(Unsupported) as custom:
        await workspace.deploy(DeployArgs(service_name="svc-pkl", model_name="ridge"), events)
    assert "only MLflow models" in custom.value.message
    assert not azure_double.requests("PUT", "/onlineEndpoints/")
