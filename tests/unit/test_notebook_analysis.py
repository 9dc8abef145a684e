"""Unit tests for lensflow.analysis.notebook: a notebook's cells read as one script, per cell."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

from lensflow.analysis import ScriptFacts, Span, analyze
from lensflow.analysis.notebook import cell_facts, join_cells, notebook_code, python_text

SEED = (Path(__file__).resolve().parent.parent / "fixtures" / "seed_train_original.py").read_text()


def cells_of(script: str) -> list[str]:
    """The script cut into cells before each top-level statement that follows a blank line."""
    return [c for c in re.split(r"\n\n(?=\S)", script) if c]


def test_cells_join_back_into_the_script() -> None:
    cells = cells_of(SEED)
    assert len(cells) >= 5
    source, ranges = join_cells(cells)
    assert source.splitlines() == [line for cell in cells for line in cell.splitlines()]
    assert source.endswith("\n")
    assert [c.rstrip("\n") for c in cells] == [
        "\n".join(source.split("\n")[a:b]) for a, b in ranges
    ]
    assert ranges[0][0] == 0
    assert all(prev[1] == nxt[0] for prev, nxt in itertools.pairwise(ranges))


def test_per_cell_facts_are_the_scripts_facts_moved_into_each_cell() -> None:
    # Independent truth: the seed analysed as one script, with its own line numbers.
    cells = cells_of(SEED)
    whole = analyze("\n".join(cells) + "\n")  # the seed, blank lines between cells dropped
    source, ranges = join_cells(cells)
    joined = analyze(source)
    per_cell = [cell_facts(joined, a, b) for a, b in ranges]

    def back(span: Span, first: int) -> Span:
        return Span(span.start_line + first, span.start_col, span.end_line + first, span.end_col)

    # Line numbers differ from `whole` by the blank lines dropped; compare through text.
    lines = source.split("\n")
    whole_lines = ("\n".join(cells) + "\n").split("\n")

    def text(span: Span, of: list[str]) -> str:
        return of[span.start_line][span.start_col :]

    anchors = [(f.track_anchor, a) for f, (a, _) in zip(per_cell, ranges, strict=True)]
    (anchor,) = [back(s, a) for s, a in anchors if s is not None]
    assert whole.track_anchor is not None
    assert text(anchor, lines) == text(whole.track_anchor, whole_lines)
    sites = [
        (text(back(site.span, a), lines), site.model_path)
        for f, (a, _) in zip(per_cell, ranges, strict=True)
        for site in f.model_sites
    ]
    assert sites == [(text(s.span, whole_lines), s.model_path) for s in whole.model_sites]
    logged = [
        (text(back(site.span, a), lines), site.kind, site.key, site.line_end)
        for f, (a, _) in zip(per_cell, ranges, strict=True)
        for site in f.log_sites
    ]
    assert logged == [
        (text(s.span, whole_lines), s.kind, s.key, s.line_end) for s in whole.log_sites
    ]
    assert {key for _, _, key, _ in logged} >= {"mse"}  # the seed logs it
    problems = [p.code for f in per_cell for p in f.problems]
    assert problems == [p.code for p in whole.problems] and problems
    # Names are notebook-wide, whichever cell asks.
    assert {f.experiment_name for f in per_cell} == {whole.experiment_name}
    assert {f.uses_mlflow for f in per_cell} == {True}


def test_an_alias_from_another_cell_still_names_mlflow() -> None:
    cells = ["import mlflow as mf\nimport joblib", "x = 1", "with mf.start_run():\n    pass"]
    assert analyze(cells[2]).track_anchor is None  # the cell alone does not know `mf`
    source, ranges = join_cells(cells)
    facts = [cell_facts(analyze(source), *r) for r in ranges]
    assert [f.track_anchor for f in facts] == [None, None, Span(0, 0, 0, 20)]


def test_magics_are_blanked_in_place() -> None:
    assert python_text("%pip install x\n  !ls\nx = 1") == "#pip install x\n  #ls\nx = 1"
    assert python_text("%%time\nimport mlflow") == "#%time\nimport mlflow"
    assert python_text("%%bash\nls -l\n\n") == "#%bash\n#s -l\n\n"
    facts = analyze(join_cells(["%%bash\nwith mlflow.start_run(): pass", "!pip list"])[0])
    assert facts.track_anchor is None and not facts.uses_mlflow


def test_notebook_code_reads_ipynb_json() -> None:
    raw = json.dumps(
        {
            "cells": [
                {"cell_type": "markdown", "source": ["mlflow.set_experiment('no')"]},
                {"cell_type": "code", "source": ["import mlflow\n", "mlflow.set_experiment('e')"]},
                {"cell_type": "code", "source": "print(1)"},
            ],
            "nbformat": 4,
        }
    )
    assert notebook_code(raw) == "import mlflow\nmlflow.set_experiment('e')\nprint(1)\n"
    assert analyze(notebook_code(raw)).experiment_name == "e"
    assert notebook_code("{not json") == "" and notebook_code("[1, 2]") == ""


def test_empty_cells_and_a_cell_without_facts() -> None:
    source, ranges = join_cells(["", "import mlflow", ""])
    assert ranges == [(0, 0), (0, 1), (1, 1)]
    facts = cell_facts(analyze(source), *ranges[0])
    assert isinstance(facts, ScriptFacts) and facts.track_anchor is None
