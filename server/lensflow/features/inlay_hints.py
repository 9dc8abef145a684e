"""The last logged value at the end of each `log_metric(s)` / `log_param(s)` line: `mse = 3424.86`.

LSP methods: textDocument/inlayHint; sends workspace/inlayHint/refresh (when the client
supports it) once a script's runs are loaded or reloaded with other values.
Hints are served from `lensflow.history` and never wait on the store: while a script's runs are
loading, a request answers what is known, or nothing, and the refresh brings the rest.
The value is the one of the newest run that logged the key, whatever its status.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from lsprotocol import types

from .hover import value_text, when
from .notebooks import facts_and_target

if TYPE_CHECKING:
    from ..analysis import ScriptFacts
    from ..history import ScriptRuns
    from ..server import LensflowServer

log = logging.getLogger(__name__)


def build_hints(
    facts: ScriptFacts, runs: ScriptRuns, first: int, last: int, now: float | None = None
) -> list[types.InlayHint]:
    """One hint per call site on lines first..last whose key has a logged value."""
    now = time.time() if now is None else now
    hints = []
    for site in facts.log_sites:
        line = site.span.end_line
        if site.key is None or not first <= line <= last:
            continue
        point = runs.last(site.kind, site.key)
        if point is None:
            continue
        run = point.run
        name = f" ({run.run_name})" if run.run_name else ""
        hints.append(
            types.InlayHint(
                position=types.Position(line=line, character=site.line_end),
                label=f"{site.key} = {value_text(point.value)}",
                padding_left=True,
                tooltip=f"Last logged by run {run.run_id[:8]}{name}, "
                f"{when(run.start_time, now)}, {run.status}",
            )
        )
    return hints


def inlay_hints(ls: LensflowServer, uri: str, range_: types.Range) -> list[types.InlayHint]:
    found = facts_and_target(ls, uri)
    if found is None or not found[0].log_sites:
        return []
    facts, target = found  # a notebook cell's values are its notebook's
    script = ls.script_key(target)
    runs = ls.history.known(script) if script is not None else None
    if runs is None:
        return []  # loading (or the store cannot be read); a refresh follows a load
    return build_hints(facts, runs, range_.start.line, range_.end.line)


def _refresh_supported(ls: LensflowServer) -> bool:
    workspace = ls.client_capabilities.workspace
    return bool(workspace and workspace.inlay_hint and workspace.inlay_hint.refresh_support)


async def _refresh(ls: LensflowServer) -> None:
    try:
        await ls.workspace_inlay_hint_refresh_async(None)
    except Exception:  # the client may be gone
        log.info("inlayHint refresh failed", exc_info=True)


def register(server: LensflowServer) -> None:
    def changed(script: str) -> None:
        """A script's hints changed: ask the client to re-query."""
        if _refresh_supported(server):
            task = asyncio.ensure_future(_refresh(server))
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    server.history.on_change = changed

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
    def inlay_hint(ls: LensflowServer, params: types.InlayHintParams) -> list[types.InlayHint]:
        return inlay_hints(ls, params.text_document.uri, params.range)
