"""Notebooks end to end: lenses on cells (LSP 3.17 notebook sync) and `trackRun` of an .ipynb,
executed cell by cell on a real ipykernel under a real MLflow run, over stdio."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import pytest_lsp
from lsprotocol import types
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient

from tests.conftest import (
    SERVER_COMMAND,
    capabilities,
    error_of,
    execute,
    notes,
    record,
    tell_code_actions_from_commands,
)
from tests.e2e.test_cancel import alive, wait_for_output
from tests.e2e.test_tracking import expected_mse, store_run

IMPORTS = """\
import joblib
import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

mlflow.set_experiment('notebook_experiment')"""
DATA = """\
X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
print("Data contains", len(X_train), "training samples and", len(X_test), "test samples")"""
TRAIN = """\
with mlflow.start_run():
    mlflow.log_param('alpha', 0.03)
    model = Ridge(alpha=0.03).fit(X_train, y_train)
    mse = mean_squared_error(y_test, model.predict(X_test))
    print('Mean Squared Error is', mse)
    mlflow.log_metric('mse', mse)
    joblib.dump(value=model, filename='model.pkl')
    mlflow.log_artifact('model.pkl')"""
SEED_CELLS = [
    new_code_cell(IMPORTS),
    new_markdown_cell("## The data, split as the seed does"),
    new_code_cell(DATA),
    new_code_cell(TRAIN),
    new_code_cell("round(mse, 4)"),  # an execute result, not a print
]


def write_notebook(path: Path, cells: list[Any]) -> Path:
    nbformat.write(new_notebook(cells=cells), path)
    return path


def cell_uri(notebook: Path, index: int) -> str:
    return f"vscode-notebook-cell:{notebook}#W{index}sZmlsZQ%3D%3D"


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER_COMMAND))
async def nb_client(lsp_client: LanguageClient, project: Path) -> AsyncIterator[LanguageClient]:
    """A client that can sync notebooks, as VS Code's is."""
    record(lsp_client)
    tell_code_actions_from_commands(lsp_client)
    caps = capabilities()
    caps.notebook_document = types.NotebookDocumentClientCapabilities(
        synchronization=types.NotebookDocumentSyncClientCapabilities()
    )
    lsp_client.initialize_result = await lsp_client.initialize_session(  # type: ignore[attr-defined]
        types.InitializeParams(
            capabilities=caps,
            workspace_folders=[types.WorkspaceFolder(uri=project.as_uri(), name=project.name)],
            root_uri=project.as_uri(),
        )
    )
    yield lsp_client
    await lsp_client.shutdown_session()


def open_notebook(client: LanguageClient, path: Path) -> list[str]:
    """notebookDocument/didOpen with every cell's text document; the cells' uris."""
    nb = nbformat.read(path, as_version=4)
    uris = [cell_uri(path, i) for i in range(len(nb.cells))]
    kinds = {"code": types.NotebookCellKind.Code, "markdown": types.NotebookCellKind.Markup}
    client.notebook_document_did_open(
        types.DidOpenNotebookDocumentParams(
            notebook_document=types.NotebookDocument(
                uri=path.as_uri(),
                notebook_type="jupyter-notebook",
                version=1,
                cells=[
                    types.NotebookCell(kind=kinds[c.cell_type], document=u)
                    for c, u in zip(nb.cells, uris, strict=True)
                ],
            ),
            cell_text_documents=[
                types.TextDocumentItem(
                    uri=u,
                    language_id="python" if c.cell_type == "code" else "markdown",
                    version=1,
                    text=c.source,
                )
                for c, u in zip(nb.cells, uris, strict=True)
            ],
        )
    )
    return uris


async def lenses(client: LanguageClient, uri: str) -> list[types.CodeLens]:
    found = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return [
        lens if lens.command else await client.code_lens_resolve_async(lens) for lens in found or []
    ]


def titled(found: list[types.CodeLens]) -> list[tuple[int, str]]:
    return [(lens.range.start.line, lens.command.title) for lens in found if lens.command]


