"""Runs and logged values as text: when a run started, a value in a narrow column, markdown
without markup. Shared by hovers, inlay hints and lenses."""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING

from ..history import format_number

if TYPE_CHECKING:
    from lensflow_protocol.tracking import RunInfo

PARAM_WIDTH = 40
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>|#])")


def escape(text: str) -> str:
    """Text for a markdown table cell: no markup, no line break, no column break."""
    return _MARKDOWN.sub(r"\\\1", " ".join(text.split()))


def when(ms: int | None, now: float) -> str:
    """A run's start as a person says it: just now, 5 min ago, 3 h ago, 2 d ago, 2026-05-01."""
    if ms is None:
        return "—"
    seconds = max(0.0, now - ms / 1000)
    if seconds < 60:
        return "just now"
    for unit, size, upto in (("min", 60, 3600), ("h", 3600, 86400), ("d", 86400, 7 * 86400)):
        if seconds < upto:
            return f"{int(seconds // size)} {unit} ago"
    return time.strftime("%Y-%m-%d", time.localtime(ms / 1000))


def value_text(value: float | str | None) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return format_number(value)
    return value if len(value) <= PARAM_WIDTH else value[: PARAM_WIDTH - 1] + "…"


def _ago(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = max(0, time.time() - ms / 1000)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f" · {int(seconds // size)} {unit} ago"
    return " · just now"


def run_title(run: RunInfo) -> str:
    """A run in a lens title: ✓ FINISHED · mse=3424.86 · 5 min ago."""
    mark = {"FINISHED": "✓", "FAILED": "✗", "KILLED": "■"}.get(run.status, "…")
    metrics = " ".join(f"{k}={v:.6g}" for k, v in sorted(run.metrics.items())[:3])
    return f"{mark} {run.status}" + (f" · {metrics}" if metrics else "") + _ago(run.start_time)
