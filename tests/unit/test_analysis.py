"""Unit tests for lensflow.analysis: facts extracted from (possibly broken) training scripts."""

from __future__ import annotations

import ast
import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from lensflow.analysis import (
    AnalysisCache,
    ModelSite,
    Problem,
    ScriptFacts,
    Span,
    TextEdit,
    analyze,
)
from lensflow.analysis.incremental import Incremental
from lensflow.analysis.parsing import _parse, _suspects

SEED = (Path(__file__).resolve().parent.parent / "fixtures" / "seed_train_original.py").read_text()
SEED_LINES = SEED.split("\n")
# 0-based lines in the seed fixture
EXTERNALS_IMPORT, AZURE_IMPORT, WITH_LINE, LOG_METRIC = 5, 17, 21, 32
DUMP_LINE, LOG_ARTIFACT_LINE, REGISTER_LINE = 36, 39, 41


def _offset(text: str, line: int, col16: int) -> int:
    """String index of an LSP position (UTF-16 column); past-the-end clamps like editors do."""
    lines = text.splitlines(keepends=True)
    if line >= len(lines):
        return len(text)
    start = sum(len(x) for x in lines[:line])
    units = 0
    for i, ch in enumerate(lines[line]):
        if units >= col16:
            return start + i
        units += 2 if ord(ch) > 0xFFFF else 1
    return start + len(lines[line])


def apply_edits(text: str, edits: tuple[TextEdit, ...]) -> str:
    ranges = [
        (
            _offset(text, e.span.start_line, e.span.start_col),
            _offset(text, e.span.end_line, e.span.end_col),
            e.new_text,
        )
        for e in edits
    ]
    ranges.sort()
    for (_, end, _), (start, _, _) in itertools.pairwise(ranges):
        assert end <= start, "edits overlap"
    for start, end, new in reversed(ranges):
        text = text[:start] + new + text[end:]
    return text


def codes(facts: ScriptFacts) -> list[tuple[str, int]]:
    return [(p.code, p.span.start_line) for p in facts.problems]


def seed_with(line: int, replacement: str) -> str:
    return "\n".join([*SEED_LINES[:line], replacement, *SEED_LINES[line + 1 :]])


# --- the seed script ---------------------------------------------------------------------


def test_seed_facts() -> None:
    facts = analyze(SEED)
    assert facts.uses_mlflow is True
    assert facts.experiment_name == "experiment_with_mlflow"
    assert facts.track_anchor == Span(WITH_LINE, 0, WITH_LINE, 24)
    assert facts.model_sites == (
        ModelSite(Span(DUMP_LINE, 4, DUMP_LINE, 69), "model.pkl"),
        ModelSite(Span(LOG_ARTIFACT_LINE, 4, LOG_ARTIFACT_LINE, 40), "model.pkl"),
    )
    assert facts.registered_model_name == "diabetes_model"
    assert codes(facts) == [
        ("sklearn-externals-joblib", EXTERNALS_IMPORT),
        ("azureml-register-model", AZURE_IMPORT),
        ("azureml-register-model", REGISTER_LINE),
    ]


def test_seed_problem_details() -> None:
    joblib_problem, az_import, az_call = analyze(SEED).problems
    assert joblib_problem.span == Span(EXTERNALS_IMPORT, 0, EXTERNALS_IMPORT, 36)
    assert "scikit-learn 0.23" in joblib_problem.message
    assert joblib_problem.fix_title == "Replace with `import joblib`"
    assert joblib_problem.fix == (
        TextEdit(Span(EXTERNALS_IMPORT, 0, EXTERNALS_IMPORT, 36), "import joblib"),
    )
    assert az_import.span == Span(AZURE_IMPORT, 0, AZURE_IMPORT, 41)
    assert az_call.span == Span(REGISTER_LINE, 4, REGISTER_LINE, 101)
    assert "aml_store" in az_call.message and "mlflow.register_model" in az_call.message
    whole_lines = (
        TextEdit(Span(AZURE_IMPORT, 0, AZURE_IMPORT + 1, 0), ""),
        TextEdit(Span(REGISTER_LINE, 0, REGISTER_LINE + 1, 0), ""),
    )
    assert az_call.fix == whole_lines
    assert az_import.fix == whole_lines  # the import's fix is the same one


