"""Shared fixtures: a real Lensflow server over stdio, driven by pytest-lsp."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Union

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "client-sample" / "python" / "train.py"
SEED_ORIGINAL = REPO / "tests" / "fixtures" / "seed_train_original.py"
SERVER_COMMAND = [sys.executable, "-m", "lensflow", "--log-level", "INFO"]


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """A workspace folder holding the demo training script.

    Clusters and services outlive the server by design, so whatever a test left running
    (a failed one, say) is cleaned up here.
    """
    root = tmp_path / "project"
    root.mkdir()
    shutil.copy(SAMPLE, root / "train.py")
    yield root
    if (root / ".lensflow" / "clusters").exists() or (root / ".lensflow" / "services").exists():
        from lensflow.workspaces.local.deployments import LocalDeployments

        LocalDeployments(root / ".lensflow").clean_up(all=True)


def capabilities(progress: bool = True) -> types.ClientCapabilities:
    return types.ClientCapabilities(
        window=types.WindowClientCapabilities(work_done_progress=progress),
        workspace=types.WorkspaceClientCapabilities(
            code_lens=types.CodeLensWorkspaceClientCapabilities(refresh_support=True),
            inlay_hint=types.InlayHintWorkspaceClientCapabilities(refresh_support=True),
            configuration=False,
        ),
        text_document=types.TextDocumentClientCapabilities(
            code_lens=types.CodeLensClientCapabilities(dynamic_registration=False),
        ),
    )


async def start(client: LanguageClient, root: Path, **options: Any) -> None:
    await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            root_uri=root.as_uri(),
            initialization_options=options or None,
        )
    )


def plain(value: Any) -> Any:
    """Custom notifications reach a pygls client as namedtuples; tests want dicts."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def record(client: LanguageClient) -> None:
    """Keeps Lensflow's notifications on `client.lensflow` as (method, params) pairs."""
    client.lensflow = []  # type: ignore[attr-defined]
    client.lens_refreshes = 0  # type: ignore[attr-defined]
    client.inlay_refreshes = 0  # type: ignore[attr-defined]
    for method in (
        "lensflow/runOutput",
        "lensflow/runUpdated",
        "lensflow/serviceUpdated",
        "lensflow/clusterUpdated",
        "lensflow/workspaceChanged",
    ):

        def keep(params: Any, method: str = method) -> None:
            client.lensflow.append((method, plain(params)))  # type: ignore[attr-defined]

        client.feature(method)(keep)

    @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
    def refresh(params: Any) -> None:
        client.lens_refreshes += 1  # type: ignore[attr-defined]

    @client.feature(types.WORKSPACE_INLAY_HINT_REFRESH)
    def refresh_hints(params: Any) -> None:
        client.inlay_refreshes += 1  # type: ignore[attr-defined]


def notes(client: LanguageClient, method: str) -> list[dict[str, Any]]:
    return [params for m, params in client.lensflow if m == method]  # type: ignore[attr-defined]


def tell_code_actions_from_commands(client: LanguageClient) -> None:
    """lsprotocol's client-side hook takes any result with a `command` key for a Command, so a
    CodeAction carrying a command arrives mangled. Editors read the JSON correctly; so do we."""
    converter = client.protocol._converter

    def structure(obj: Any, _: Any) -> types.Command | types.CodeAction:
        if isinstance(obj.get("command"), str):
            return converter.structure(obj, types.Command)
        return converter.structure(obj, types.CodeAction)

    converter.register_structure_hook(types.Command | types.CodeAction, structure)
    converter.register_structure_hook(Union[types.Command, types.CodeAction], structure)  # noqa: UP007


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def client(lsp_client: LanguageClient, project: Path) -> AsyncIterator[LanguageClient]:
    record(lsp_client)
    tell_code_actions_from_commands(lsp_client)
    await start(lsp_client, project)
    yield lsp_client
    if getattr(lsp_client, "shut_down", False):
        lsp_client.exit(None)  # the test already shut the server down
    else:
        await lsp_client.shutdown_session()


async def execute(client: LanguageClient, command: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )


async def error_of(client: LanguageClient, command: str, *arguments: Any) -> JsonRpcException:
    """The JSON-RPC error a command answers; fails the test if it answers a result."""
    with pytest.raises(JsonRpcException) as caught:
        await execute(client, command, *arguments)
    return caught.value


def open_document(client: LanguageClient, path: Path, text: str | None = None) -> str:
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri,
                language_id="python",
                version=1,
                text=path.read_text() if text is None else text,
            )
        )
    )
    return uri
