"""Incremental analysis equals a from-scratch `analyze` of the same text after any edits."""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lensflow.analysis import AnalysisCache, analyze, incremental
from lensflow.analysis.incremental import Incremental
from tree_sitter import Parser, Tree

SEED = (Path(__file__).resolve().parent.parent / "fixtures" / "seed_train_original.py").read_text()
BASE = (
    SEED
    + "\nNAME = 'exp'\nOUT = 'models/b.pkl'\n\n\ndef train_0(data):\n"
    + "    out = 'models/a.pkl'\n    joblib.dump(model, out)\n    mlflow.log_artifact(out, 'sub')\n"
    + "    mlflow.log_metrics({'mse': 1, 'r2': 2})\n\n\ndef train_1(data):\n"
    + "    mlflow.set_experiment(NAME)\n    joblib.dump(model, OUT)\n    model.fit(X, y)\n"
)
LINES = [
    "import mlflow as mf",
    "from mlflow import log_metric as lm",
    "import joblib",
    "from sklearn.externals import joblib",
    "from azureml.mlflow import register_model",
    "NAME = 'other'",
    "OUT = f'{x}.pkl'",
    "mlflow.set_experiment(NAME)",
    "    mlflow.log_metric('a', 1)",
    "lm('b', 2)",
    "mf.log_param('c', 3)",
    "def g():",
    "    pass",
    "    joblib.dump(m, 'x.pkl')",
    "with mlflow.start_run():",
    "with mf.start_run() as run:",
    "mlflow.sklearn.log_model(m, 'model')",
    "register_model('runs:/x', 'name')",
    "mlflow.register_model('runs:/x', 'reg')",
    "# comment",
    "",
    "x = (",
    ")",
    "    out = 'models/c.pkl'",
    "mlflow.log_artifact(OUT, 'sub')",
    "model.fit(X, y)",
    "'''",
    "a = 1; mlflow.log_param('p', 2)",
    "class C:",
    "    def m(self): mlflow.log_metric('k', 0)",
    "é = 'ü'  # non-ASCII",
]

insert_line = st.tuples(st.just("insert"), st.integers(0, 10_000), st.sampled_from(LINES))
delete_line = st.tuples(st.just("delete"), st.integers(0, 10_000), st.just(""))
type_text = st.tuples(
    st.just("type"), st.integers(0, 10_000), st.text(alphabet=" ()'\"#:\nabc.", max_size=4)
)
edits = st.lists(st.one_of(insert_line, delete_line, type_text), min_size=1, max_size=12)


def apply(text: str, edit: tuple[str, int, str]) -> str:
    kind, where, new = edit
    lines = text.split("\n")
    if kind == "insert":
        at = where % (len(lines) + 1)
        return "\n".join([*lines[:at], new, *lines[at:]])
    if kind == "delete":
        at = where % len(lines)
        return "\n".join(lines[:at] + lines[at + 1 :])
    at = where % (len(text) + 1)
    return text[:at] + new + text[at:]


@settings(max_examples=150, deadline=None)
@given(edits)
def test_incremental_facts_equal_a_full_analysis(steps: list[tuple[str, int, str]]) -> None:
    analysis, text = Incremental(), BASE
    assert analysis.update(text) == analyze(text)
    for step in steps:
        text = apply(text, step)
        facts = analysis.update(text)
        expected = analyze(text)
        assert facts == expected
        assert facts.log_sites == expected.log_sites


def test_an_edit_parses_only_the_chunks_it_touched() -> None:
    body = "\n\ndef f_{0}():\n    mlflow.log_metric('m{0}', {0})\n"
    functions = "".join(body.format(i) for i in range(50))
    text = "import mlflow\n" + functions
    analysis = Incremental()
    analysis.update(text)
    before = list(analysis._chunks or [])
    edited = text.replace("'m25', 25", "'m25', 26")
    facts = analysis.update(edited)
    assert facts == analyze(edited)
    after = analysis._chunks or []
    assert len(before) == len(after) == 51
    # the edited function's chunk and the one before it are read again; 49 are reused
    assert sum(a is b for a, b in zip(before, after, strict=True)) == 49


def test_cache_updates_a_document_incrementally() -> None:
    cache = AnalysisCache()
    first = cache.get("file:///a.py", 1, BASE)
    second = cache.get("file:///a.py", 2, BASE.replace("'models/a.pkl'", "'models/z.pkl'"))
    assert second != first
    assert [s.model_path for s in second.model_sites].count("sub/z.pkl") == 1


@settings(max_examples=150, deadline=None)
@given(edits)
def test_a_new_text_read_in_pieces_equals_a_full_analysis(
    steps: list[tuple[str, int, str]],
) -> None:
    """With a split every few statements (some inside strings or brackets): each text read
    new, and edited (an edit over most of the file reads it new)."""
    text, edited = BASE, Incremental()
    with pieces_of(64):
        edited.update(text)
        for step in steps:
            text = apply(text, step)
            expected = analyze(text)
            assert edited.update(text) == expected
            facts = Incremental().update(text)
            assert facts == expected
            assert facts.log_sites == expected.log_sites


def test_a_new_text_is_parsed_a_piece_at_a_time() -> None:
    """The peak of a new 2,500-line text's analysis is a piece's tree, not the file's: the
    allocator keeps what the peak took (the server's RSS per line)."""
    body = "\n\ndef train_{0}(data):\n    model.fit(data)\n    mlflow.log_metric('m{0}', {0})\n"
    text = BASE + "".join(body.format(i) for i in range(500))
    parsed: list[int] = []
    real_parse = Parser.parse

    def parse(self: Parser, source: bytes, *args: object) -> Tree:
        parsed.append(len(source))
        return real_parse(self, source, *args)

    def peak_of_a_new_text() -> int:
        Incremental().update(BASE)  # what a first text loads
        tracemalloc.start()
        try:
            facts = Incremental().update(text)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
            assert facts == expected

    expected = analyze(text)
    with pieces_of(len(text)):
        whole = peak_of_a_new_text()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Parser, "parse", parse)
        pieced = peak_of_a_new_text()
    parsed = parsed[1:]  # BASE's
    assert len(parsed) > 3 and max(parsed) <= incremental.PIECE_BYTES + 200, parsed
    assert pieced < 0.6 * whole, (pieced, whole)
    # a text with a syntax error is parsed whole, as before
    broken = text.replace("def train_7(data):", "def train_7(data:")
    assert Incremental().update(broken) == analyze(broken)


@contextlib.contextmanager
def pieces_of(size: int) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(incremental, "PIECE_BYTES", size)
        yield
