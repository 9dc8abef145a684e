"""The workflow at the cursor, for editors without lenses, and quick fixes for diagnostics,
in scripts and in notebook cells.

LSP method: textDocument/codeAction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensflow_protocol import names
from lensflow_protocol.errors import LensflowError
from lsprotocol import types

from ..analysis import ScriptFacts, Span
from .diagnostics import active_problems
from .lenses import last_run, model_name_for, to_range
from .notebooks import facts_and_target
from .serving_lenses import resolve_deploy, service_commands

if TYPE_CHECKING:
    from ..server import LensflowServer


def _overlaps(span: Span, rng: types.Range) -> bool:
    return (span.start_line, span.start_col) <= (rng.end.line, rng.end.character) and (
        rng.start.line,
        rng.start.character,
    ) <= (span.end_line, span.end_col)


async def serving_actions(
    ls: LensflowServer, facts: ScriptFacts, uri: str
) -> list[types.CodeAction]:
    """Deploy (or the cluster it needs), then Invoke endpoint and Clean up: as the lenses."""
    if not any(site.model_path for site in facts.model_sites):
        return []
    commands = service_commands(ls, uri)
    if not commands:
        try:
            deploy = await resolve_deploy(ls, {"modelName": model_name_for(facts, uri), "uri": uri})
        except LensflowError:
            return []
        commands = [deploy] if deploy.command else []
    return [
        types.CodeAction(
            title=f"Lensflow: {command.title}", kind=types.CodeActionKind.Source, command=command
        )
        for command in commands
    ]


def register(server: LensflowServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.Source]
        ),
    )
    async def code_action(
        ls: LensflowServer, params: types.CodeActionParams
    ) -> list[types.CodeAction]:
        found = facts_and_target(ls, params.text_document.uri)
        if found is None:
            return []
        # In a notebook cell, fixes edit the cell and commands run the notebook.
        (facts, uri), here = found, params.text_document.uri
        actions: list[types.CodeAction] = []
        for problem in active_problems(ls, facts):
            if not problem.fix or not _overlaps(problem.span, params.range):
                continue
            edits = [
                types.TextEdit(range=to_range(e.span), new_text=e.new_text) for e in problem.fix
            ]
            actions.append(
                types.CodeAction(
                    title=problem.fix_title,
                    kind=types.CodeActionKind.QuickFix,
                    edit=types.WorkspaceEdit(changes={here: edits}),
                    is_preferred=True,
                )
            )
        if facts.track_anchor is not None:
            actions.append(
                types.CodeAction(
                    title="Lensflow: Track run",
                    kind=types.CodeActionKind.Source,
                    command=types.Command(
                        title="Track run", command=names.TRACK_RUN, arguments=[{"script": uri}]
                    ),
                )
            )
        actions += await serving_actions(ls, facts, uri)
        model_paths = {s.model_path for s in facts.model_sites if s.model_path is not None}
        if model_paths:
            try:
                run = await last_run(ls, uri, finished=True)
            except LensflowError:
                run = None
            for model_path in sorted(model_paths) if run is not None else ():
                assert run is not None
                name = model_name_for(facts, uri)
                args = {"runId": run.run_id, "modelName": name, "modelPath": model_path}
                actions.append(
                    types.CodeAction(
                        title=f"Lensflow: Register model {name} ({model_path})",
                        kind=types.CodeActionKind.Source,
                        command=types.Command(
                            title="Register model", command=names.REGISTER_MODEL, arguments=[args]
                        ),
                    )
                )
        return actions
