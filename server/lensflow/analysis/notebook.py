"""Syntax facts for Jupyter notebooks: the code cells read as one script, then split per cell.

A notebook's facts span cells (`import mlflow as mf` in the first cell names what the third cell
calls; `set_experiment` may sit anywhere), so its code cells are analysed joined, in order, and
each cell gets the facts that fall on its own lines, moved to the cell's own line numbers.
IPython magics (`%pip`, `!ls`, `%%bash` cells) are blanked to comments of the same length first.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence
from typing import Any

from .facts import LogCalls, ScriptFacts, Span

# Cell magics whose body is still Python; any other `%%magic` cell is not Python at all.
_PYTHON_CELL_MAGICS = frozenset({"time", "timeit", "capture", "prun"})
_MAGIC_LINE = re.compile(r"^(\s*)[%!]")


def python_text(cell: str) -> str:
    """The cell with its magics turned into comments: same lines, same columns."""
    lines = cell.split("\n")
    first = lines[0].lstrip()
    if first.startswith("%%") and first[2:].split(" ", 1)[0] not in _PYTHON_CELL_MAGICS:
        return "\n".join("#" + line[1:] if line else line for line in lines)
    return "\n".join(_MAGIC_LINE.sub(r"\1#", line) for line in lines)


def join_cells(cells: Sequence[str]) -> tuple[str, list[tuple[int, int]]]:
    """The cells as one script, and each cell's [first, end) lines in it."""
    parts: list[str] = []
    ranges: list[tuple[int, int]] = []
    line = 0
    for cell in cells:
        text = python_text(cell)
        if text and not text.endswith("\n"):
            text += "\n"
        parts.append(text)
        ranges.append((line, line + text.count("\n")))
        line += text.count("\n")
    return "".join(parts), ranges


def notebook_code(raw: str) -> str:
    """The code cells of an .ipynb file's JSON, joined; "" if it is not a notebook."""
    try:
        cells = json.loads(raw).get("cells", [])
    except (ValueError, AttributeError):
        return ""
    sources: list[str] = []
    for cell in cells if isinstance(cells, list) else []:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            sources.append("".join(source) if isinstance(source, list) else str(source))
    return join_cells(sources)[0]


def _spans(obj: Any) -> list[Span]:
    if isinstance(obj, Span):
        return [obj]
    if isinstance(obj, tuple | list):
        return [span for item in obj for span in _spans(item)]
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return [span for f in dataclasses.fields(obj) for span in _spans(getattr(obj, f.name))]
    return []


def _inside(span: Span, first: int, end: int) -> bool:
    ends_in = span.end_line < end or (span.end_line == end and span.end_col == 0)
    return first <= span.start_line < end and ends_in


def _moved(obj: Any, first: int, end: int, top: bool = True) -> Any:
    """`obj` with its spans moved up by `first` lines, keeping what lies in the cell: items of
    the facts' own lists by their first span (a site, a problem); nested lists (a fix's edits)
    whole or not at all, since a fix that reaches into another cell cannot be applied here."""
    if isinstance(obj, Span):
        if not _inside(obj, first, end):
            return None
        return Span(obj.start_line - first, obj.start_col, obj.end_line - first, obj.end_col)
    if isinstance(obj, tuple):
        if top:
            kept = [i for i in obj if (s := _spans(i)) and _inside(s[0], first, end)]
        else:
            kept = [] if not all(_inside(s, first, end) for s in _spans(obj)) else list(obj)
        return tuple(_moved(item, first, end, top=False) for item in kept)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        changes = {
            f.name: _moved(getattr(obj, f.name), first, end, top) for f in dataclasses.fields(obj)
        }
        return dataclasses.replace(obj, **changes)
    return obj


def cell_facts(notebook: ScriptFacts, first: int, end: int) -> ScriptFacts:
    """The notebook's facts as one cell (lines [first, end) of the joined script) sees them:
    names (experiment, model, imports) stay notebook-wide, positions are the cell's own."""
    # problems placed first: `_moved` walks fields, and theirs may still be a callable
    placed = dataclasses.replace(notebook, found_problems=notebook.problems)
    moved: ScriptFacts = _moved(placed, first, end)
    # The log calls are kept as byte offsets until asked for: they move as sites.
    return dataclasses.replace(moved, log_calls=LogCalls.of(_moved(notebook.log_sites, first, end)))
