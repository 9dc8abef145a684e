"""Code lenses, code actions and diagnostics on the seed script, over stdio."""

from __future__ import annotations

import shutil
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import SEED_ORIGINAL, execute, open_document


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines()) if needle in line)


async def lenses_of(client: LanguageClient, uri: str) -> list[types.CodeLens]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return lenses or []


async def resolved(client: LanguageClient, uri: str) -> list[types.CodeLens]:
    out = []
    for lens in await lenses_of(client, uri):
        out.append(lens if lens.command else await client.code_lens_resolve_async(lens))
    return out


async def test_seed_lenses_before_and_after_a_run(client: LanguageClient, project: Path) -> None:
    script = project / "train.py"
    uri = open_document(client, script)
    with_line = line_of(script, "with mlflow.start_run():")
    artifact_line = line_of(script, "mlflow.log_artifact(model_file_name)")

    before = await resolved(client, uri)
    titles = [(lens.range.start.line, lens.command.title) for lens in before if lens.command]
    assert (with_line, "▶ Track run") in titles
    assert (with_line, "No runs yet") in titles
    assert (artifact_line, "Register model (track a run first)") in titles
    track = next(lens for lens in before if lens.command and lens.command.title == "▶ Track run")
    assert track.command is not None
    assert track.command.command == "lensflow.trackRun"
    assert list(track.command.arguments or []) == [{"script": uri}]

    # The lens's own command, as an editor would run it.
    run = await execute(client, track.command.command, *track.command.arguments)
    assert run["status"] == "FINISHED"

    after = await resolved(client, uri)
    summary = next(lens for lens in after if lens.command and "Last run" in lens.command.title)
    assert summary.range.start.line == with_line
    assert "✓ FINISHED" in summary.command.title and "mse=3424.86" in summary.command.title
    register = next(lens for lens in after if lens.command and "Register" in lens.command.title)
    assert register.range.start.line == artifact_line
    assert register.command.command == "lensflow.registerModel"
    (args,) = register.command.arguments
    assert args == {"runId": run["runId"], "modelName": "train_model", "modelPath": "model.pkl"}
    registered = await execute(client, "lensflow.registerModel", args)
    assert registered["version"] == 1


async def test_seed_original_lenses_and_diagnostics(client: LanguageClient, project: Path) -> None:
    script = project / "seed.py"
    shutil.copy(SEED_ORIGINAL, script)
    uri = open_document(client, script)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    diagnostics = client.diagnostics[uri]
    by_code = {str(d.code): d for d in diagnostics}
    assert set(by_code) == {"sklearn-externals-joblib", "azureml-register-model"}
    externals = by_code["sklearn-externals-joblib"]
    assert externals.range.start.line == line_of(script, "from sklearn.externals import joblib")
    assert externals.severity == types.DiagnosticSeverity.Error
    azure_lines = {d.range.start.line for d in diagnostics if d.code == "azureml-register-model"}
    assert line_of(script, "register_model(mlflow.active_run()") in azure_lines

    # The register lens names the model the script registers itself.
    lenses = await lenses_of(client, uri)
    data = [lens.data for lens in lenses if lens.data and lens.data.get("kind") == "register"]
    assert {d["modelName"] for d in data} == {"diabetes_model"}

    # Quick fix for the removed import: apply it and the diagnostic goes away.
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=externals.range,
            context=types.CodeActionContext(diagnostics=[externals]),
        )
    )
    fix = next(a for a in actions or [] if isinstance(a, types.CodeAction) and a.edit)
    assert fix.kind == types.CodeActionKind.QuickFix
    (edit,) = fix.edit.changes[uri]
    assert edit.new_text == "import joblib"
    assert edit.range.start.line == externals.range.start.line


async def test_code_actions_offer_the_workflow(client: LanguageClient, project: Path) -> None:
    script = project / "train.py"
    uri = open_document(client, script)
    cursor = types.Position(line=line_of(script, "mlflow.log_param"), character=4)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=cursor, end=cursor),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    titles = {a.title: a for a in actions or [] if isinstance(a, types.CodeAction)}
    assert "Lensflow: Track run" in titles
    assert not any("Register" in t for t in titles)  # no finished run yet

    run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(start=cursor, end=cursor),
            context=types.CodeActionContext(diagnostics=[]),
        )
    )
    register = next(a for a in actions or [] if "Register model" in a.title)
    assert register.command.arguments[0]["runId"] == run["runId"]


async def test_azure_diagnostic_only_for_local_workspace(
    client: LanguageClient, project: Path
) -> None:
    script = project / "seed.py"
    shutil.copy(SEED_ORIGINAL, script)
    uri = open_document(client, script)
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    assert any(d.code == "azureml-register-model" for d in client.diagnostics[uri])

    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"workspace": str(project / "config.json")})
    )
    await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    codes = {d.code for d in client.diagnostics[uri]}
    assert codes == {"sklearn-externals-joblib"}


async def test_lenses_survive_half_typed_code(client: LanguageClient, project: Path) -> None:
    script = project / "train.py"
    text = script.read_text() + "\nmlflow.log_metric('r2', \n"
    uri = open_document(client, script, text)
    lenses = await lenses_of(client, uri)
    assert any(lens.command and lens.command.title == "▶ Track run" for lens in lenses)

    # An edit: the lenses follow the new text.
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(line=0, character=0),
                        end=types.Position(line=0, character=0),
                    ),
                    text="\n\n",
                )
            ],
        )
    )
    moved = await lenses_of(client, uri)
    with_line = line_of(script, "with mlflow.start_run():") + 2
    assert any(lens.range.start.line == with_line for lens in moved if lens.command)


async def test_no_lenses_for_plain_python(client: LanguageClient, project: Path) -> None:
    script = project / "util.py"
    script.write_text("def add(a, b):\n    return a + b\n")
    assert await lenses_of(client, open_document(client, script)) == []
    # Nor any state: `initialized` looked for a store without making one.
    assert not (project / ".lensflow").exists()
