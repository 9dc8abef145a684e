"""The comparison plot (SVG), drawn by matplotlib in a child process of its own.

    python -m lensflow.workspaces.insight.plots < spec.json

matplotlib and numpy must never load into the editor's server, so the server calls `draw()`,
which runs this module as a child and hands it the numbers already gathered. The child needs
nothing but the standard library and matplotlib (which MLflow installs).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

MODULE = "lensflow.workspaces.insight.plots"
TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Point:
    label: str  # the run's name or short id
    value: float | None  # the metric; None when the run lacks it
    param: str | None = None  # the parameter's value, as logged
    best: bool = False


@dataclass(frozen=True)
class PlotSpec:
    path: str
    metric: str
    points: list[Point]  # oldest run first
    param: str | None = None
    title: str = ""
    best_label: str = "best"


async def draw(spec: PlotSpec, timeout: float = TIMEOUT_S) -> str | None:
    """Writes the SVG at `spec.path`; None when it did, else why not (for a person)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        MODULE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "MPLBACKEND": "Agg"},
    )
    try:
        _, err = await asyncio.wait_for(
            proc.communicate(json.dumps(asdict(spec)).encode()), timeout
        )
    except (TimeoutError, asyncio.CancelledError) as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        if isinstance(exc, asyncio.CancelledError):
            raise
        return f"matplotlib did not finish the plot within {timeout:.0f}s"
    if proc.returncode != 0:
        lines = [line for line in err.decode(errors="replace").splitlines() if line.strip()]
        return lines[-1] if lines else f"the plot process exited with code {proc.returncode}"
    return None


# --- the child ---------------------------------------------------------------------------
def _numeric(values: list[str]) -> list[float] | None:
    try:
        numbers = [float(v) for v in values]
    except ValueError:
        return None
    return numbers if all(math.isfinite(n) for n in numbers) else None


def _stars(ax: Any, xs: list[Any], ys: list[float], label: str) -> None:
    if xs:
        ax.plot(xs, ys, "*", color="C3", markersize=15, zorder=3, label=label)
        ax.legend(loc="best", fontsize="small")


def _over_runs(ax: Any, spec: dict[str, Any]) -> None:
    points = spec["points"]
    shown = [(i, p) for i, p in enumerate(points) if p["value"] is not None]
    ax.plot([i for i, _ in shown], [p["value"] for _, p in shown], "o-", color="C0")
    best = [(i, p["value"]) for i, p in shown if p["best"]]
    _stars(ax, [i for i, _ in best], [v for _, v in best], spec["best_label"])
    ax.set_xticks(range(len(points)), [p["label"] for p in points], rotation=30, ha="right")
    ax.set_xlabel("run (oldest → newest)")
    ax.set_ylabel(spec["metric"])
    ax.set_title(f"{spec['metric']} over runs")
    ax.grid(alpha=0.3)


def _against_param(ax: Any, spec: dict[str, Any]) -> None:
    param, metric = spec["param"], spec["metric"]
    pairs = [p for p in spec["points"] if p["value"] is not None and p["param"] is not None]
    numbers = _numeric([p["param"] for p in pairs])
    if numbers is not None:
        # A numeric parameter gets a numeric axis, in order (log when it spans decades).
        ordered = sorted(zip(numbers, pairs, strict=True), key=lambda xp: (xp[0], xp[1]["value"]))
        xs: list[Any] = [x for x, _ in ordered]
        ax.plot(xs, [p["value"] for _, p in ordered], "o-", color="C1")
        if xs and min(xs) > 0 and max(xs) / min(xs) >= 100:
            ax.set_xscale("log")
        best = [(x, p["value"]) for x, p in ordered if p["best"]]
    else:
        categories = sorted({p["param"] for p in pairs})
        where = {c: i for i, c in enumerate(categories)}
        ax.plot([where[p["param"]] for p in pairs], [p["value"] for p in pairs], "o", color="C1")
        ax.set_xticks(range(len(categories)), categories, rotation=30, ha="right")
        best = [(where[p["param"]], p["value"]) for p in pairs if p["best"]]
    _stars(ax, [x for x, _ in best], [v for _, v in best], spec["best_label"])
    ax.set_xlabel(param)
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} against {param}")
    ax.grid(alpha=0.3)


def render(spec: dict[str, Any]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # no display, ever
    # Text stays text (searchable, small); fixed ids keep the same plot byte-identical.
    matplotlib.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "lensflow"})
    from matplotlib.figure import Figure  # not pyplot: no global figure state

    figure = Figure(figsize=(11 if spec["param"] else 6.5, 4.5), layout="constrained")
    axes = figure.subplots(1, 2 if spec["param"] else 1, squeeze=False)[0]
    _over_runs(axes[0], spec)
    if spec["param"]:
        _against_param(axes[1], spec)
    if spec["title"]:
        figure.suptitle(spec["title"])
    path = Path(spec["path"])
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    # Written aside, then moved: an editor showing the old plot never reads half a file.
    figure.savefig(partial, format="svg", metadata={"Date": None})
    os.replace(partial, path)


def main() -> int:
    try:
        render(json.load(sys.stdin))
    except Exception as exc:
        # The last line is what the server shows; the traceback above it is for the log.
        import traceback

        traceback.print_exc()
        print(f"Could not draw the plot: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