async def test_notebook_lenses_and_tracked_run(nb_client: LanguageClient, project: Path) -> None:
    client = nb_client
    sync = client.initialize_result.capabilities.notebook_document_sync  # type: ignore[attr-defined]
    (selector,) = sync.notebook_selector
    assert selector.notebook == "jupyter-notebook"
    assert [c.language for c in selector.cells] == ["python"]

    path = write_notebook(project / "train.ipynb", SEED_CELLS)
    uris = open_notebook(client, path)

    # Lenses sit on the cell that holds them, at the cell's own lines.
    for index in (0, 1, 2, 4):
        assert await lenses(client, uris[index]) == [], f"cell {index} has lenses"
    train = await lenses(client, uris[3])
    track = next(lens for lens in train if lens.command and lens.command.title == "▶ Track run")
    assert track.range.start.line == 0
    assert track.command.command == "lensflow.trackRun"
    assert list(track.command.arguments) == [{"script": path.as_uri()}]
    artifact_line = TRAIN.splitlines().index("    mlflow.log_artifact('model.pkl')")
    assert (0, "No runs yet") in titled(train)
    assert (artifact_line, "Register model (track a run first)") in titled(train)

    # Click it: the notebook runs cell by cell in a kernel, under the run the bootstrap made.
    result = await execute(client, track.command.command, *track.command.arguments)
    assert result["status"] == "FINISHED", result["outputTail"]
    assert result["experimentName"] == "notebook_experiment"  # from the first cell
    assert result["params"] == {"alpha": "0.03"}
    assert result["metrics"]["mse"] == pytest.approx(expected_mse(), rel=1e-9)
    assert {"model.pkl", "outputs/std_log.txt", "outputs/train.ipynb"} <= set(result["artifacts"])

    # Cell output streamed before the reply, as each cell ran: streams and execute results.
    streamed = notes(client, "lensflow/runOutput")
    assert {n["runId"] for n in streamed} == {result["runId"]}
    texts = [n["text"] for n in streamed]
    data_at = next(i for i, t in enumerate(texts) if "Data contains 353 training samples" in t)
    mse_at = next(i for i, t in enumerate(texts) if "Mean Squared Error is 3424.85" in t)
    assert data_at < mse_at
    assert str(round(expected_mse(), 4)) in "".join(texts[mse_at:])
    assert "Mean Squared Error is 3424.85" in result["outputTail"]

    # The store: the notebook's own start_run() wrote into our run, tagged with its path.
    mlflow_client, run = store_run(project, result["runId"])
    assert run.info.status == "FINISHED"
    assert run.data.tags["lensflow.script"] == str(path)
    assert run.data.metrics["mse"] == pytest.approx(expected_mse(), rel=1e-9)
    assert len(mlflow_client.search_runs([run.info.experiment_id])) == 1
    log = Path(mlflow_client.download_artifacts(result["runId"], "outputs/std_log.txt"))
    assert "Mean Squared Error is 3424.85" in log.read_text()

    # The executed notebook, with its outputs and nothing of ours added.
    executed = nbformat.read(
        mlflow_client.download_artifacts(result["runId"], "outputs/train.ipynb"), as_version=4
    )
    assert [c.source for c in executed.cells] == [c.source for c in SEED_CELLS]
    (printed,) = executed.cells[3].outputs
    assert printed.name == "stdout" and printed.text.startswith("Mean Squared Error is 3424.85")
    (value,) = executed.cells[4].outputs
    assert value.output_type == "execute_result"
    assert float(value.data["text/plain"]) == round(expected_mse(), 4)

    # Last run and Register model now resolve from the notebook's runs.
    after = titled(await lenses(client, uris[3]))
    assert any(
        line == 0 and t.startswith("Last run: ✓ FINISHED · mse=3424.86") for line, t in after
    )
    assert (artifact_line, "Register model train_model") in after

    # Inside the cell, as in a script: the run's values as hints and on hover, and the
    # workflow as code actions that run the notebook.
    mse_line = TRAIN.splitlines().index("    mlflow.log_metric('mse', mse)")
    alpha_line = TRAIN.splitlines().index("    mlflow.log_param('alpha', 0.03)")
    everywhere = types.Range(
        start=types.Position(line=0, character=0), end=types.Position(line=99, character=0)
    )
    cell = types.TextDocumentIdentifier(uri=uris[3])
    at_mse = types.HoverParams(
        text_document=cell, position=types.Position(line=mse_line, character=8)
    )
    deadline = time.monotonic() + 30  # the first hover starts loading the notebook's runs
    while (found := await client.text_document_hover_async(at_mse)) is None:
        assert time.monotonic() < deadline, "no hover in the cell within 30 s"
        await asyncio.sleep(0.2)
    assert found is not None and isinstance(found.contents, types.MarkupContent)
    assert found.contents.value.startswith("**mse** · metric · 1 run of `train.ipynb`")
    assert result["runId"][:8] in found.contents.value
    assert found.range is not None and found.range.start.line == mse_line
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=cell, range=everywhere)
    )
    assert [(h.position.line, h.label) for h in hints or []] == [
        (alpha_line, "alpha = 0.03"),
        (mse_line, f"mse = {expected_mse():.6g}"),
    ]
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=cell, range=everywhere, context=types.CodeActionContext(diagnostics=[])
        )
    )
    commands = {a.title: a.command for a in actions or [] if isinstance(a, types.CodeAction)}
    track_action = commands["Lensflow: Track run"]
    assert track_action is not None and list(track_action.arguments or []) == [
        {"script": path.as_uri()}
    ]
    register_action = commands["Lensflow: Register model train_model (model.pkl)"]
    assert register_action is not None and list(register_action.arguments or []) == [
        {"runId": result["runId"], "modelName": "train_model", "modelPath": "model.pkl"}
    ]
    # Another cell holds none of it.
    none = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uris[2]), range=everywhere
        )
    )
    assert not none

    # The editor's process stayed lean: the kernel's machinery lives in the training child.
    maps = Path(f"/proc/{client._server.pid}/maps").read_text()  # type: ignore[union-attr]
    assert "zmq" not in maps and "/numpy/" not in maps


