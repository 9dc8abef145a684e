"""Code lenses above a training script: `▶ Track run`, the last run, `Compare runs`,
`Register model`, then the serving commands of its model (`views.serving`).

LSP methods: textDocument/codeLens, codeLens/resolve; may ask for workspace/codeLens/refresh.
Lenses come from the cached syntax facts (cheap, every keystroke); anything that needs the
tracking store is filled in by codeLens/resolve. `Compare runs` is only ever sent with its
command (a lens that resolved to nothing shows as "Unresolved lens" in some editors): it is
offered once the runs cached for the lenses say there are two, and when they are not cached
yet, they are read aside and the client asked to refresh.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from lensflow_protocol import names
from lensflow_protocol.errors import LensflowError
from lsprotocol import types

from ..lsp.feature import Feature, on
from ..lsp.utils import refresh_lenses, to_range
from ..paths import script_key
from ..views.runs import run_title
from ..views.serving import model_name_for, resolve_deploy, service_commands

if TYPE_CHECKING:
    from ..analysis import ScriptFacts, Span

log = logging.getLogger(__name__)


class Lenses(Feature):
    @on(types.TEXT_DOCUMENT_CODE_LENS)
    def code_lens(self, params: types.CodeLensParams) -> list[types.CodeLens]:
        found = self.server.documents.facts_and_target(params.text_document.uri)
        if found is None:
            return []
        facts, uri = found  # a notebook's cell: its lenses run the notebook
        if not facts.uses_mlflow and facts.track_anchor is None:
            return []
        return self.build(facts, uri)

    @on(types.CODE_LENS_RESOLVE)
    async def code_lens_resolve(self, lens: types.CodeLens) -> types.CodeLens:
        data: Any = lens.data
        if not isinstance(data, dict) or not isinstance(data.get("uri"), str):
            return lens
        try:
            lens.command = await self._resolve(data)
        except LensflowError as exc:
            # A lens is no place for an error dialog: say it in the title.
            lens.command = types.Command(title=f"Lensflow: {exc.message[:80]}", command="")
        return lens

    def build(self, facts: ScriptFacts, uri: str) -> list[types.CodeLens]:
        lenses: list[types.CodeLens] = []
        if facts.track_anchor is not None:
            where = to_range(facts.track_anchor)
            track = types.Command(
                title="▶ Track run", command=names.TRACK_RUN, arguments=[{"script": uri}]
            )
            lenses.append(types.CodeLens(range=where, command=track))
            lenses.append(types.CodeLens(range=where, data={"kind": "lastRun", "uri": uri}))
            lenses += self._compare(uri, where)
        # One Register lens per model file, above its log_artifact if the script has one.
        sites: dict[str, Span] = {}
        for site in facts.model_sites:
            if site.model_path is not None:
                sites[site.model_path] = site.span
        model_name = model_name_for(facts, uri)
        for model_path, span in sites.items():
            data = {
                "kind": "register",
                "uri": uri,
                "modelPath": model_path,
                "modelName": model_name,
            }
            lenses.append(types.CodeLens(range=to_range(span), data=data))
        if sites:
            where = to_range(list(sites.values())[-1])
            commands = service_commands(self.server.services.services.values(), script_key(uri))
            if commands:
                lenses += [types.CodeLens(range=where, command=c) for c in commands]
            else:
                data = {"kind": "deploy", "uri": uri, "modelName": model_name}
                lenses.append(types.CodeLens(range=where, data=data))
        return lenses

    async def _resolve(self, data: dict[str, Any]) -> types.Command | None:
        uri, kind = data["uri"], data.get("kind")
        latest = self.server.history.latest
        script = script_key(uri)
        if kind == "lastRun":
            run = await latest.newest(script) if script is not None else None
            if run is None:
                return types.Command(title="No runs yet", command="")
            return types.Command(
                title=f"Last run: {run_title(run)}",
                command=names.GET_RUN,
                arguments=[{"runId": run.run_id}],
            )
        if kind == "register":
            run = await latest.newest(script, finished=True) if script is not None else None
            if run is None:
                return types.Command(title="Register model (track a run first)", command="")
            args = {
                "runId": run.run_id,
                "modelName": data["modelName"],
                "modelPath": data["modelPath"],
            }
            return types.Command(
                title=f"Register model {data['modelName']}",
                command=names.REGISTER_MODEL,
                arguments=[args],
            )
        if kind == "deploy":
            workspace = self.server.active_workspace()
            return await resolve_deploy(workspace, script, str(data["modelName"]))
        return None

    def _compare(self, uri: str, where: types.Range) -> list[types.CodeLens]:
        """`Compare runs`, if the cached runs say so; building lenses never waits on the store."""
        script = script_key(uri)
        if script is None:
            return []
        latest = self.server.history.latest
        two = latest.has_two(script)
        if two is None:
            latest.load_soon(script, self._refresh_if_two(script))
        if not two:
            return []
        command = types.Command(
            title="Compare runs", command=names.COMPARE_RUNS, arguments=[{"script": uri}]
        )
        return [types.CodeLens(range=where, command=command)]

    def _refresh_if_two(self, script: str) -> Callable[[], Awaitable[None]]:
        async def then() -> None:
            if self.server.history.latest.has_two(script):
                await refresh_lenses(self.server)  # the lens left out can be shown now

        return then
