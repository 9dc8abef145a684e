"""The Azure ML workspace over stdio with the real SDK and no network: the status, lenses and
diagnostics work without signing in, and every command fails fast with an error that says
what to do (no credentials → notSignedIn; a service principal but no network → unreachable).

"No network" is made real on this machine, whatever its routes: the server's environment is
`tests.e2e.offline_network.closed(..., sdk="v1")`, whose `HTTPS_PROXY` / `HTTP_PROXY` are a
closed port on 127.0.0.1 and `NO_PROXY` empty (and no `ARM_CLOUD_METADATA_URL`: azureml-core
would fail on that before signing in). azureml-core's service-principal sign-in (MSAL over a
`requests.Session`) and its ARM calls (azure-core's requests transport, msrest / `requests`)
all honour the proxy, so each is refused at once; that module says how this was checked.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest_lsp
from lensflow_protocol.registry import COMMANDS
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import (
    SERVER_COMMAND,
    error_of,
    execute,
    notes,
    open_document,
    record,
    start,
    tell_code_actions_from_commands,
)
from tests.e2e.offline_network import closed

CONFIG = {
    "subscription_id": "00000000-0000-0000-0000-000000000000",
    "resource_group": "rg-lensflow",
    "workspace_name": "mlw-lensflow",
}
# Whatever this machine has, the server sees no Azure sign-in but what a test gives it.
BARE_ENV = {
    k: v
    for k, v in os.environ.items()
    if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "MLFLOW_TRACKING"))
}
SP_ENV = {
    **BARE_ENV,
    "AZURE_TENANT_ID": "00000000-0000-0000-0000-00000000000a",
    "AZURE_CLIENT_ID": "00000000-0000-0000-0000-00000000000b",
    "AZURE_CLIENT_SECRET": "not-a-real-secret",
}
# The same two, with every request refused at once on 127.0.0.1 (no credential's probe, nor
# the service principal's sign-in, depends on this machine's routes).
UNSIGNED_ENV = closed(BARE_ENV, sdk="v1")
NO_NETWORK_ENV = closed(SP_ENV, sdk="v1")
# One valid argument object per command: a new command must say how it fails offline.
ARGUMENTS = {
    "lensflow.trackRun": {"script": "train.py"},
    "lensflow.registerModel": {"runId": "r1", "modelName": "m", "modelPath": "model.pkl"},
    "lensflow.listExperiments": {},
    "lensflow.listRuns": {},
    "lensflow.getRun": {"runId": "r1"},
    "lensflow.listModels": {},
    "lensflow.createCluster": {"name": "aks-1", "wait": False},
    "lensflow.deploy": {"serviceName": "svc", "modelName": "m", "clusterName": "aks-1"},
    "lensflow.invokeEndpoint": {"serviceName": "svc"},
    "lensflow.cleanUp": {"all": True},
    "lensflow.listClusters": {},
    "lensflow.listServices": {},
    "lensflow.getServiceKeys": {"serviceName": "svc"},
    "lensflow.getServiceLogs": {"serviceName": "svc"},
    "lensflow.compareRuns": {"script": "train.py"},
}
# Commands that answer without Azure at all.
LOCAL_ANSWERS = {"lensflow.getWorkspace", "lensflow.openTrackingUi"}
LOG_MODEL_SCRIPT = """import mlflow
from sklearn.linear_model import Ridge

with mlflow.start_run():
    model = Ridge().fit([[0.0], [1.0]], [0.0, 1.0])
    mlflow.sklearn.log_model(model, "model")
