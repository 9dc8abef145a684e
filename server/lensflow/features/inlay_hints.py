"""The last logged value at the end of each `log_metric(s)` / `log_param(s)` line: `mse = 3424.86`.

LSP methods: textDocument/inlayHint; sends workspace/inlayHint/refresh (when the client
supports it) once a script's runs are loaded or reloaded with other values.
Hints are served from `lensflow.history` and never wait on the store: while a script's runs are
loading, a request answers what is known, or nothing, and the refresh brings the rest.
The value is the one of the newest run that logged the key, whatever its status.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from lsprotocol import types

from ..lsp.feature import Feature, on
from ..lsp.utils import in_background, refresh_inlay_hints
from ..paths import script_key
from ..views.runs import value_text, when

if TYPE_CHECKING:
    from ..analysis import ScriptFacts
    from ..history import ScriptRuns
    from ..server import LensflowServer


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


class InlayHints(Feature):
    def __init__(self, server: LensflowServer) -> None:
        super().__init__(server)
        server.history.on_change = self.changed

    def changed(self, script: str) -> None:
        """A script's logged values changed: ask the client to re-query."""
        in_background(refresh_inlay_hints(self.server))

    @on(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
    def inlay_hint(self, params: types.InlayHintParams) -> list[types.InlayHint]:
        found = self.server.documents.facts_and_target(params.text_document.uri)
        if found is None or not found[0].log_sites:
            return []
        facts, target = found  # a notebook cell's values are its notebook's
        script = script_key(target)
        runs = self.server.history.known(script) if script is not None else None
        if runs is None:
            return []  # loading (or the store cannot be read); a refresh follows a load
        return build_hints(facts, runs, params.range.start.line, params.range.end.line)