def test_sklearn_fix_applied_removes_problem_and_keeps_model_site() -> None:
    problem = analyze(SEED).problems[0]
    fixed = apply_edits(SEED, problem.fix)
    assert fixed.split("\n")[EXTERNALS_IMPORT] == "import joblib"
    facts = analyze(fixed)
    assert "sklearn-externals-joblib" not in [c for c, _ in codes(facts)]
    assert [s.model_path for s in facts.model_sites] == ["model.pkl", "model.pkl"]


@pytest.mark.parametrize("which", [1, 2], ids=["import-problem", "call-problem"])
def test_azure_fix_applied_removes_import_and_call(which: int) -> None:
    fixed = apply_edits(SEED, analyze(SEED).problems[which].fix)
    assert "register_model" not in fixed
    assert len(fixed.split("\n")) == len(SEED_LINES) - 2
    facts = analyze(fixed)
    assert codes(facts) == [("sklearn-externals-joblib", EXTERNALS_IMPORT)]
    assert facts.registered_model_name is None
    ast.parse(fixed)


def test_all_fixes_in_turn_give_clean_valid_code() -> None:
    text = SEED
    while (facts := analyze(text)).problems:
        text = apply_edits(text, facts.problems[0].fix)
    ast.parse(text)
    assert facts.track_anchor == Span(WITH_LINE - 1, 0, WITH_LINE - 1, 24)  # azure import gone
    assert len(facts.model_sites) == 2


# --- broken code -------------------------------------------------------------------------


def assert_seed_core(facts: ScriptFacts, with_end_col: int = 24) -> None:
    assert facts.uses_mlflow
    assert facts.experiment_name == "experiment_with_mlflow"
    assert facts.track_anchor is not None
    assert facts.track_anchor.start_line == WITH_LINE
    assert facts.track_anchor.end_col == with_end_col
    assert ("sklearn-externals-joblib", EXTERNALS_IMPORT) in codes(facts)


def test_line_cut_off_mid_call_inside_run_block() -> None:
    facts = analyze(seed_with(LOG_METRIC, "    mlflow.log_metric('mse', "))
    assert_seed_core(facts)
    # the statements after the broken line are still recognised
    assert facts.model_sites == (
        ModelSite(Span(DUMP_LINE, 4, DUMP_LINE, 69), "model.pkl"),
        ModelSite(Span(LOG_ARTIFACT_LINE, 4, LOG_ARTIFACT_LINE, 40), "model.pkl"),
    )
    assert facts.registered_model_name == "diabetes_model"
    assert ("azureml-register-model", REGISTER_LINE) in codes(facts)


def test_file_truncated_mid_call() -> None:
    text = "\n".join([*SEED_LINES[:LOG_METRIC], "    mlflow.log_metric('mse', "])
    facts = analyze(text)
    assert_seed_core(facts)
    assert facts.model_sites == ()
    assert codes(facts) == [
        ("sklearn-externals-joblib", EXTERNALS_IMPORT),
        ("azureml-register-model", AZURE_IMPORT),
    ]


def test_unclosed_paren_at_end() -> None:
    facts = analyze(SEED + "print(compute(\n")
    assert_seed_core(facts)
    assert [s.span.start_line for s in facts.model_sites] == [DUMP_LINE, LOG_ARTIFACT_LINE]
    assert facts.registered_model_name == "diabetes_model"


def test_with_header_being_typed_keeps_anchor() -> None:
    facts = analyze(seed_with(WITH_LINE, "with mlflow.start_run("))
    assert_seed_core(facts, with_end_col=22)
    assert len(facts.model_sites) == 2


@pytest.mark.parametrize("line", ["data = {:", "data = {'"])
def test_error_the_repair_cannot_shrink(line: str) -> None:
    # the repair attempt is rejected here; the tree it keeps must still carry node text
    facts = analyze(seed_with(10, line))
    assert_seed_core(facts)
    assert [(s.span.start_line, s.model_path) for s in facts.model_sites] == [
        (DUMP_LINE, "model.pkl"),
        (LOG_ARTIFACT_LINE, "model.pkl"),
    ]
    assert len(facts.problems) == 3


