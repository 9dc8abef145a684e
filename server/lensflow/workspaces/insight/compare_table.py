"""Runs side by side: which metric and parameter to show, which run is best, the markdown table.

Pure functions over `RunInfo`s, so they are tested with known inputs and no store.
"""

from __future__ import annotations

from collections.abc import Sequence

from lensflow_protocol.errors import NotFound
from lensflow_protocol.tracking import RunInfo

from ...best_run import best_runs, direction

MISSING = "—"
BEST = "★"
_CELL_WIDTH = 40


def label(run: RunInfo) -> str:
    """A run's column header: its name if it has one, else its short id."""
    return run.run_name or run.run_id[:8]


def _names(runs: Sequence[RunInfo], metrics: bool) -> list[str]:
    return sorted({k for r in runs for k in (r.metrics if metrics else r.params)})


def choose_metric(runs: Sequence[RunInfo], wanted: str | None) -> str | None:
    """`wanted` if some run has it; by default the first metric all runs share, else the most
    common one; None when the runs have no metric at all."""
    have = _names(runs, metrics=True)
    if wanted is not None:
        if wanted not in have:
            raise NotFound(
                f"None of these runs has a metric {wanted!r}; they have: "
                f"{', '.join(have) or 'no metrics'}.",
                metric=wanted,
                metrics=have,
            )
        return wanted
    if not have:
        return None
    return max(have, key=lambda m: (sum(m in r.metrics for r in runs), -have.index(m)))


def choose_param(runs: Sequence[RunInfo], wanted: str | None) -> str | None:
    """`wanted` if some run has it; by default the one parameter whose value varies, if only
    one does (with several, which one explains the metric is anyone's guess)."""
    have = _names(runs, metrics=False)
    if wanted is not None:
        if wanted not in have:
            raise NotFound(
                f"None of these runs has a parameter {wanted!r}; they have: "
                f"{', '.join(have) or 'no parameters'}.",
                param=wanted,
                params=have,
            )
        return wanted
    varying = [p for p in have if len({r.params.get(p) for r in runs}) > 1]
    return varying[0] if len(varying) == 1 else None


def best_ids(runs: Sequence[RunInfo], metric: str) -> set[str]:
    """Ids of the best runs by `metric` (`best_run.py`: the rule hover's ★ follows too)."""
    return {run.run_id for run in best_runs(runs, metric)}


def number(value: float) -> str:
    return f"{value:.6g}"


def _cell(text: str) -> str:
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= _CELL_WIDTH else text[: _CELL_WIDTH - 1] + "…"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def markdown_table(runs: Sequence[RunInfo], metric: str | None) -> str:
    """One column per run (in the given order); rows: run id, params, then metrics. The best
    value of `metric` is bold and starred."""
    best = best_ids(runs, metric) if metric is not None else set()
    lines = [
        _row(["", *(_cell(label(r)) for r in runs)]),
        _row(["---", *("---:" for _ in runs)]),
        _row(["run", *(f"`{r.run_id[:8]}`" for r in runs)]),
    ]
    params = _names(runs, metrics=False)
    if params:
        lines.append(_row(["**params**", *("" for _ in runs)]))
        for p in params:
            lines.append(_row([_cell(p), *(_cell(r.params.get(p, MISSING)) for r in runs)]))
    metrics = _names(runs, metrics=True)
    if metrics:
        lines.append(_row(["**metrics**", *("" for _ in runs)]))
    for m in metrics:
        cells = []
        for r in runs:
            if m not in r.metrics:
                cells.append(MISSING)
            elif m == metric and r.run_id in best:
                cells.append(f"**{number(r.metrics[m])}** {BEST}")
            else:
                cells.append(number(r.metrics[m]))
        lines.append(_row([_cell(m), *cells]))
    return "\n".join(lines)


def summary(runs: Sequence[RunInfo], metric: str | None, what: str | None = None) -> str:
    """The line above the table: what is compared, and what "best" means here."""
    head = f"{len(runs)} runs" + (f" of {what}" if what else "") + ", oldest first."
    if metric is None:
        return head + " They logged no metrics."
    return head + f" {BEST} marks the best {metric} ({direction(metric)})."
