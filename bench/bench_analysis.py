"""Benchmark lensflow.analysis on a 10,000-line training script.

Run as ``.venv/bin/python bench/bench_analysis.py``; a bench driver can call ``run()`` instead.
Figures (milliseconds):

* cold: ``analyze()`` on a new document version each time (the first request after an edit)
* cold_broken: the same with a half-typed line, which costs extra re-parses for recovery
* cached: ``AnalysisCache.get()`` for an unchanged version (every request after the first)
* ast_parse: CPython's ``ast.parse`` on the same text, the peer for "parse a file" cost
"""

from __future__ import annotations

import ast
import contextlib
import math
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
try:
    from lensflow.analysis import AnalysisCache, analyze
except ImportError:  # not installed: run from the source tree
    sys.path.insert(0, str(REPO / "server"))
    from lensflow.analysis import AnalysisCache, analyze

SEED = REPO / "tests" / "fixtures" / "seed_train_original.py"
TARGET_LINES = 10_000
COLD_RUNS = 30
CACHED_CALLS = 1_000


def build_script(target_lines: int = TARGET_LINES) -> str:
    """The seed script, then its run body repeated in functions (only one `with start_run`)."""
    seed = SEED.read_text()
    body = seed.split("with mlflow.start_run():\n", 1)[1].rstrip("\n")
    parts, lines, i = [seed], seed.count("\n"), 0
    while lines < target_lines:
        chunk = f"\n\ndef train_{i}(data):\n    model_file_name = 'model_{i}.pkl'\n{body}\n"
        parts.append(chunk)
        lines += chunk.count("\n")
        i += 1
    return "".join(parts)


def _percentile(samples: list[float], pct: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]  # nearest rank


def _time_ms(fn: Callable[[], object]) -> float:
    start = time.perf_counter_ns()
    fn()
    return (time.perf_counter_ns() - start) / 1e6


def _ast_parse(text: str) -> None:
    with contextlib.suppress(SyntaxError):
        ast.parse(text)


def run() -> dict[str, float]:
    text = build_script()
    # cut a line off mid-call, like a user typing: `mlflow.log_metric('mse', `
    broken = text.replace(
        "    mlflow.log_metric('mse', mean_squared_error(data['test']['y'], preds))",
        "    mlflow.log_metric('mse', ",
        1,
    )
    results: dict[str, float] = {"lines": float(text.count("\n") + 1), "bytes": float(len(text))}
    results["first_call_ms"] = _time_ms(partial(analyze, text))  # includes query compilation

    cold: list[float] = []
    cold_broken: list[float] = []
    peer: list[float] = []
    for i in range(COLD_RUNS):
        edited = f"{text}# edit {i}\n"  # a new version: nothing can be reused
        cold.append(_time_ms(partial(analyze, edited)))
        cold_broken.append(_time_ms(partial(analyze, f"{broken}# edit {i}\n")))
        peer.append(_time_ms(partial(_ast_parse, edited)))

    cache = AnalysisCache()
    cache.get("file:///bench/train.py", 1, text)
    hit = partial(cache.get, "file:///bench/train.py", 1, text)
    cached = [_time_ms(hit) for _ in range(CACHED_CALLS)]
    for name, samples in (
        ("cold", cold),
        ("cold_broken", cold_broken),
        ("ast_parse", peer),
        ("cached", cached),
    ):
        results[f"{name}_p50_ms"] = _percentile(samples, 50)
        results[f"{name}_p95_ms"] = _percentile(samples, 95)
    results["cold_vs_ast_parse_p50"] = results["cold_p50_ms"] / results["ast_parse_p50_ms"]
    return results


def main() -> None:
    r = run()
    print(f"lensflow.analysis on {int(r['lines'])} lines / {int(r['bytes']) // 1024} KiB")
    print(f"first call (builds parser + queries): {r['first_call_ms']:.1f} ms")
    print(f"{'measure':<36}{'p50 ms':>10}{'p95 ms':>10}")
    rows = (
        ("analyze() cold, new version", "cold"),
        ("analyze() cold, broken line", "cold_broken"),
        ("ast.parse (peer)", "ast_parse"),
        ("AnalysisCache.get() cached", "cached"),
    )
    for label, key in rows:
        print(f"{label:<36}{r[f'{key}_p50_ms']:>10.4f}{r[f'{key}_p95_ms']:>10.4f}")
    print(f"analyze() cold p50 / ast.parse p50: {r['cold_vs_ast_parse_p50']:.2f}x")


if __name__ == "__main__":
    main()
