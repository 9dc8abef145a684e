"""The workflow at the cursor, for editors without lenses, and quick fixes for diagnostics,
in scripts and in notebook cells.

LSP method: textDocument/codeAction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensflow_protocol import names
from lensflow_protocol.errors import LensflowError
from lsprotocol import types

from ..lsp.feature import Feature, on
from ..lsp.utils import to_range
from ..paths import script_key
from ..views.problems import active_problems
from ..views.serving import model_name_for, resolve_deploy, service_commands

if TYPE_CHECKING:
    from ..analysis import ScriptFacts, Span

_KINDS = [types.CodeActionKind.QuickFix, types.CodeActionKind.Source]


def _overlaps(span: Span, rng: types.Range) -> bool:
    return (span.start_line, span.start_col) <= (rng.end.line, rng.end.character) and (
        rng.start.line,
        rng.start.character,
    ) <= (span.end_line, span.end_col)


def _action(title: str, command: types.Command) -> types.CodeAction:
    return types.CodeAction(title=title, kind=types.CodeActionKind.Source, command=command)


class CodeActions(Feature):
    @on(types.TEXT_DOCUMENT_CODE_ACTION, types.CodeActionOptions(code_action_kinds=_KINDS))
    async def code_action(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        found = self.server.documents.facts_and_target(params.text_document.uri)
        if found is None:
            return []
        # In a notebook cell, fixes edit the cell and commands run the notebook.
        (facts, uri), here = found, params.text_document.uri
        actions = self._fixes(facts, here, params.range)
        if facts.track_anchor is not None:
            track = types.Command(
                title="Track run", command=names.TRACK_RUN, arguments=[{"script": uri}]
            )
            actions.append(_action("Lensflow: Track run", track))
        actions += await self._serving(facts, uri)
        actions += await self._register(facts, uri)
        return actions

    def _fixes(self, facts: ScriptFacts, here: str, at: types.Range) -> list[types.CodeAction]:
        fixes = []
        for problem in active_problems(self.server.settings, facts):
            if not problem.fix or not _overlaps(problem.span, at):
                continue
            edits = [
                types.TextEdit(range=to_range(e.span), new_text=e.new_text) for e in problem.fix
            ]
            fixes.append(
                types.CodeAction(
                    title=problem.fix_title,
                    kind=types.CodeActionKind.QuickFix,
                    edit=types.WorkspaceEdit(changes={here: edits}),
                    is_preferred=True,
                )
            )
        return fixes

    async def _serving(self, facts: ScriptFacts, uri: str) -> list[types.CodeAction]:
        """Deploy (or the cluster it needs), then Invoke endpoint and Clean up: as the lenses."""
        if not any(site.model_path for site in facts.model_sites):
            return []
        script = script_key(uri)
        commands = service_commands(self.server.services.services.values(), script)
        if not commands:
            try:
                workspace = self.server.active_workspace()
                deploy = await resolve_deploy(workspace, script, model_name_for(facts, uri))
            except LensflowError:
                return []
            commands = [deploy] if deploy.command else []
        return [_action(f"Lensflow: {command.title}", command) for command in commands]

    async def _register(self, facts: ScriptFacts, uri: str) -> list[types.CodeAction]:
        model_paths = {s.model_path for s in facts.model_sites if s.model_path is not None}
        script = script_key(uri)
        if not model_paths or script is None:
            return []
        try:
            run = await self.server.history.latest.newest(script, finished=True)
        except LensflowError:
            return []
        if run is None:
            return []
        name = model_name_for(facts, uri)
        actions = []
        for model_path in sorted(model_paths):
            args = {"runId": run.run_id, "modelName": name, "modelPath": model_path}
            register = types.Command(
                title="Register model", command=names.REGISTER_MODEL, arguments=[args]
            )
            actions.append(_action(f"Lensflow: Register model {name} ({model_path})", register))
        return actions
