"""Compares runs: gathers them from any workspace, builds the table, has the plot drawn.

The numbers come from the workspace's own queries (`get_run`, `list_runs`); the plot is drawn
by a child process (`plots`), so nothing here loads matplotlib.
"""

from __future__ import annotations

import hashlib
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING

from lensflow_protocol.errors import NotFound
from lensflow_protocol.insight import CompareRunsArgs, CompareRunsResult
from lensflow_protocol.tracking import ListRunsArgs, RunInfo

from ...best_run import direction
from .compare_table import best_ids, choose_metric, choose_param, label, markdown_table, summary
from .plots import PlotSpec, Point, draw

if TYPE_CHECKING:
    from ..base import Workspace

log = logging.getLogger(__name__)


async def runs_by_id(workspace: Workspace, run_ids: list[str]) -> list[RunInfo]:
    runs, missing = [], []
    for run_id in run_ids:
        try:
            detail = await workspace.get_run(run_id)
        except NotFound:
            missing.append(run_id)
            continue
        runs.append(RunInfo.model_validate(detail.model_dump(include=set(RunInfo.model_fields))))
    if missing:
        names = ", ".join(repr(m) for m in missing)
        which = f"run has the id {names}" if len(missing) == 1 else f"runs have the ids {names}"
        raise NotFound(f"No {which}; lensflow.listRuns lists the runs there are.", runIds=missing)
    return runs


async def runs_of_script(workspace: Workspace, script: str, limit: int) -> list[RunInfo]:
    """The script's latest `limit` runs; `script` is its absolute path, as runs are tagged."""
    runs = (await workspace.list_runs(ListRunsArgs(script=script, limit=limit))).runs
    if len(runs) < 2:
        name = Path(script).name
        has = "no tracked runs" if not runs else "only one tracked run"
        raise NotFound(
            f"{name} has {has}; comparing needs at least two. Track it again (▶ Track run), "
            "with other parameters, then compare.",
            script=script,
            runs=len(runs),
        )
    return runs


def plot_file(folder: Path, runs: list[RunInfo], metric: str, param: str | None) -> Path:
    """One file per comparison: comparing the same runs again redraws it in place."""
    key = "\n".join([*(r.run_id for r in runs), metric, param or ""])
    return folder / f"compare-{hashlib.sha256(key.encode()).hexdigest()[:12]}.svg"


def plot_spec(
    path: Path, runs: list[RunInfo], metric: str, param: str | None, title: str
) -> PlotSpec:
    best = best_ids(runs, metric)
    points = []
    for run in runs:
        value = run.metrics.get(metric)
        points.append(
            Point(
                label=label(run),
                value=value if value is not None and math.isfinite(value) else None,
                param=run.params.get(param) if param else None,
                best=run.run_id in best,
            )
        )
    return PlotSpec(str(path), metric, points, param, title, f"best ({direction(metric)})")


async def compare_runs(
    workspace: Workspace, args: CompareRunsArgs, plots: Path
) -> CompareRunsResult:
    """`args.script`, if given, must already be an absolute path. Plots go into `plots`."""
    script_name = None
    if args.run_ids is not None:
        runs = await runs_by_id(workspace, args.run_ids)
    else:
        assert args.script is not None  # the arguments' validator saw to it
        runs = await runs_of_script(workspace, args.script, args.limit)
        script_name = Path(args.script).name
    runs.sort(key=lambda r: (r.start_time or 0, r.run_id))
    metric = choose_metric(runs, args.metric)
    param = choose_param(runs, args.param)
    what = f"`{script_name}`" if script_name else None
    parts = [summary(runs, metric, what), "", markdown_table(runs, metric)]
    path: Path | None = None
    if metric is not None:
        path = plot_file(plots, runs, metric, param)
        title = f"{metric} of {len(runs)} runs" + (f" of {script_name}" if script_name else "")
        if (error := await draw(plot_spec(path, runs, metric, param, title))) is None:
            parts += ["", f"![{title}]({path.as_uri()})"]
        else:
            log.warning("no plot for the comparison: %s", error)
            parts += ["", f"_No plot: {error}_"]
            path = None
    return CompareRunsResult(
        runs=runs,
        markdown="\n".join(parts),
        metric=metric,
        param=param,
        plot_path=str(path) if path else None,
        plot_uri=path.as_uri() if path else None,
    )
