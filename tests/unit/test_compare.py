"""The comparison table, the metric and parameter chosen, and the best run, from known runs."""

from __future__ import annotations

import pytest
from lensflow.workspaces.insight.compare_table import (
    best_ids,
    choose_metric,
    choose_param,
    markdown_table,
    summary,
)
from lensflow_protocol.errors import NotFound
from lensflow_protocol.tracking import RunInfo


def run(run_id: str, params: dict[str, str], metrics: dict[str, float], **kw: object) -> RunInfo:
    return RunInfo.model_validate(
        {
            "run_id": run_id,
            "experiment_id": "1",
            "status": "FINISHED",
            "params": params,
            "metrics": metrics,
            **kw,
        }
    )


RUNS = [
    run("aaaaaaaa1111", {"alpha": "0.01", "solver": "auto"}, {"mse": 3435.796416, "r2": 0.33}),
    run(
        "bbbbbbbb2222",
        {"alpha": "0.1", "solver": "auto"},
        {"mse": 3372.61225, "r2": 0.34},
        run_name="second",
    ),
    run("cccccccc3333", {"alpha": "1.0"}, {"mse": 3379.406308}),
]


def test_table_has_params_then_metrics_one_column_per_run() -> None:
    assert markdown_table(RUNS, "mse").splitlines() == [
        "|  | aaaaaaaa | second | cccccccc |",
        "| --- | ---: | ---: | ---: |",
        "| run | `aaaaaaaa` | `bbbbbbbb` | `cccccccc` |",
        "| **params** |  |  |  |",
        "| alpha | 0.01 | 0.1 | 1.0 |",
        "| solver | auto | auto | — |",
        "| **metrics** |  |  |  |",
        "| mse | 3435.8 | **3372.61** ★ | 3379.41 |",
        "| r2 | 0.33 | 0.34 | — |",
    ]


def test_higher_is_better_metrics_mark_the_largest() -> None:
    rows = markdown_table(RUNS, "r2").splitlines()
    assert rows[-1] == "| r2 | 0.33 | **0.34** ★ | — |"
    assert rows[-2] == "| mse | 3435.8 | 3372.61 | 3379.41 |"  # only the chosen metric is marked


def test_ties_mark_every_best_run_and_nan_is_never_best() -> None:
    runs = [
        run("a" * 12, {}, {"loss": 0.5}),
        run("b" * 12, {}, {"loss": float("nan")}),
        run("c" * 12, {}, {"loss": 0.5}),
    ]
    assert best_ids(runs, "loss") == {"a" * 12, "c" * 12}
    assert markdown_table(runs, "loss").splitlines()[-1] == (
        "| loss | **0.5** ★ | nan | **0.5** ★ |"
    )


def test_cells_are_escaped_and_shortened() -> None:
    runs = [
        run("a" * 12, {"layers": "a|b", "note": "x" * 60}, {}),
        run("b" * 12, {"layers": "line1\nline2"}, {}),
    ]
    table = markdown_table(runs, None)
    assert "| layers | a\\|b | line1 line2 |" in table
    assert f"| note | {'x' * 39}… | — |" in table
    assert "**metrics**" not in table
    assert summary(runs, None) == "2 runs, oldest first. They logged no metrics."


def test_default_metric_is_the_first_all_runs_share() -> None:
    assert choose_metric(RUNS, None) == "mse"  # r2 sorts after mse, and one run lacks it
    assert (
        choose_metric([run("a" * 12, {}, {"z": 1, "b": 2}), run("b" * 12, {}, {"z": 3})], None)
        == "z"
    )
    assert choose_metric([run("a" * 12, {}, {}), run("b" * 12, {}, {})], None) is None
    assert choose_metric(RUNS, "r2") == "r2"


def test_unknown_metric_or_param_names_what_the_runs_have() -> None:
    with pytest.raises(NotFound) as caught:
        choose_metric(RUNS, "accuracy")
    assert caught.value.message == "None of these runs has a metric 'accuracy'; they have: mse, r2."
    assert caught.value.details == {"metric": "accuracy", "metrics": ["mse", "r2"]}
    with pytest.raises(NotFound) as caught:
        choose_param(RUNS, "lr")
    assert "they have: alpha, solver" in caught.value.message


def test_param_is_inferred_only_when_exactly_one_varies() -> None:
    assert choose_param(RUNS, None) is None  # alpha and solver (missing once) both vary
    same_solver = [run(r.run_id, {**r.params, "solver": "auto"}, r.metrics) for r in RUNS]
    assert choose_param(same_solver, None) == "alpha"
    assert choose_param(same_solver[:1] * 2, None) is None  # nothing varies
    assert choose_param(RUNS, "solver") == "solver"


def test_summary_says_what_best_means() -> None:
    assert summary(RUNS, "mse", "`train.py`") == (
        "3 runs of `train.py`, oldest first. ★ marks the best mse (lowest)."
    )
    assert summary(RUNS, "r2").endswith("★ marks the best r2 (highest).")
