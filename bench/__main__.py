"""`python -m bench`: runs every benchmark, prints a markdown table, writes results/latest.json."""

from __future__ import annotations

import argparse
import datetime
import importlib
import json
import math
import sys
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .common import Figure, machine

RESULTS = Path(__file__).resolve().parent / "results"
# (key, module, whether it is optional: a missing optional module is reported, not an error)
BENCHMARKS: list[tuple[str, str, bool]] = [
    ("startup", "bench.bench_startup", False),
    ("trackrun", "bench.bench_trackrun", False),
    ("analysis", "bench.bench_analysis", True),
    ("codelens", "bench.bench_codelens", False),
    ("insight", "bench.bench_insight", False),
    ("scoring", "bench.bench_scoring", False),
    ("tail", "bench.bench_tail", False),
    ("big_requests", "bench.bench_big_requests", False),
    ("deploy", "bench.bench_deploy", False),
    ("azure_offline", "bench.bench_azure_offline", False),
]


def _plain(value: Any) -> Any:
    """JSON-ready figures; `Figure`s become dicts, non-finite floats become strings."""
    if isinstance(value, Figure):
        return _plain(value.as_dict())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _num(value: Any, unit: str = "") -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or abs(value) >= 1000:
        text = f"{value:.0f}"
    elif value == 0 or abs(value) >= 0.01:
        text = f"{value:.3f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def _row(bench: str, key: str, figure: Any) -> list[str]:
    """A table row for a Figure, a figure-like dict (another helper's), or a bare value."""
    if isinstance(figure, Figure):
        figure = figure.as_dict()
    if not isinstance(figure, Mapping):
        return [bench, key, _num(figure), "", "", "", "", ""]
    unit = str(figure.get("unit", ""))
    peer = figure.get("peer", "")
    peer_value = figure.get("peer_value")
    peer_text = f"{_num(peer_value, unit)} ({peer})" if peer_value is not None else str(peer)
    ok = figure.get("ok")
    verdict = "" if ok is None else ("yes" if ok else "**NO**")
    name = str(figure.get("name", key))
    value = figure.get("value", {k: v for k, v in figure.items() if k not in ("name", "note")})
    return [
        bench,
        name,
        _num(value, unit),
        peer_text,
        _num(figure.get("ratio")),
        str(figure.get("target", "")),
        verdict,
        str(figure.get("note", "")),
    ]


def _table(rows: list[list[str]]) -> str:
    header = ["bench", "figure", "Lensflow", "peer", "ratio", "target", "met", "note"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [cell.replace("|", "\\|").replace("\n", " ") for cell in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _load(module: str, optional: bool) -> Callable[[], Mapping[str, Any]] | str:
    """The module's `run`, or why it cannot be had."""
    try:
        return importlib.import_module(module).run  # type: ignore[no-any-return]
    except ImportError as exc:
        if optional and getattr(exc, "name", None) == module:
            return f"{module} is missing; skipped"
        if optional:
            return f"{module} failed to import ({exc}); skipped"
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "only", nargs="*", help=f"run only these benchmarks ({', '.join(b[0] for b in BENCHMARKS)})"
    )
    ns = parser.parse_args(argv)
    chosen = [b for b in BENCHMARKS if not ns.only or b[0] in ns.only]

    info = machine()
    print(
        f"machine: nproc={info['nproc']}, CPU {info['cpu_model']}, "
        f"Python {info['python']} ({info['python_executable']})",
        flush=True,
    )
    started = time.perf_counter()
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    skipped: dict[str, str] = {}
    rows: list[list[str]] = []
    for key, module, optional in chosen:
        print(f"running {key} …", flush=True)
        t0 = time.perf_counter()
        try:
            run = _load(module, optional)
            if isinstance(run, str):
                print(f"  {run}", flush=True)
                skipped[key] = run
                continue
            figures = run()
        except Exception as exc:  # one broken benchmark must not hide the others
            traceback.print_exc()
            errors[key] = f"{type(exc).__name__}: {exc}"
            print(f"  {key} FAILED: {errors[key]}", flush=True)
            continue
        print(f"  {key} took {time.perf_counter() - t0:.1f} s", flush=True)
        results[key] = _plain(figures)
        if isinstance(figures, Mapping):
            rows += [_row(key, name, figure) for name, figure in figures.items()]
        else:
            rows.append([key, "(result)", _num(figures), "", "", "", "", ""])

    elapsed = time.perf_counter() - started
    print()
    print(
        f"Machine: nproc={info['nproc']} · {info['cpu_model']} · Python {info['python']} · "
        f"{info['platform']}"
    )
    print()
    print(_table(rows))
    for key, why in skipped.items():
        print(f"\n- {key}: {why}")
    for key, why in errors.items():
        print(f"\n- {key}: FAILED — {why}")
    missed = [r[1] for r in rows if r[6] == "**NO**"]
    print(f"\nTotal {elapsed:.0f} s; {len(missed)} figure(s) miss their target.")

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "latest.json"
    document = {
        "when": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "machine": info,
        "elapsed_s": round(elapsed, 1),
        "benchmarks": results,
        "skipped": skipped,
        "errors": errors,
    }
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"Figures written to {out}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