async def test_failing_cell_fails_the_run(nb_client: LanguageClient, project: Path) -> None:
    write_notebook(
        project / "broken.ipynb",
        [
            new_code_cell(
                "import mlflow\nmlflow.set_experiment('nb_own')\nmlflow.log_param('a', 1)"
            ),
            new_code_cell("print('about to fail')\n1 / 0"),
            new_code_cell("print('never printed')"),
        ],
    )
    # The caller's experiment wins over the notebook's set_experiment, inside the kernel too.
    result = await execute(
        nb_client, "lensflow.trackRun", {"script": "broken.ipynb", "experimentName": "other"}
    )

    assert result["status"] == "FAILED"
    assert result["exitCode"] == 1
    assert "ZeroDivisionError" in result["outputTail"]
    assert "about to fail" in result["outputTail"]
    assert "never printed" not in result["outputTail"]
    assert "set_experiment('nb_own') redirected" in result["outputTail"]
    assert result["experimentName"] == "other"
    mlflow_client, run = store_run(project, result["runId"])
    assert run.info.status == "FAILED"
    assert run.data.params == {"a": "1"}  # logged by the kernel, into our run
    assert mlflow_client.get_experiment(run.info.experiment_id).name == "other"
    assert mlflow_client.get_experiment_by_name("nb_own") is None
    assert "outputs/broken.ipynb" in result["artifacts"]


SLOW_CELL = """\
import os, time
print('kernel', os.getpid(), flush=True)
print('ready', flush=True)
time.sleep(120)"""


def kernels_alive() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if b"ipykernel_launcher" in cmdline and alive(int(entry.name)):
                found.append(int(entry.name))
    return found


async def test_cancel_kills_the_kernel(nb_client: LanguageClient, project: Path) -> None:
    write_notebook(project / "slow.ipynb", [new_code_cell(SLOW_CELL), new_code_cell("print(1)")])
    params = types.ExecuteCommandParams(
        command="lensflow.trackRun", arguments=[{"script": "slow.ipynb"}]
    )
    pending = asyncio.ensure_future(
        nb_client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND, params, msg_id="nb-run"
        )
    )
    run_id = await wait_for_output(nb_client, "ready")
    text = "".join(n["text"] for n in notes(nb_client, "lensflow/runOutput"))
    kernel = int(text.split("kernel ", 1)[1].split()[0])
    assert alive(kernel) and kernel in kernels_alive()

    started = time.monotonic()
    nb_client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="nb-run"))
    with pytest.raises(JsonRpcException) as caught:
        await asyncio.wait_for(pending, 30)
    assert caught.value.code == -32800
    assert time.monotonic() - started < 8

    for _ in range(100):  # the reply may overtake the run's own ending
        if any(u["status"] == "KILLED" for u in notes(nb_client, "lensflow/runUpdated")):
            break
        await asyncio.sleep(0.1)
    assert time.monotonic() - started < 8
    # Killed by the run itself, not later by the kernel noticing it lost its parent.
    assert not alive(kernel), "the kernel outlived the cancel"
    assert kernel not in kernels_alive()
    run = await execute(nb_client, "lensflow.getRun", {"runId": run_id})
    assert run["status"] == "KILLED"
    assert "outputs/slow.ipynb" in run["artifacts"]  # what ran so far, with its output