def test_broken_with_header_colon() -> None:
    assert_seed_core(analyze(seed_with(WITH_LINE, "with mlflow.start_run(:")), with_end_col=23)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "with",
        "import",
        "from sklearn.externals import",
        "mlflow.log_artifact(",
        "joblib.dump(",
        "((((",
        "\n\n",
    ],
)
def test_degenerate_inputs_do_not_raise(text: str) -> None:
    facts = analyze(text)
    assert facts.track_anchor is None and facts.model_sites == () and facts.problems == ()


def test_cut_line_is_found_without_a_full_error_recovery_parse() -> None:
    # tree-sitter's own recovery after an open bracket is slow on big files, so the cut line
    # is spotted up front; valid code yields no suspects
    assert _suspects(SEED.encode()) == []
    broken = seed_with(LOG_METRIC, "    mlflow.log_metric('mse',  # typing").encode()
    ((row, start, end),) = _suspects(broken)
    assert row == LOG_METRIC and broken[start:end] == b"    mlflow.log_metric('mse',  # typing"
    tree, blanked = _parse(broken)
    assert not tree.root_node.has_error and blanked == [(row, start, end)]


def test_lower_indented_continuation_is_not_mistaken_for_a_cut_line() -> None:
    src = "import mlflow\nmlflow.log_artifact(\n'out/model.pkl')\nx = (\n1)\n"
    facts = analyze(src)
    assert facts.model_sites == (ModelSite(Span(1, 0, 2, 16), "model.pkl"),)


def test_crlf_line_endings() -> None:
    crlf = SEED.replace("\n", "\r\n")
    facts = analyze(crlf)
    assert facts.track_anchor == Span(WITH_LINE, 0, WITH_LINE, 24)
    assert [s.span.start_line for s in facts.model_sites] == [DUMP_LINE, LOG_ARTIFACT_LINE]
    broken = seed_with(LOG_METRIC, "    mlflow.log_metric('mse', ").replace("\n", "\r\n")
    assert [s.model_path for s in analyze(broken).model_sites] == ["model.pkl", "model.pkl"]
    fixed = apply_edits(crlf, analyze(crlf).problems[2].fix)
    assert "register_model" not in fixed
    ast.parse(fixed)


# --- positions ---------------------------------------------------------------------------


def test_utf16_columns_after_non_ascii() -> None:
    text = 'import joblib\nprint("é🙂"); joblib.dump(m, "out/m.pkl")\n'
    (site,) = analyze(text).model_sites
    # print("é🙂"); is 14 UTF-16 units (the emoji is a surrogate pair) but 17 bytes
    assert site == ModelSite(Span(1, 14, 1, 41), "m.pkl")


def test_utf16_anchor_end_column() -> None:
    text = 'import mlflow\nwith mlflow.start_run(run_name="🚀é"):\n    pass\n'
    assert analyze(text).track_anchor == Span(1, 0, 1, 38)  # 🚀 counts 2


def test_utf16_fix_on_shared_line_applies_cleanly() -> None:
    text = 'from azureml.mlflow import register_model\nx = "ü€𝄞"; register_model(r, "m", "p")\n'
    facts = analyze(text)
    call = next(p for p in facts.problems if p.span.start_line == 1)
    assert call.span == Span(1, 12, 1, 39)  # 𝄞 is a surrogate pair
    fixed = apply_edits(text, call.fix)
    assert fixed == 'x = "ü€𝄞"; \n'  # the other statement on the line is kept
    ast.parse(fixed)


# --- model sites and literal resolution ---------------------------------------------------


def paths(source: str) -> list[str | None]:
    return [s.model_path for s in analyze(source).model_sites]


