"""Code lenses above a training script: `▶ Track run`, the last run's summary, `Register model`.

LSP methods: textDocument/codeLens, codeLens/resolve.
Lenses come from the cached syntax facts (cheap, every keystroke); anything that needs the
tracking store is filled in by codeLens/resolve.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from lensflow_protocol import names
from lensflow_protocol.errors import LensflowError
from lsprotocol import types

from ..analysis import ScriptFacts, Span
from .compare import compare_lenses, remember_previous
from .notebooks import facts_and_target
from .serving_lenses import resolve_deploy, serving_lenses

if TYPE_CHECKING:
    from lensflow_protocol.tracking import RunInfo

    from ..server import LensflowServer

log = logging.getLogger(__name__)


def to_range(span: Span) -> types.Range:
    return types.Range(
        start=types.Position(line=span.start_line, character=span.start_col),
        end=types.Position(line=span.end_line, character=span.end_col),
    )


def model_name_for(facts: ScriptFacts, uri: str) -> str:
    if facts.registered_model_name:
        return facts.registered_model_name
    stem = uri.rstrip("/").rsplit("/", 1)[-1].removesuffix(".py").removesuffix(".ipynb")
    return f"{stem}_model"


def build_lenses(ls: LensflowServer, facts: ScriptFacts, uri: str) -> list[types.CodeLens]:
    lenses: list[types.CodeLens] = []
    if facts.track_anchor is not None:
        where = to_range(facts.track_anchor)
        lenses.append(
            types.CodeLens(
                range=where,
                command=types.Command(
                    title="▶ Track run", command=names.TRACK_RUN, arguments=[{"script": uri}]
                ),
            )
        )
        lenses.append(types.CodeLens(range=where, data={"kind": "lastRun", "uri": uri}))
        lenses += compare_lenses(ls, uri, where)
    # One Register lens per model file, above its log_artifact if the script has one.
    sites: dict[str, Span] = {}
    for site in facts.model_sites:
        if site.model_path is not None:
            sites[site.model_path] = site.span
    model_name = model_name_for(facts, uri)
    for model_path, span in sites.items():
        data = {"kind": "register", "uri": uri, "modelPath": model_path, "modelName": model_name}
        lenses.append(types.CodeLens(range=to_range(span), data=data))
    if sites:
        last_site = to_range(list(sites.values())[-1])
        lenses += serving_lenses(ls, model_name, last_site, uri)
    return lenses


async def last_run(ls: LensflowServer, uri: str, finished: bool = False) -> RunInfo | None:
    """The script's newest run (FINISHED only, if asked), cached until a run of it ends."""
    key = ls.script_key(uri)
    if key is None:
        return None
    cache_key = f"{key}\0finished" if finished else key
    if cache_key not in ls.last_runs:
        from lensflow_protocol.tracking import ListRunsArgs

        runs = await ls.active_workspace().list_runs(ListRunsArgs(script=key, limit=20))
        candidates = [r for r in runs.runs if not finished or r.status == "FINISHED"]
        remember_previous(ls, key, runs.runs)  # what the Compare runs lens needs, same list
        ls.last_runs[cache_key] = candidates[0] if candidates else None
    return ls.last_runs[cache_key]


def _ago(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = max(0, time.time() - ms / 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f" · {int(seconds // size)} {unit} ago"
    return " · just now"


def run_title(run: RunInfo) -> str:
    mark = {"FINISHED": "✓", "FAILED": "✗", "KILLED": "■"}.get(run.status, "…")
    metrics = " ".join(f"{k}={v:.6g}" for k, v in sorted(run.metrics.items())[:3])
    return f"{mark} {run.status}" + (f" · {metrics}" if metrics else "") + _ago(run.start_time)


async def resolve_lens(ls: LensflowServer, lens: types.CodeLens) -> types.CodeLens:
    data: Any = lens.data
    if not isinstance(data, dict) or not isinstance(data.get("uri"), str):
        return lens
    uri = data["uri"]
    try:
        if data.get("kind") == "lastRun":
            run = await last_run(ls, uri)
            if run is None:
                lens.command = types.Command(title="No runs yet", command="")
            else:
                lens.command = types.Command(
                    title=f"Last run: {run_title(run)}",
                    command=names.GET_RUN,
                    arguments=[{"runId": run.run_id}],
                )
        elif data.get("kind") == "register":
            run = await last_run(ls, uri, finished=True)
            if run is None:
                lens.command = types.Command(title="Register model (track a run first)", command="")
            else:
                args = {
                    "runId": run.run_id,
                    "modelName": data["modelName"],
                    "modelPath": data["modelPath"],
                }
                lens.command = types.Command(
                    title=f"Register model {data['modelName']}",
                    command=names.REGISTER_MODEL,
                    arguments=[args],
                )
        elif data.get("kind") == "deploy":
            lens.command = await resolve_deploy(ls, data)
    except LensflowError as exc:
        # A lens is no place for an error dialog: say it in the title.
        lens.command = types.Command(title=f"Lensflow: {exc.message[:80]}", command="")
    return lens


def register(server: LensflowServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_CODE_LENS)
    def code_lens(ls: LensflowServer, params: types.CodeLensParams) -> list[types.CodeLens]:
        found = facts_and_target(ls, params.text_document.uri)
        if found is None:
            return []
        facts, uri = found  # a notebook's cell: its lenses run the notebook
        if not facts.uses_mlflow and facts.track_anchor is None:
            return []
        return build_lenses(ls, facts, uri)

    @server.feature(types.CODE_LENS_RESOLVE)
    async def code_lens_resolve(ls: LensflowServer, lens: types.CodeLens) -> types.CodeLens:
        return await resolve_lens(ls, lens)
