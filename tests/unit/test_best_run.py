"""The one best-run rule (`lensflow/best_run.py`), and hover and compareRuns agreeing on
it. They disagreed: hover took neg_mean_squared_error as lower-is-better (starring the worst
run), compareRuns took throughput and epochs as lower-is-better."""

from __future__ import annotations

import pytest
from lensflow.best_run import best_runs, direction, lower_is_better
from lensflow.features.hover import render
from lensflow.history import ScriptRuns
from lensflow.workspaces.insight.compare_table import best_ids, markdown_table, summary
from lensflow_protocol.tracking import RunInfo


def run(n: int, metrics: dict[str, float], status: str = "FINISHED") -> RunInfo:
    return RunInfo(
        run_id=f"{n:02d}" + "ab" * 15,
        experiment_id="1",
        status=status,
        start_time=1_800_000_000_000 - n * 60_000,
        run_name=f"run-{n}",
        params={},
        metrics=metrics,
    )


@pytest.mark.parametrize(
    ("metric", "lower"),
    [
        ("mse", True),
        ("rmse", True),
        ("testMAE", True),
        ("val_loss", True),
        ("logloss", True),
        ("train-error", True),
        ("errorRate", True),
        ("mean_absolute_error", True),
        ("training_time", True),
        ("nll", True),
        # scikit-learn's scorers negate losses so that higher is always better.
        ("neg_mean_squared_error", False),
        ("neg_log_loss", False),
        ("neg_root_mean_squared_error", False),
        ("negMAE", False),
        ("accuracy", False),
        ("r2", False),
        ("r2_score", False),
        ("f1", False),
        ("auc", False),
        ("val_acc", False),
        ("throughput", False),
        ("epochs", False),
        ("msec2", False),
    ],
)
def test_which_way_is_better(metric: str, lower: bool) -> None:
    assert lower_is_better(metric) is lower
    assert direction(metric) == ("lowest" if lower else "highest")


def test_finished_finite_runs_compete_and_ties_keep_their_order() -> None:
    runs = [
        run(1, {"mse": 7.0}),
        run(2, {"mse": 5.0}, status="FAILED"),  # better, but failed
        run(3, {"mse": float("nan")}),
        run(4, {"mse": 7.0}),
        run(5, {}),
    ]
    assert [r.run_name for r in best_runs(runs, "mse")] == ["run-1", "run-4"]
    assert best_runs(runs, "absent") == []


@pytest.mark.parametrize(
    "metric", ["neg_mean_squared_error", "throughput", "epochs", "mse", "accuracy", "val_loss"]
)
def test_hover_hints_and_compare_runs_star_the_same_run(metric: str) -> None:
    # Newest first, as the store lists them; values chosen so each direction picks another run.
    runs = [run(1, {metric: -3.0}), run(2, {metric: -1.0}), run(3, {metric: -2.0})]
    expected = "run-2" if not lower_is_better(metric) else "run-1"
    hover_best = ScriptRuns.of(runs).best(metric)
    assert hover_best is not None and hover_best.run_name == expected
    assert best_ids(runs, metric) == {hover_best.run_id}  # compareRuns' ★
    table = markdown_table(list(reversed(runs)), metric).splitlines()[-1]
    starred = [cell.strip() for cell in table.split("|")[2:-1]]
    assert starred == ["**-2** ★" if expected == "run-3" else "-2",
                       "**-1** ★" if expected == "run-2" else "-1",
                       "**-3** ★" if expected == "run-1" else "-3"]  # fmt: skip
    assert summary(runs, metric).endswith(f"({direction(metric)}).")
    hover = render("metric", metric, "train.py", ScriptRuns.of(runs), metric)
    assert f"★ best: {direction(metric)} {metric}" in hover.replace("\\_", "_")