def test_identifier_resolves_to_last_assignment_before_call() -> None:
    src = (
        "import mlflow\n"
        "p = 'first.pkl'\n"
        "p = 'outputs/second.pkl'\n"
        "mlflow.log_artifact(p)\n"
        "p = 'third.pkl'\n"
        "mlflow.log_artifact(p)\n"
    )
    assert paths(src) == ["second.pkl", "third.pkl"]


def test_identifier_in_function_resolves() -> None:
    src = "import joblib\ndef save(m):\n    out = 'models/ridge.joblib'\n    joblib.dump(m, out)\n"
    assert paths(src) == ["ridge.joblib"]


def test_unresolvable_paths_are_none() -> None:
    src = (
        "import mlflow, joblib, os\n"
        "name = f'model_{1}.pkl'\n"
        "mlflow.log_artifact(name)\n"
        "mlflow.log_artifact(os.path.join('a', 'b'))\n"
        "mlflow.log_artifact(undefined)\n"
        "joblib.dump(m, open('x.pkl', 'wb'))\n"
        "later = 'late.pkl'\n"
    )
    assert paths(src) == [None, None, None, None]


def test_log_artifact_artifact_path() -> None:
    src = (
        "import mlflow\n"
        "mlflow.log_artifact('out/model.pkl', artifact_path='models')\n"
        "mlflow.log_artifact('out/model.pkl', 'sub/dir/')\n"
        "mlflow.log_artifact(local_path='model.pkl', artifact_path=None)\n"
        "mlflow.log_artifact('model.pkl', artifact_path=folder)\n"
    )
    assert paths(src) == ["models/model.pkl", "sub/dir/model.pkl", "model.pkl", None]


def test_joblib_dump_forms() -> None:
    src = (
        "import joblib as jl\n"
        "from joblib import dump\n"
        "jl.dump(model, 'a/one.pkl')\n"
        "dump(model, filename=('two.pkl'))\n"
        "dump(value=model, filename='three' '.pkl')\n"
        "pickle.dump(model, f)\n"
        "other.dump(model, 'no.pkl')\n"
    )
    facts = analyze(src)
    assert [(s.span.start_line, s.model_path) for s in facts.model_sites] == [
        (2, "one.pkl"),
        (3, "two.pkl"),
        (4, "three.pkl"),
    ]


def test_model_site_span_covers_multiline_statement() -> None:
    src = "import mlflow\nif True:\n    mlflow.log_artifact(\n        'm.pkl',\n    )\n"
    assert analyze(src).model_sites == (ModelSite(Span(2, 4, 4, 5), "m.pkl"),)


# --- experiment, registered model, anchor --------------------------------------------------


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("mlflow.set_experiment('exp-a')", "exp-a"),
        ('mlflow.set_experiment(experiment_name="exp-b")', "exp-b"),
        ("mlflow.set_experiment(NAME)", "exp-const"),
        ("mlflow.set_experiment(f'exp-{NAME}')", None),
        ("mlflow.set_experiment(experiment_id='123')", None),
        ("set_experiment('bare')", "bare"),
    ],
)
def test_experiment_name(call: str, expected: str | None) -> None:
    src = f"import mlflow\nfrom mlflow import set_experiment\nNAME = 'exp-const'\n{call}\n"
    assert analyze(src).experiment_name == expected


def test_set_experiment_without_mlflow_is_ignored() -> None:
    assert analyze("set_experiment('x')\n").experiment_name is None


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        ("mlflow.register_model('runs:/1/model', 'ridge')", "ridge"),
        ("mlflow.register_model(model_uri=u, name='kw')", "kw"),
        ("azureml.mlflow.register_model(run, model_name='az', model_path='m.pkl')", "az"),
        ("mlflow.register_model(u, name)", None),
    ],
)
def test_registered_model_name(call: str, expected: str | None) -> None:
    src = f"import mlflow\nimport azureml.mlflow\n{call}\n"
    assert analyze(src).registered_model_name == expected


