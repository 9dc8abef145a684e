"""A key's history on hover: `mlflow.log_metric('mse', …)`, `log_param`, or a key of `log_metrics`.

LSP methods: textDocument/hover.
The call sites come from the cached syntax facts; the runs from `lensflow.history` (one store
query per script until a run of it ends). A hover waits for a load until `HOVER_WAIT_S`
after it started, then answers what is known, or nothing: an Azure workspace with no sign-in
costs the first hover no more than that, and the next ones nothing.

What it shows: a markdown table of the script's runs, newest first (run, when, value, status),
at most `MAX_ROWS` of them plus the best run if it is older. ★ marks the best run: for a
metric, by that metric (`best_run.py` decides the direction); for a param, by the
first metric the script logs, when the script logs one, else nothing is marked.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

from lsprotocol import types

from ..best_run import direction
from ..history import LOAD_LIMIT, Point, ScriptRuns
from ..lsp.feature import Feature, on
from ..lsp.utils import markdown_ok, to_range
from ..paths import script_key
from ..views.runs import escape, value_text, when

if TYPE_CHECKING:
    from lensflow_protocol.tracking import RunInfo

    from ..analysis import LogSite, ScriptFacts

HOVER_WAIT_S = 3.0  # from the load's start; the store worker starts at `initialized`
MAX_ROWS = 10


def site_at(facts: ScriptFacts, line: int, character: int) -> LogSite | None:
    """The log_metric / log_param call, or logged dict's key, under a position, if any."""
    for site in facts.log_sites:
        span = site.span
        if (span.start_line, span.start_col) <= (line, character) <= (span.end_line, span.end_col):
            return site
    return None


def run_label(run: RunInfo) -> str:
    name = f" {escape(run.run_name)}" if run.run_name else ""
    return f"`{run.run_id[:8]}`{name}"


def best_metric_for(kind: str, key: str, facts: ScriptFacts | None) -> str | None:
    """The metric the best run is judged by: the key itself, or, for a param, the script's
    first logged metric."""
    if kind == "metric":
        return key
    if facts is None:
        return None
    return next((s.key for s in facts.log_sites if s.kind == "metric" and s.key), None)


def render(
    kind: str,
    key: str,
    script_name: str,
    runs: ScriptRuns,
    best_by: str | None,
    now: float | None = None,
) -> str:
    """The hover's markdown (see the module's docstring)."""
    now = time.time() if now is None else now
    title = f"**{escape(key)}** · {kind}"
    if not runs.runs:
        return f"{title} · no runs of this script yet"
    count = len(runs.runs)
    more = "+" if count >= LOAD_LIMIT else ""
    lines = [f"{title} · {count}{more} run{'s' if count != 1 else ''} of `{script_name}`"]
    best = runs.best(best_by) if best_by else None
    if best is not None and best_by is not None:
        way = direction(best_by)
        if best_by == key:
            lines[0] += f" · ★ best: {way} {escape(key)}"
        else:
            lines[0] += f" · ★ best run by {escape(best_by)} ({way})"
    series = runs.series(kind, key)
    shown: list[Point | None] = list(series[:MAX_ROWS])
    if best is not None and all(p is None or p.run is not best for p in shown):
        shown += [None, next(p for p in series if p.run is best)]  # None: a "…" row
    lines += [
        "",
        f"| run | when | {escape(key)} | status |",
        "|:--|:--|--:|:--|",
    ]
    for point in shown:
        if point is None:
            lines.append("| … | | | |")
            continue
        star = "★ " if point.run is best else ""
        lines.append(
            f"| {star}{run_label(point.run)} | {when(point.run.start_time, now)} "
            f"| {escape(value_text(point.value))} | {point.run.status} |"
        )
    if count > MAX_ROWS:
        lines += ["", f"{MAX_ROWS} newest of {count}{more} runs"]
    return "\n".join(lines)


class Hover(Feature):
    @on(types.TEXT_DOCUMENT_HOVER)
    async def hover(self, params: types.HoverParams) -> types.Hover | None:
        found = self.server.documents.facts_and_target(params.text_document.uri)
        if found is None or not found[0].log_sites:
            return None
        facts, target = found  # a notebook cell's history is its notebook's
        position = params.position
        site = site_at(facts, position.line, position.character)
        script = script_key(target) if site is not None and site.key else None
        if site is None or site.key is None or script is None:
            return None
        runs = await self.server.history.fresh(script, HOVER_WAIT_S)
        if runs is None:  # still loading, or the store cannot be read: say nothing
            return None
        name = os.path.basename(script)
        text = render(site.kind, site.key, name, runs, best_metric_for(site.kind, site.key, facts))
        kind = types.MarkupKind.Markdown if markdown_ok(self.server) else types.MarkupKind.PlainText
        return types.Hover(
            contents=types.MarkupContent(kind=kind, value=text), range=to_range(site.span)
        )
