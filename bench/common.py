"""Figures, statistics and the machine description shared by the benchmarks."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SAMPLE_SCRIPT = REPO / "client-sample" / "python" / "train.py"
PYTHON = sys.executable


@dataclass
class Figure:
    """One measured figure, with the peer it is compared to in the same run.

    `target` is a human-readable goal; `ok` is None when the figure has no target.
    """

    name: str
    value: float
    unit: str
    peer: str = ""
    peer_value: float | None = None
    ratio: float | None = None
    target: str = ""
    ok: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def median(samples: Sequence[float]) -> float:
    return statistics.median(samples)


def p95(samples: Sequence[float]) -> float:
    """95th percentile, linear interpolation between order statistics (numpy's default)."""
    if len(samples) == 1:
        return samples[0]
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


def ratio(value: float, peer: float) -> float:
    return value / peer if peer else float("inf")


def latency_figure(
    name: str,
    lensflow: Sequence[float],
    peer: Sequence[float],
    pick: Callable[[Sequence[float]], float],
    peer_name: str,
    target_ms: float | None = None,
) -> Figure:
    """A latency in ms, `pick`ed (median, p95) from both sides' samples."""
    value, peer_value = pick(lensflow), pick(peer)
    return Figure(
        name,
        value,
        "ms",
        peer=peer_name,
        peer_value=peer_value,
        ratio=ratio(value, peer_value),
        target="" if target_ms is None else f"≤ {target_ms:.0f} ms",
        ok=None if target_ms is None else value <= target_ms,
    )


def machine() -> dict[str, Any]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "python_executable": PYTHON,
        "platform": platform.platform(),
    }
