"""AzureMLWorkspace over a substitute SDK: states, waiting, errors, deadlines, tracking."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from lensflow.workspaces.azureml import AzureMLWorkspace
from lensflow.workspaces.azureml.interface import AksCluster, AzureModel
from lensflow_protocol.deployment import CleanUpArgs, CreateClusterArgs, DeployArgs
from lensflow_protocol.errors import Conflict, NotFound, NotSignedIn, Unreachable
from lensflow_protocol.tracking import RegisterModelArgs, RunDetail

from .fakes import AuthenticationException, Events, FakeSdk


@pytest.fixture
def sdk() -> FakeSdk:
    return FakeSdk()


@pytest.fixture
async def ws(sdk: FakeSdk, tmp_path: Path) -> AsyncIterator[AzureMLWorkspace]:
    workspace = AzureMLWorkspace(tmp_path / "config.json", sys.executable, sdk=sdk)
    workspace.cluster_poll_s = workspace.service_poll_s = 0.01
    yield workspace
    await workspace.close()


def _ready(sdk: FakeSdk) -> None:
    sdk.clusters["aks-1"] = [AksCluster("aks-1", "Succeeded", "Standard_D3_v2", 1, "DevTest")]
    sdk.models.append(AzureModel("diabetes_model", 1, "ScikitLearn", "1.9.1", "run1"))


async def test_create_cluster_waits_and_reports_each_state(ws: AzureMLWorkspace, sdk: FakeSdk):
    events = Events()
    args = CreateClusterArgs(name="aks-1", vm_size="Standard_D3_v2", node_count=3,
                             cluster_purpose="FastProd", location="westeurope")  # fmt: skip
    info = await ws.create_cluster(args, events)
    assert info.state == "Succeeded"
    assert (info.cpu_cores, info.memory_gb, info.node_count) == (12.0, 42.0, 3)
    spec = dict(sdk.calls)["create_cluster"]
    assert (spec.vm_size, spec.agent_count, spec.cluster_purpose, spec.location) == (
        "Standard_D3_v2", 3, "FastProd", "westeurope",
    )  # fmt: skip
    assert [state for _, state, _ in events.clusters] == ["Creating", "Succeeded"]


async def test_create_cluster_without_waiting_reports_later(ws: AzureMLWorkspace, sdk: FakeSdk):
    events = Events()
    info = await ws.create_cluster(CreateClusterArgs(name="aks-2", wait=False), events)
    assert info.state == "Creating"
    for _ in range(200):
        if ("aks-2", "Succeeded", None) in events.clusters:
            break
        await asyncio.sleep(0.01)
    assert events.clusters == [("aks-2", "Creating", None), ("aks-2", "Succeeded", None)]


async def test_cancelled_wait_says_the_cloud_goes_on(ws: AzureMLWorkspace, sdk: FakeSdk):
    creating = AksCluster("aks-3", "Creating", "Standard_D3_v2", 1, "DevTest")
    sdk.clusters["aks-3"] = []  # absent at first look, then creating for ever
    ws.cluster_poll_s = 0.05
    cancel = asyncio.Event()
    task = asyncio.ensure_future(
        ws.create_cluster(CreateClusterArgs(name="aks-3"), Events(), cancel)
    )
    await asyncio.sleep(0.02)
    sdk.clusters["aks-3"] = [creating]
    cancel.set()
    info = await asyncio.wait_for(task, 2)
    assert info.state == "Creating"
    assert info.error is not None and "goes on in Azure" in info.error


async def test_existing_cluster_is_a_conflict(ws: AzureMLWorkspace, sdk: FakeSdk):
    _ready(sdk)
    with pytest.raises(Conflict):
        await ws.create_cluster(CreateClusterArgs(name="aks-1"), Events())
    assert "create_cluster" not in sdk.names()


async def test_deploy_maps_arguments_and_states(ws: AzureMLWorkspace, sdk: FakeSdk):
    _ready(sdk)
    events = Events()
    args = DeployArgs(
        service_name="diabetes-service", model_name="diabetes_model", cluster_name="aks-1",
        cpu_cores=1, memory_gb=1, auth_enabled=True,
    )  # fmt: skip
    info = await ws.deploy(args, events)
    spec = dict(sdk.calls)["deploy"]
    assert (spec.model_name, spec.model_version, spec.cluster_name) == (
        "diabetes_model",
        1,
        "aks-1",
    )
    assert (spec.cpu_cores, spec.memory_gb, spec.auth_enabled) == (1.0, 1.0, True)
    assert info.state == "Healthy" and info.scoring_uri.endswith("/score")
    assert [s for _, s, _ in events.services] == ["Transitioning", "Healthy"]


async def test_failed_deploy_carries_the_log_tail(ws: AzureMLWorkspace, sdk: FakeSdk):
    _ready(sdk)
    sdk.failing.add("svc-1")
    args = DeployArgs(service_name="svc-1", model_name="diabetes_model", cluster_name="aks-1")
    info = await ws.deploy(args, Events())
    assert info.state == "Failed"
    assert info.error is not None and "ImagePullBackOff" in info.error and "line 199" in info.error


async def test_deploy_without_waiting(ws: AzureMLWorkspace, sdk: FakeSdk):
    _ready(sdk)
    events = Events()
    args = DeployArgs(service_name="svc-2", model_name="diabetes_model", cluster_name="aks-1",
                      wait=False)  # fmt: skip
    info = await ws.deploy(args, events)
    assert info.state == "Transitioning"
    for _ in range(200):
        if ("svc-2", "Healthy", None) in events.services:
            break
        await asyncio.sleep(0.01)
    assert events.services[-1] == ("svc-2", "Healthy", None)


async def test_unknown_model_is_not_found(ws: AzureMLWorkspace, sdk: FakeSdk):
    _ready(sdk)
    args = DeployArgs(service_name="svc-3", model_name="nope", cluster_name="aks-1")
    with pytest.raises(NotFound):
        await ws.deploy(args, Events())


async def test_register_model_sends_framework(
    ws: AzureMLWorkspace, sdk: FakeSdk, monkeypatch: pytest.MonkeyPatch
):
    async def get_run(run_id: str) -> RunDetail:
        assert run_id == "run1"
        return RunDetail(run_id=run_id, experiment_id="1", status="FINISHED", params={},
                         metrics={}, artifacts=[], tags={}, script="/p/train.py",
                         experiment_name="e", artifact_uri="file:///a")  # fmt: skip

    monkeypatch.setattr(ws, "get_run", get_run)
    result = await ws.register_model(
        RegisterModelArgs(run_id="run1", model_name="diabetes_model", model_path="model.pkl")
    )
    assert (result.model_name, result.version, result.model_framework) == (
        "diabetes_model", 1, "ScikitLearn",
    )  # fmt: skip
    assert dict(sdk.calls)["register_model"] == (
        "run1",
        "diabetes_model",
        "model.pkl",
        "ScikitLearn",
    )
    listed = await ws.list_models()
    assert listed.models[0].versions[0].model_framework == "ScikitLearn"
    assert listed.models[0].versions[0].script == "/p/train.py"  # lenses link model and script


async def test_register_model_of_an_unknown_run_is_not_found(
    ws: AzureMLWorkspace, sdk: FakeSdk, monkeypatch: pytest.MonkeyPatch
):
    async def get_run(run_id: str) -> RunDetail:
        raise NotFound(f"No run {run_id}.")

    monkeypatch.setattr(ws, "get_run", get_run)
    with pytest.raises(NotFound):
        await ws.register_model(
            RegisterModelArgs(run_id="gone", model_name="m", model_path="m.pkl")
        )
    assert "register_model" not in sdk.names()


async def test_keys_logs_and_clean_up(ws: AzureMLWorkspace, sdk: FakeSdk):
    _ready(sdk)
    await ws.deploy(DeployArgs(service_name="svc-4", model_name="diabetes_model",
                               cluster_name="aks-1"), Events())  # fmt: skip
    keys = await ws.get_service_keys("svc-4")
    assert keys.primary_key == "primary-key"
    logs = await ws.get_service_logs("svc-4", 5)
    assert logs.lines == [f"line {i}" for i in range(195, 200)]
    listed = await ws.list_clusters()
    assert listed.clusters[0].services == ["svc-4"]
    done = await ws.clean_up(CleanUpArgs(all=True))
    assert [(d.kind, d.name) for d in done.deleted] == [("service", "svc-4"), ("cluster", "aks-1")]
    assert sdk.names()[-2:] == ["delete_service", "delete_cluster"]


async def test_auth_failure_is_not_signed_in(ws: AzureMLWorkspace, sdk: FakeSdk):
    sdk.fail = AuthenticationException("AADSTS700016: application not found in tenant")
    with pytest.raises(NotSignedIn) as caught:
        await ws.list_clusters()
    assert "az login" in caught.value.message and "AZURE_CLIENT_ID" in caught.value.message


async def test_connection_error_is_unreachable(ws: AzureMLWorkspace, sdk: FakeSdk):
    sdk.fail = ConnectionError("Name or service not known")
    with pytest.raises(Unreachable):
        await ws.list_services(None)


async def test_a_hanging_call_fails_within_its_deadline(ws: AzureMLWorkspace, sdk: FakeSdk):
    sdk.hang = threading.Event()
    ws.calls.call_timeout_s = 0.3
    started = time.monotonic()
    try:
        with pytest.raises(Unreachable) as caught:
            await ws.list_clusters()
    finally:
        sdk.hang.set()
    assert time.monotonic() - started < 2
    assert "did not answer" in caught.value.message


async def test_tracking_uri_is_reused_for_50_minutes(sdk: FakeSdk, tmp_path: Path):
    now = [1000.0]
    ws = AzureMLWorkspace(tmp_path / "config.json", sys.executable, sdk=sdk, clock=lambda: now[0])
    try:
        first = await ws.tracking.get()
        now[0] += 49 * 60
        assert await ws.tracking.get() == first
        assert ws.child_tracking_uri() == first.uri
        now[0] += 2 * 60
        second = await ws.tracking.get()
        assert second != first and second.token == "token-2"
        assert sdk.names().count("tracking") == 2
    finally:
        await ws.close()


async def test_training_child_gets_uri_and_token(
    ws: AzureMLWorkspace, sdk: FakeSdk, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    from lensflow.workspaces.base import TrackRequest
    from lensflow.workspaces.tracking.mlflow_workspace import MlflowWorkspace

    seen = {}

    async def fake_track(self, request, events, cancel):  # type: ignore[no-untyped-def]
        seen.update(request.env, uri=self.child_tracking_uri())

    monkeypatch.setattr(MlflowWorkspace, "track_run", fake_track)
    await ws.track_run(TrackRequest(tmp_path / "train.py", "exp"), None, asyncio.Event())  # type: ignore[arg-type]
    assert seen["uri"] == "azureml://example/1"
    assert seen["MLFLOW_TRACKING_TOKEN"] == "token-1"


async def test_a_cancel_landing_as_an_sdk_call_completes_is_not_lost(ws: AzureMLWorkspace):
    # asyncio.wait_for on Python 3.11 returned the result instead: a watcher polling through
    # such a call outlived its cancel, and the test's teardown (`close()`) waited for ever.
    release = threading.Event()
    task = asyncio.ensure_future(ws.calls("look up", lambda: release.wait(5)))
    await asyncio.sleep(0.05)  # the call is running in the pool
    release.set()
    time.sleep(0.1)  # the loop held: the call has completed, its result not yet delivered
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_close_ends_watchers_even_one_that_ignores_a_cancel(ws: AzureMLWorkspace):
    from lensflow.workspaces.azureml.calls import cancel_all

    async def swallows_one_cancel() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(3600)
        await asyncio.sleep(3600)

    ws._watch("twice", swallows_one_cancel())
    await asyncio.sleep(0)  # the watcher is waiting
    async with asyncio.timeout(5):
        await ws.close()  # cancels again
    assert not ws._watchers

    stop = asyncio.Event()

    async def ignores_cancels() -> None:
        while not stop.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await stop.wait()

    stubborn = asyncio.ensure_future(ignores_cancels())
    await asyncio.sleep(0)
    started = time.monotonic()
    await cancel_all([stubborn], within_s=0.3)  # gives up, bounded
    assert not stubborn.done() and time.monotonic() - started < 2
    stop.set()
    await stubborn