def test_anchor_forms() -> None:
    alias = (
        "import mlflow as mf\nwith open('f') as f, mf.start_run(run_name='r') as run:\n    pass\n"
    )
    assert analyze(alias).track_anchor == Span(1, 0, 1, 55)
    bare = "from mlflow import start_run\nx = 1\nwith start_run():\n    pass\n"
    assert analyze(bare).track_anchor == Span(2, 0, 2, 17)
    unrelated = (
        "import mlflow\nwith other.start_run():\n    pass\nwith mlflow.start_run():\n    pass\n"
    )
    assert analyze(unrelated).track_anchor == Span(3, 0, 3, 24)
    multiline = "import mlflow\nwith mlflow.start_run(\n    run_name='x',\n):\n    pass\n"
    assert analyze(multiline).track_anchor == Span(1, 0, 3, 2)


def test_anchor_falls_back_to_first_fit() -> None:
    src = (
        "import mlflow\n"
        "run = mlflow.start_run()\n"  # not a `with`, so not the anchor
        "def train():\n"
        "    m = Ridge().fit(X, y)\n"
        "model.fit(X, y)\n"
    )
    assert analyze(src).track_anchor == Span(3, 4, 3, 25)
    assert analyze("x = 1\n").track_anchor is None


def test_uses_mlflow() -> None:
    assert analyze("import mlflow.sklearn\n").uses_mlflow
    assert analyze("import numpy, mlflow as mf\n").uses_mlflow
    assert analyze("from mlflow.tracking import MlflowClient\n").uses_mlflow
    assert not analyze("import mlflowish\nfrom azureml.mlflow import x\n").uses_mlflow
    assert not analyze("# import mlflow\ns = 'import mlflow'\n").uses_mlflow


# --- problems and fixes ------------------------------------------------------------------


def test_sklearn_alias_and_extra_names() -> None:
    (aliased,) = analyze("from sklearn.externals import joblib as jl\n").problems
    assert aliased.fix == (TextEdit(Span(0, 0, 0, 42), "import joblib as jl"),)
    src = "def f():\n    from sklearn.externals import six, joblib\n"
    fixed = apply_edits(src, analyze(src).problems[0].fix)
    assert fixed == "def f():\n    import joblib\n    from sklearn.externals import six\n"


def test_register_call_alone_in_block_becomes_pass() -> None:
    src = (
        "from azureml.mlflow import register_model\n"
        "if ok:\n"
        "    register_model(r, 'm')  # note\n"
        "x = 1"
    )
    facts = analyze(src)
    call = next(p for p in facts.problems if p.span.start_line == 2)
    fixed = apply_edits(src, call.fix)
    assert fixed == "if ok:\n    pass  # note\nx = 1"
    ast.parse(fixed)
    assert analyze(fixed).problems == ()


def test_register_call_on_last_line_without_newline() -> None:
    src = "from azureml.mlflow import register_model\nx = 1\nregister_model(r, 'é')"
    call = analyze(src).problems[1]
    assert call.fix[1] == TextEdit(Span(2, 0, 2, 22), "")
    assert apply_edits(src, call.fix) == "x = 1\n"


def test_several_register_calls() -> None:
    src = (
        "from azureml.mlflow import register_model, get_portal_url\n"
        "register_model(r, 'a')\n"
        "y = register_model(r, 'b')\n"
        "if register_model(r, 'c'):\n"
        "    pass\n"
    )
    facts = analyze(src)
    assert codes(facts) == [("azureml-register-model", n) for n in (0, 1, 2, 3)]
    imp, first, _second, in_header = facts.problems
    # with other calls left, a call's fix must not remove the import they need
    assert first.fix == (TextEdit(Span(1, 0, 2, 0), ""),)
    assert in_header.span == Span(3, 3, 3, 25) and in_header.fix == ()
    fixed = apply_edits(src, imp.fix)
    assert (
        fixed == "from azureml.mlflow import get_portal_url\nif register_model(r, 'c'):\n    pass\n"
    )
    assert all(isinstance(p, Problem) for p in facts.problems)


def test_azureml_attribute_call() -> None:
    src = "import mlflow\nimport azureml.mlflow\nazureml.mlflow.register_model(run, 'm')\n"
    (problem,) = analyze(src).problems
    assert problem.code == "azureml-register-model"
    assert problem.span == Span(2, 0, 2, 39)
    fixed = apply_edits(src, problem.fix)
    assert fixed == "import mlflow\nimport azureml.mlflow\n"
    assert analyze(fixed).problems == ()


