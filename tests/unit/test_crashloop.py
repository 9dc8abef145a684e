"""The crash loop's count and back-off, as the launcher records them in a service's folder."""

from __future__ import annotations

from pathlib import Path

from lensflow import crashloop
from lensflow.crashloop import backing_off, next_launch, served

T0 = 1_800_000_000.0  # 2027-01-15 08:00:00 UTC


def runs_at(folder: Path) -> float:
    launch = crashloop.read(folder)
    assert launch is not None
    return launch.runs_at


def test_the_back_off_doubles_from_1_s_up_to_5_min_after_an_immediate_first_restart() -> None:
    assert [crashloop.delay(n) for n in range(12)] == [
        0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 300,
    ]  # fmt: skip
    assert crashloop.delay(60) == 300


def test_each_restart_counts_a_crash_until_a_run_lasts_10_min(tmp_path: Path) -> None:
    first = next_launch(tmp_path, T0)
    assert (first.launch, first.crashes, first.delay) == (1, 0, 0)
    seen = []
    for _ in range(4):  # each run dies 3 s after its back-off ends
        launch = next_launch(tmp_path, runs_at(tmp_path) + 3)
        seen.append((launch.launch, launch.crashes, launch.delay))
    assert seen == [(2, 1, 0), (3, 2, 1), (4, 3, 2), (5, 4, 4)]
    ran_10_min = next_launch(tmp_path, runs_at(tmp_path) + 600)
    assert (ran_10_min.crashes, ran_10_min.delay) == (1, 0)  # forgotten: at once again


def test_a_cut_short_file_counts_afresh(tmp_path: Path) -> None:
    (tmp_path / crashloop.FILE).write_text('{"launch": 3, "cra')
    assert crashloop.read(tmp_path) is None
    assert next_launch(tmp_path, T0).crashes == 0


def test_backing_off_from_the_second_crash_until_the_launch_answers(tmp_path: Path) -> None:
    next_launch(tmp_path, T0)
    next_launch(tmp_path, T0 + 5)  # the first crash: restarted at once, a plain outage
    assert backing_off(tmp_path, "svc", T0 + 5) is None
    next_launch(tmp_path, T0 + 10)
    why = backing_off(tmp_path, "svc", T0 + 10)
    assert why is not None and why.startswith("Service svc crashed 2 times in a row")
    assert "restarts at 08:00:11 UTC, after a back-off of 1 s" in why
    assert backing_off(tmp_path, "svc", T0 + 10.9) == why  # the same words until a new crash
    served(tmp_path)  # its /ping answered: a later silence of this launch is Unhealthy
    assert backing_off(tmp_path, "svc", T0 + 12) is None
    next_launch(tmp_path, T0 + 20)
    assert "crashed 3 times" in (backing_off(tmp_path, "svc", T0 + 20) or "")
    assert backing_off(tmp_path, "svc", T0 + 22 + 600) is None  # running 10 min: no loop