async def test_missing_nbclient_or_bad_notebook_say_what_to_do(
    nb_client: LanguageClient, project: Path, tmp_path: Path
) -> None:
    # A training interpreter where nbclient cannot be imported.
    blocker = tmp_path / "no_nbclient" / "nbclient"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'nbclient'\", name='nbclient')\n"
    )
    write_notebook(project / "nb.ipynb", [new_code_cell("print('hi')")])
    result = await execute(
        nb_client,
        "lensflow.trackRun",
        {"script": "nb.ipynb", "env": {"PYTHONPATH": str(blocker.parent)}},
    )
    assert result["status"] == "FAILED"
    assert "pip install 'lensflow[notebooks]'" in result["outputTail"]
    assert "Missing: nbclient" in result["outputTail"]

    (project / "bad.ipynb").write_text("{not json")
    result = await execute(nb_client, "lensflow.trackRun", {"script": "bad.ipynb"})
    assert result["status"] == "FAILED"
    assert "cannot read" in result["outputTail"] and "as a notebook" in result["outputTail"]

    # Other suffixes stay refused, with the new wording.
    (project / "data.csv").write_text("a,b\n")
    error = await error_of(nb_client, "lensflow.trackRun", {"script": "data.csv"})
    assert error.data["kind"] == "invalidPath"
    assert ".ipynb notebooks" in error.message


async def test_cell_diagnostics_follow_the_notebook(
    nb_client: LanguageClient, project: Path
) -> None:
    path = write_notebook(
        project / "pitfall.ipynb",
        [
            new_code_cell("import mlflow"),
            new_code_cell("x = 1\nfrom sklearn.externals import joblib"),
        ],
    )
    uris = open_notebook(nb_client, path)
    await nb_client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    for _ in range(50):
        if len(nb_client.diagnostics) == 2:
            break
        await asyncio.sleep(0.05)
    assert list(nb_client.diagnostics[uris[0]]) == []
    (problem,) = nb_client.diagnostics[uris[1]]
    assert problem.code == "sklearn-externals-joblib"
    assert problem.range.start.line == 1  # the cell's own line, not the notebook's

    # The user fixes the import and adds a run, in the notebook's own change event.
    fixed = "x = 1\nimport joblib\nwith mlflow.start_run():\n    pass"
    nb_client.notebook_document_did_change(
        types.DidChangeNotebookDocumentParams(
            notebook_document=types.VersionedNotebookDocumentIdentifier(
                uri=path.as_uri(), version=2
            ),
            change=types.NotebookDocumentChangeEvent(
                cells=types.NotebookDocumentCellChanges(
                    text_content=[
                        types.NotebookDocumentCellContentChanges(
                            document=types.VersionedTextDocumentIdentifier(uri=uris[1], version=2),
                            changes=[types.TextDocumentContentChangeWholeDocument(text=fixed)],
                        )
                    ]
                )
            ),
        )
    )
    for _ in range(50):
        if not nb_client.diagnostics[uris[1]]:
            break
        await asyncio.sleep(0.05)
    assert list(nb_client.diagnostics[uris[1]]) == []
    changed = await lenses(nb_client, uris[1])
    assert (2, "▶ Track run") in titled(changed)

    nb_client.notebook_document_did_close(
        types.DidCloseNotebookDocumentParams(
            notebook_document=types.NotebookDocumentIdentifier(uri=path.as_uri()),
            cell_text_documents=[types.TextDocumentIdentifier(uri=u) for u in uris],
        )
    )
    for _ in range(50):
        if not nb_client.diagnostics[uris[1]]:
            break
        await asyncio.sleep(0.05)
    assert list(nb_client.diagnostics[uris[1]]) == []
    assert await lenses(nb_client, uris[1]) == []  # closed: a cell's uri no longer runs it
