"""Which run is best by a metric: the one rule that hover's ★, inlay hints and compareRuns use.

The metric's name decides the direction. Split into words (at non-alphanumerics and camelCase
humps), a name with the word `neg` is one of scikit-learn's negated losses
(`neg_mean_squared_error`, `neg_log_loss`, …): the highest value is best. Otherwise a name
reads as a loss or an error when one of its words is a loss/error/distance/time word (`mse`,
`rmse`, `mae`, `loss`, `error`, `err`, `nll`, `perplexity`, `wer`, `latency`, `time`, …; see
`_LOWER_WORDS`) or contains `loss` or `error` (`logloss`): the lowest value is best. Anything
else (accuracy, r2, f1, auc, throughput, epochs, …) is best at its highest.

Only FINISHED runs with a finite value compete. Several runs may tie: compareRuns stars them
all, hover and hints name the newest.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lensflow_protocol.tracking import RunInfo

_LOWER_WORDS = frozenset(
    {
        *("mse", "rmse", "mae", "mape", "smape", "msle", "rmsle", "medae", "mad", "sse", "rss"),
        *("nll", "bce", "ce", "kl", "wer", "cer", "ppl", "perplexity", "deviance", "residual"),
        *("loss", "losses", "logloss", "error", "errors", "err", "cost", "regret", "distance"),
        *("divergence", "latency", "duration", "runtime", "time", "seconds", "secs", "ms"),
    }
)
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


def lower_is_better(metric: str) -> bool:
    """True when a metric's best value is its lowest (see the module's docstring)."""
    words = {w.lower() for w in _WORD.findall(metric)}
    if "neg" in words:
        return False
    low = metric.lower()
    return bool(words & _LOWER_WORDS) or "loss" in low or "error" in low


def direction(metric: str) -> str:
    """ "lowest" or "highest": how a view says which value is best."""
    return "lowest" if lower_is_better(metric) else "highest"


def best_runs(runs: Sequence[RunInfo], metric: str) -> list[RunInfo]:
    """The FINISHED runs with the best finite value of `metric`, in the order given (ties:
    several); none when no FINISHED run logged a finite value."""
    values = [
        (run, value)
        for run in runs
        if run.status == "FINISHED"
        and (value := run.metrics.get(metric)) is not None
        and math.isfinite(value)
    ]
    if not values:
        return []
    pick = min if lower_is_better(metric) else max
    best = pick(value for _, value in values)
    return [run for run, value in values if value == best]