def test_register_model_from_mlflow_is_not_a_problem() -> None:
    src = "from mlflow import register_model\nregister_model('runs:/1/m', 'ok')\n"
    facts = analyze(src)
    assert facts.problems == () and facts.registered_model_name == "ok"


def test_log_model_is_flagged_and_fixed_with_the_seed_pattern() -> None:
    src = (
        "import mlflow\nfrom mlflow import sklearn as msk\n"
        "with mlflow.start_run():\n"
        "    model = fit()\n"
        "    mlflow.sklearn.log_model(model, 'model')\n"
        "    msk.log_model(sk_model=model, artifact_path='m2')\n"
    )
    first, second = analyze(src).problems
    assert (first.code, first.span) == ("mlflow-log-model-azureml", Span(4, 4, 4, 44))
    assert "mlflow.sklearn.log_model" in first.message and "404" in first.message
    assert second.span.start_line == 5  # an alias of the flavor module resolves too
    fixed = apply_edits(src, first.fix)
    compile(fixed, "fixed.py", "exec")
    assert fixed.startswith("import joblib\n")
    assert "    joblib.dump(value=model, filename='model.pkl')\n" in fixed
    assert "    mlflow.log_artifact('model.pkl')\n" in fixed
    facts = analyze(fixed)
    assert [p.span.start_line for p in facts.problems] == [7]  # only msk.log_model is left
    assert [site.model_path for site in facts.model_sites] == ["model.pkl", "model.pkl"]


def test_log_model_of_other_flavors_has_no_fix_and_joblib_is_not_imported_twice() -> None:
    src = "import joblib, mlflow\nmlflow.tensorflow.log_model(m, 'model')\n"
    (problem,) = analyze(src).problems
    assert problem.code == "mlflow-log-model-azureml" and problem.fix == ()
    src = "import joblib, mlflow\nmlflow.sklearn.log_model(m, 'model')\n"
    (problem,) = analyze(src).problems
    assert [e.new_text.startswith("import joblib") for e in problem.fix] == [False]
    assert analyze("import mlflow\nmlflow.log_model(m)\n").problems == ()


# --- cache ----------------------------------------------------------------------------------


def test_cache_recomputes_only_on_version_change(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = Incremental.update

    def counting(self: Incremental, source: str) -> ScriptFacts:
        calls.append(source)
        return real(self, source)

    monkeypatch.setattr(Incremental, "update", counting)
    cache = AnalysisCache()
    first = cache.get("file:///a.py", 1, SEED)
    assert cache.get("file:///a.py", 1, SEED) is first
    assert len(calls) == 1
    second = cache.get("file:///a.py", 2, SEED + "\n")
    assert second is not first and len(calls) == 2
    assert cache.get("file:///b.py", 2, SEED) is not second  # keyed per uri
    assert len(calls) == 3
    cache.forget("file:///a.py")
    cache.get("file:///a.py", 2, SEED)
    assert len(calls) == 4


def test_cache_without_version_compares_text(monkeypatch: pytest.MonkeyPatch) -> None:
    count = 0
    real = Incremental.update

    def counting(self: Incremental, source: str) -> ScriptFacts:
        nonlocal count
        count += 1
        return real(self, source)

    monkeypatch.setattr(Incremental, "update", counting)
    cache = AnalysisCache()
    a = cache.get("u", None, "import mlflow\n")
    assert cache.get("u", None, "".join(["import ", "mlflow\n"])) is a  # equal text, new object
    assert count == 1
    b = cache.get("u", None, "import os\n")
    assert count == 2 and b.uses_mlflow is False
    cache.forget("never-seen")  # no error


def test_import_is_cheap() -> None:
    code = (
        "import lensflow.analysis as a, lensflow.analysis.parsing as p\n"
        "assert p._engine.cache_info().currsize == 0\n"
        "a.analyze('import mlflow')\n"
        "assert p._engine.cache_info().currsize == 1\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