"""


async def azure_client(
    client: LanguageClient, project: Path, sdk: str = "v1"
) -> AsyncIterator[LanguageClient]:
    """A started server on the Azure workspace of config.json (`CONFIG`), with SDK `sdk`."""
    (project / "config.json").write_text(json.dumps(CONFIG))
    record(client)
    tell_code_actions_from_commands(client)
    await start(client, project, workspace="config.json", azureSdk=sdk)
    yield client
    await client.shutdown_session()


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=SERVER_COMMAND, server_env=UNSIGNED_ENV)
)
async def unsigned(lsp_client: LanguageClient, project: Path) -> AsyncIterator[LanguageClient]:
    async for client in azure_client(lsp_client, project):
        yield client


@pytest_lsp.fixture(
    config=ClientServerConfig(server_command=SERVER_COMMAND, server_env=NO_NETWORK_ENV)
)
async def offline_sp(lsp_client: LanguageClient, project: Path) -> AsyncIterator[LanguageClient]:
    async for client in azure_client(lsp_client, project):
        yield client


async def _every_command_fails(client: LanguageClient, kind: str, hint: str) -> None:
    assert set(ARGUMENTS) == set(COMMANDS) - LOCAL_ANSWERS
    for command, arguments in ARGUMENTS.items():
        started = time.monotonic()
        error = await error_of(client, command, arguments)
        took = time.monotonic() - started
        assert took < 60, f"{command} took {took:.1f} s"
        assert error.code in range(-32099, -32000 + 1), (command, error.code, error.message)
        assert error.data["kind"] == kind, (command, error.data, error.message)
        assert hint in error.message, (command, error.message)
    # The server is still there, and still knows where it points.
    info = await execute(client, "lensflow.getWorkspace", {})
    assert info["name"] == CONFIG["workspace_name"]
    ui = await error_of(client, "lensflow.openTrackingUi", {})
    assert ui.data["kind"] == "unsupported" and "https://ml.azure.com" in ui.message


async def test_no_credentials_every_command_says_sign_in(unsigned: LanguageClient) -> None:
    await _every_command_fails(unsigned, "notSignedIn", "az login")


async def test_no_network_every_command_says_unreachable(offline_sp: LanguageClient) -> None:
    await _every_command_fails(offline_sp, "unreachable", "network")
    # The secret never shows in what the client saw.
    assert not any("not-a-real-secret" in json.dumps(p) for _, p in offline_sp.lensflow)  # type: ignore[attr-defined]


async def test_status_lenses_and_diagnostics_without_signing_in(
    unsigned: LanguageClient, project: Path
) -> None:
    client = unsigned
    info = await execute(client, "lensflow.getWorkspace", {})
    assert info == {
        "kind": "azureml",
        "name": "mlw-lensflow",
        "configPath": str(project / "config.json"),
        "subscriptionId": CONFIG["subscription_id"],
        "resourceGroup": CONFIG["resource_group"],
    }

    # Lenses come from the syntax tree; resolving them may not wait for a sign-in.
    uri = open_document(client, project / "train.py")
    started = time.monotonic()
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    titles = []
    for lens in lenses or []:
        done = lens if lens.command else await client.code_lens_resolve_async(lens)
        titles.append(done.command.title if done.command else None)
    assert "▶ Track run" in titles
    assert time.monotonic() - started < 60

    # mlflow.<flavor>.log_model is flagged for Azure only; register_model is not.
    script = project / "log_model.py"
    script.write_text(LOG_MODEL_SCRIPT)
    log_uri = open_document(client, script)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    (diagnostic,) = client.diagnostics[log_uri]
    assert diagnostic.code == "mlflow-log-model-azureml"
    assert diagnostic.range.start.line == 5 and "logged-models" in diagnostic.message
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=log_uri),
            range=diagnostic.range,
            context=types.CodeActionContext(diagnostics=[diagnostic]),
        )
    )
    fix = next(a for a in actions or [] if isinstance(a, types.CodeAction) and a.edit)
    assert fix.title == "Save with joblib.dump and log with mlflow.log_artifact"

    # Back to local: the status bar hears of it, and the Azure-only diagnostic goes.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"workspace": "local"}})
    )
    await client.wait_for_notification("lensflow/workspaceChanged")
    (changed,) = notes(client, "lensflow/workspaceChanged")
    assert changed["kind"] == "local" and changed["name"] == project.name
    assert changed["home"] == str(project / ".lensflow")
    assert changed["trackingUri"] == f"sqlite:///{project / '.lensflow' / 'mlflow.db'}"

    async def cleared() -> None:  # both open documents get theirs, in turn
        while client.diagnostics[log_uri]:
            await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)

    await asyncio.wait_for(cleared(), 10)


async def test_azure_auth_setting_chooses_the_sign_in(unsigned: LanguageClient) -> None:
    client = unsigned
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={
                "lensflow": {
                    "workspace": "config.json",
                    "azureAuth": "servicePrincipal",
                    "azureSdk": "v1",
                }
            }
        )
    )
    error = await error_of(client, "lensflow.listModels", {})
    assert error.data["kind"] == "notSignedIn"
    assert "A service principal needs AZURE_TENANT_ID, AZURE_CLIENT_ID, AZURE_CLIENT_SECRET" in (
        error.message
    )
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"azureAuth": "browser"}})
    )
    message = await client.wait_for_notification(types.WINDOW_SHOW_MESSAGE)
    assert "invalid settings" in message.message and "azureAuth" in message.message
