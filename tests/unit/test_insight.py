"""Unit tests for hovers and inlay hints: log-call sites in the analysis, the best-run rule,
number formatting, the hover's table, the hints, and the run cache's loading rules."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

import pytest
from lensflow import history
from lensflow.analysis import LogSite, Span, analyze
from lensflow.features.hover import best_metric_for, render, site_at
from lensflow.features.inlay_hints import build_hints
from lensflow.history import RunHistory, ScriptRuns, format_number
from lensflow.views.runs import escape, when
from lensflow_protocol.errors import NotSignedIn
from lensflow_protocol.tracking import RunInfo

NOW = 1_800_000_000.0  # seconds


def run(
    n: int,
    metrics: dict[str, float] | None = None,
    params: dict[str, str] | None = None,
    status: str = "FINISHED",
    ago_s: float | None = None,
    name: str | None = None,
) -> RunInfo:
    """Run n started n minutes before NOW (unless told otherwise)."""
    start = NOW - (60 * n if ago_s is None else ago_s)
    return RunInfo(
        run_id=f"{n:02d}" + "abcdef0123456789" * 2,
        experiment_id="1",
        run_name=name if name is not None else f"run-{n}",
        status=status,  # type: ignore[arg-type]
        start_time=int(start * 1000),
        params=params or {},
        metrics=metrics or {},
    )


# --- analysis: log_metric / log_param call sites ----------------------------------------------
def test_log_sites_of_every_resolved_form() -> None:
    source = (
        "import mlflow\n"
        "import mlflow as mf\n"
        "from mlflow import log_metric, log_param\n"
        "KEY = 'r2'\n"
        "mlflow.log_metric('mse', 1.0)\n"
        "mf.log_param(key='alpha', value=0.5)  # a comment\n"
        "log_metric(KEY, 2)\n"
        "log_param(f'p{1}', 3)\n"
        "mlflow.log_metric(name, 4)\n"
        "mlflow.log_metric(\n"
        "    'loss',\n"
        "    5)   \n"
        "other.log_metric('no', 1)\n"
        "mlflow.log_metrics({'a': 1})\n"
    )
    sites = analyze(source).log_sites
    assert [(s.kind, s.key, s.span.start_line) for s in sites] == [
        ("metric", "mse", 4),
        ("param", "alpha", 5),
        ("metric", None, 6),  # a name, even one bound to a literal: no key
        ("param", None, 7),
        ("metric", None, 8),
        ("metric", "loss", 9),
        ("metric", "a", 13),  # log_metrics: each literal key of the dict
    ]
    lines = source.splitlines()
    # The hint goes at the end of the line the call ends on, trailing blanks left out.
    assert sites[0].span == Span(4, 0, 4, 29) and sites[0].line_end == len(lines[4])
    assert sites[1].line_end == len(lines[5])  # after the comment
    assert (sites[5].span.end_line, sites[5].line_end) == (11, 6)


def test_log_metrics_and_log_params_give_one_site_per_literal_key() -> None:
    source = (
        "import mlflow\n"
        "mlflow.log_metrics({'mse': mse, \"r2\": r2, name: 1, **more})\n"
        "mlflow.log_params(\n"
        "    {\n"
        "        'alpha': 0.5,  # the seed's\n"
        "        'solver': 'auto',\n"
        "    }\n"
        ")\n"
        "mlflow.log_metrics(metrics=computed)\n"
        "other.log_params({'no': 1})\n"
    )
    sites = analyze(source).log_sites
    assert [(s.kind, s.key) for s in sites] == [
        ("metric", "mse"),
        ("metric", "r2"),  # `name: 1` and `**more` have no literal key: no site
        ("param", "alpha"),
        ("param", "solver"),
        ("metric", None),  # a dict built elsewhere: one site, no key
    ]
    lines = source.splitlines()
    # A pair's span is the pair itself (the hover target); its hint goes at its line's end.
    assert sites[0].span == Span(1, 20, 1, 30) and lines[1][20:30] == "'mse': mse"
    assert sites[1].line_end == sites[0].line_end == len(lines[1])
    assert (sites[2].span.start_line, sites[2].line_end) == (4, len(lines[4]))
    assert (sites[3].span.start_line, sites[3].line_end) == (5, len(lines[5]))
    assert sites[4].span == Span(8, 0, 8, 36)


def test_log_functions_imported_under_another_name() -> None:
    source = (
        "import mlflow\n"
        "from mlflow import log_metric as lm, log_params as lps\n"
        "from other import log_param\n"
        "lm('mse', 1)\n"
        "film('x', 2)\n"  # the alias inside a longer name
        "x.lm('no', 3)\n"  # another object's lm
        "lps({'alpha': 1})\n"
        "log_param('not mlflow', 4)\n"
    )
    sites = analyze(source).log_sites
    assert [(s.kind, s.key, s.span.start_line) for s in sites] == [
        ("metric", "mse", 3),
        ("param", "alpha", 6),
    ]


def test_log_sites_count_utf16_columns() -> None:
    source = "import mlflow\nmlflow.log_param('naïve', '😀')  # ü\n"
    (site,) = analyze(source).log_sites
    assert site.key == "naïve"
    # '😀' is two UTF-16 code units
    assert site.span == Span(1, 0, 1, 31) and site.line_end == 36


def test_log_sites_in_half_typed_code() -> None:
    source = "import mlflow\nwith mlflow.start_run():\n    mlflow.log_metric('mse', \n"
    facts = analyze(source)
    assert facts.track_anchor is not None  # the rest of the analysis still works
    assert [s.key for s in analyze(source + "    mlflow.log_param('a', 1)\n").log_sites] == ["a"]


def test_plain_string_fast_path_agrees_with_literal_eval() -> None:
    keys = ["'mse'", '"a b"', "'it\\'s'", "'''x'''", "r'\\d'", "'tab\\t'", '"q\'"', "u'é'"]
    for key in keys:
        (site,) = analyze(f"import mlflow\nmlflow.log_metric({key}, 1)\n").log_sites
        assert site.key == eval(key), key
        # the same fast path serves the other literals the analysis reads
        assert analyze(f"import mlflow\nmlflow.set_experiment({key})\n").experiment_name == eval(
            key
        ), key
    for key in ("f'x{y}'", "b'x'", "'a' f'{b}'"):
        (site,) = analyze(f"import mlflow\nmlflow.log_metric({key}, 1)\n").log_sites
        assert site.key is None, key


# --- the best-run rule and formatting -----------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3424.856700, "3424.86"),
        (0.03, "0.03"),
        (5.0, "5"),
        (1234567.0, "1.23457e+06"),
        (0.000123456789, "0.000123457"),
        (float("nan"), "nan"),
        (-2.5, "-2.5"),
    ],
)
def test_numbers_have_six_significant_digits(value: float, text: str) -> None:
    assert format_number(value) == text


def test_best_run_lowest_loss_highest_score_finished_only() -> None:
    runs = ScriptRuns.of(
        [
            run(1, {"mse": 10.0, "acc": 0.7}),
            run(2, {"mse": 5.0, "acc": 0.9}, status="FAILED"),  # better, but failed
            run(3, {"mse": 7.0, "acc": 0.8}),
            run(4, {"mse": float("nan"), "acc": float("nan")}),
            run(5, {"mse": 7.0, "acc": 0.8}),  # a tie: the newer (run 3) wins
        ]
    )
    best_mse, best_acc = runs.best("mse"), runs.best("acc")
    assert best_mse is not None and best_mse.run_name == "run-3"
    assert best_acc is not None and best_acc.run_name == "run-3"
    assert runs.best("absent") is None


def test_last_values_come_from_the_newest_run_that_logged_them() -> None:
    runs = ScriptRuns.of(  # given oldest first: ScriptRuns orders them newest first
        [
            run(3, {"mse": 3.0, "r2": 0.3}, {"alpha": "0.3"}),
            run(2, {"mse": 2.0}, {"alpha": "0.2"}),
            run(1, {}, {}, status="FAILED"),
        ]
    )
    assert [r.run_name for r in runs.runs] == ["run-1", "run-2", "run-3"]
    mse, r2 = runs.last("metric", "mse"), runs.last("metric", "r2")
    alpha = runs.last("param", "alpha")
    assert mse is not None and (mse.value, mse.run.run_name) == (2.0, "run-2")
    assert r2 is not None and (r2.value, r2.run.run_name) == (0.3, "run-3")
    assert alpha is not None and alpha.value == "0.2"
    assert runs.last("param", "mse") is None


# --- the hover ---------------------------------------------------------------------------------
def test_human_time() -> None:
    ms = int(NOW * 1000)
    assert when(ms - 30_000, NOW) == "just now"
    assert when(ms - 5 * 60_000, NOW) == "5 min ago"
    assert when(ms - 3 * 3_600_000, NOW) == "3 h ago"
    assert when(ms - 2 * 86_400_000, NOW) == "2 d ago"
    assert when(ms - 30 * 86_400_000, NOW) == time.strftime(
        "%Y-%m-%d", time.localtime(NOW - 30 * 86400)
    )
    assert when(None, NOW) == "—"


def test_hover_table_newest_first_with_the_best_starred() -> None:
    runs = ScriptRuns.of(
        [
            run(1, {"mse": 3424.8567}, {"alpha": "0.03"}, name="calm|owl"),
            run(2, {"mse": 3379.41}, {"alpha": "1.0"}),
            run(3, {}, {"alpha": "9"}, status="FAILED"),
        ]
    )
    text = render("metric", "mse", "ridge.py", runs, "mse", NOW)
    assert text.splitlines() == [
        "**mse** · metric · 3 runs of `ridge.py` · ★ best: lowest mse",
        "",
        "| run | when | mse | status |",
        "|:--|:--|--:|:--|",
        "| `01abcdef` calm\\|owl | 1 min ago | 3424.86 | FINISHED |",
        "| ★ `02abcdef` run-2 | 2 min ago | 3379.41 | FINISHED |",
        "| `03abcdef` run-3 | 3 min ago | — | FAILED |",
    ]
    param = render("param", "alpha", "ridge.py", runs, "mse", NOW)
    assert "★ best run by mse (lowest)" in param.splitlines()[0]
    assert "| ★ `02abcdef` run-2 | 2 min ago | 1.0 | FINISHED |" in param
    unmarked = render("param", "alpha", "ridge.py", runs, None, NOW)
    assert "★" not in unmarked


def test_hover_without_runs_and_with_many() -> None:
    assert render("metric", "mse", "t.py", ScriptRuns.of([]), "mse", NOW) == (
        "**mse** · metric · no runs of this script yet"
    )
    many = [run(i, {"acc": 0.5 + i / 10_000}) for i in range(1, 1001)]
    text = render("metric", "acc", "t.py", ScriptRuns.of(many), "acc", NOW)
    rows = [line for line in text.splitlines() if line.startswith("| ")][1:]
    # ten newest, a gap, and the best (the oldest: it has the highest acc)
    assert len(rows) == 12 and rows[10] == "| … | | | |"
    assert rows[11].startswith("| ★ `1000abcd`")
    assert text.endswith("10 newest of 1000+ runs")


def test_param_hover_judges_by_the_scripts_first_metric() -> None:
    facts = analyze(
        "import mlflow\nmlflow.log_param('a', 1)\nmlflow.log_metric(k, 1)\n"
        "mlflow.log_metric('r2', 1)\nmlflow.log_metric('mse', 1)\n"
    )
    assert best_metric_for("param", "a", facts) == "r2"
    assert best_metric_for("metric", "mse", facts) == "mse"
    assert best_metric_for("param", "a", analyze("import mlflow\nmlflow.log_param('a', 1)\n")) is (
        None
    )


def test_site_under_the_cursor() -> None:
    facts = analyze("import mlflow\nx = 1; mlflow.log_metric(\n  'mse',\n  2)\n")
    assert site_at(facts, 1, 2) is None
    for line, col in ((1, 7), (2, 3), (3, 4)):
        site = site_at(facts, line, col)
        assert site is not None and site.key == "mse"
    assert site_at(facts, 3, 5) is None


def test_the_key_under_the_cursor_in_a_logged_dict() -> None:
    facts = analyze("import mlflow\nmlflow.log_metrics({'mse': m, 'r2': r})\n")
    assert site_at(facts, 1, 10) is None  # the function's name: which key would it be?
    keys = [getattr(site_at(facts, 1, col), "key", None) for col in (21, 26, 29, 31, 35)]
    assert keys == ["mse", "mse", None, "r2", "r2"]


def test_escape_keeps_cells_whole() -> None:
    assert escape("a|b\nc*d_e") == "a\\|b c\\*d\\_e"


# --- inlay hints -------------------------------------------------------------------------------
def test_hints_show_the_last_values_in_the_asked_range() -> None:
    source = (
        "import mlflow\n"
        "mlflow.log_param('alpha', a)\n"
        "mlflow.log_metric('mse', m)\n"
        "mlflow.log_metric('never', m)\n"
        "mlflow.log_metric(key, m)\n"
    )
    facts = analyze(source)
    runs = ScriptRuns.of([run(1, {"mse": 3424.8567}, {"alpha": "0.03" * 20})])
    hints = build_hints(facts, runs, 0, 10, NOW)
    assert [(h.position.line, h.position.character, h.label) for h in hints] == [
        (1, 28, "alpha = " + ("0.03" * 20)[:39] + "…"),
        (2, 27, "mse = 3424.86"),
    ]
    assert hints[1].padding_left
    assert hints[1].tooltip == "Last logged by run 01abcdef (run-1), 1 min ago, FINISHED"
    assert [h.position.line for h in build_hints(facts, runs, 2, 3, NOW)] == [2]


def test_hints_for_every_key_of_a_logged_dict() -> None:
    source = (
        "import mlflow\n"
        "mlflow.log_metrics({'mse': m, 'r2': r})\n"
        "mlflow.log_params({\n"
        "  'alpha': a,\n"
        "})\n"
    )
    runs = ScriptRuns.of([run(1, {"mse": 3424.8567, "r2": 0.4526}, {"alpha": "0.03"})])
    hints = build_hints(analyze(source), runs, 0, 10, NOW)
    assert [(h.position.line, h.position.character, h.label) for h in hints] == [
        (1, 39, "mse = 3424.86"),
        (1, 39, "r2 = 0.4526"),
        (3, 13, "alpha = 0.03"),
    ]


# --- the run cache -----------------------------------------------------------------------------
class FakeStore:
    def __init__(self, runs: Sequence[RunInfo] = ()) -> None:
        self.runs = list(runs)
        self.calls = 0
        self.gate: asyncio.Event | None = None
        self.error: Exception | None = None

    async def load(self, script: str) -> Sequence[RunInfo]:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.error is not None:
            raise self.error
        return list(self.runs)


async def test_loaded_once_then_served_from_memory() -> None:
    store = FakeStore([run(1, {"mse": 1.0})])
    changes: list[str] = []
    cache = RunHistory(store.load, changes.append)
    assert cache.known("/s.py") is None  # not loaded yet: no waiting
    first = await cache.fresh("/s.py", 5)
    assert first is not None and first.last("metric", "mse") is not None
    for _ in range(100):
        assert cache.known("/s.py") is first
        assert await cache.fresh("/s.py", 5) is first
    assert store.calls == 1
    assert changes == ["/s.py"]


async def test_requests_do_not_wait_on_a_slow_load() -> None:
    store = FakeStore([run(1, {"mse": 1.0})])
    store.gate = asyncio.Event()
    cache = RunHistory(store.load)
    started = time.monotonic()
    assert cache.known("/s.py") is None
    assert await cache.fresh("/s.py", 0.05) is None
    assert time.monotonic() - started < 1
    assert cache.loading("/s.py") and store.calls == 1  # one load, however many asked
    store.gate.set()
    assert await cache.fresh("/s.py", 5) is not None


async def test_only_the_first_requests_wait_for_a_long_load() -> None:
    store = FakeStore([run(1, {"mse": 1.0})])
    store.gate = asyncio.Event()
    cache = RunHistory(store.load)
    started = time.monotonic()
    assert await cache.fresh("/s.py", 0.3) is None
    assert 0.25 < time.monotonic() - started < 1
    started = time.monotonic()
    assert await cache.fresh("/s.py", 0.3) is None  # the load is older than the wait
    assert time.monotonic() - started < 0.1
    store.gate.set()


async def test_a_failed_load_is_not_retried_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    store = FakeStore()
    store.error = NotSignedIn("Sign in with az login.")
    cache = RunHistory(store.load)
    assert await cache.fresh("/s.py", 5) is None
    assert await cache.fresh("/s.py", 5) is None
    assert cache.known("/s.py") is None
    assert store.calls == 1
    monkeypatch.setattr(history, "RETRY_AFTER_S", 0.0)
    store.error = None
    assert await cache.fresh("/s.py", 5) is not None
    assert store.calls == 2


async def test_a_run_ending_reloads_and_tells_of_new_values() -> None:
    store = FakeStore([run(2, {"mse": 2.0})])
    changes: list[str] = []
    cache = RunHistory(store.load, changes.append)
    cache.run_ended("/s.py")  # nobody asked for this script yet: nothing to do
    assert store.calls == 0
    await cache.fresh("/s.py", 5)
    store.runs.insert(0, run(1, {"mse": 1.0}))
    cache.run_ended("/s.py")
    stale = cache.known("/s.py")  # the old runs are served while the new ones load
    assert stale is not None and len(stale.runs) == 1
    fresh = await cache.fresh("/s.py", 5)
    assert fresh is not None and len(fresh.runs) == 2
    assert store.calls == 2 and changes == ["/s.py", "/s.py"]
    # A reload with the same values does not bother the client.
    cache.run_ended("/s.py")
    await cache.fresh("/s.py", 5)
    assert store.calls == 3 and changes == ["/s.py", "/s.py"]


async def test_a_run_ending_during_a_load_reads_again() -> None:
    store = FakeStore([run(2, {"mse": 2.0})])
    store.gate = asyncio.Event()
    cache = RunHistory(store.load)
    cache.known("/s.py")
    await asyncio.sleep(0)
    store.runs.insert(0, run(1, {"mse": 1.0}))
    cache.run_ended("/s.py")  # the load in flight may have read before the run ended
    store.gate.set()
    for _ in range(100):
        await asyncio.sleep(0)
    assert store.calls == 2
    fresh = cache.known("/s.py")
    assert fresh is not None and len(fresh.runs) == 2


async def test_clear_forgets_and_reloads_what_was_asked() -> None:
    store = FakeStore([run(1, {"mse": 1.0})])
    changes: list[str] = []
    cache = RunHistory(store.load, changes.append)
    await cache.fresh("/s.py", 5)
    store.runs = []  # the new settings point at an empty store
    cache.clear()
    assert cache.known("/s.py") is None
    assert await cache.fresh("/s.py", 5) is not None
    assert store.calls == 2
    assert changes == ["/s.py", "/s.py"]  # the old store's hints must go


def test_facts_compare_and_hash_with_their_log_sites() -> None:
    source = "import mlflow\nmlflow.log_metric('mse', 1)\n"
    first, second = analyze(source), analyze(source)
    assert first == second and hash(first) == hash(second)
    assert first != analyze(source.replace("mse", "mae"))
    assert analyze("x = 1\n").log_sites == ()
    site = LogSite("metric", "mse", Span(0, 0, 0, 1), 1)
    assert hash(site) == hash(LogSite("metric", "mse", Span(0, 0, 0, 1), 1))
