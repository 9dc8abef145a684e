"""The control events `run_bootstrap.py` sends match their types in `tracking/events.py`.

The bootstrap runs in the user's interpreter and cannot import those types, so nothing but
these tests keeps the two sides in step: the real bootstrap is run on tiny scripts against a
temporary SQLite store and every event it sends is checked, key by key and value by value;
then its `_emit(...)` calls are read from its source, for the events a run did not reach.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
from lensflow.workspaces.tracking.events import SHAPES, EndedEvent, StartedEvent, mismatches, parse
from lensflow.workspaces.tracking.runner import BOOTSTRAP

TRAIN = """\
import mlflow
mlflow.log_param("alpha", 0.5)
mlflow.log_metric("rmse", 1.25)
mlflow.log_metric("epochs", 3)
with open("note.txt", "w") as note:
    note.write("hi")
mlflow.log_artifact("note.txt")
"""


def run_bootstrap(folder: Path, source: str, tracking_uri: str) -> list[dict[str, Any]]:
    """Every event the bootstrap sends for `source`, as the server's pipe receives them."""
    script = folder / "train.py"
    script.write_text(source)
    read_fd, write_fd = os.pipe()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLFLOW_", "LENSFLOW_"))}
    env |= {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "LENSFLOW_CONTROL_FD": str(write_fd),
        "LENSFLOW_EXPERIMENT_NAME": "events",
        "LENSFLOW_ARTIFACT_ROOT": str(folder.parent / "artifacts"),
        "LENSFLOW_SCRIPT": str(script),
    }
    with os.fdopen(read_fd, "rb") as control:
        try:
            done = subprocess.run(
                [sys.executable, "-u", str(BOOTSTRAP), str(script)],
                cwd=folder, env=env, pass_fds=(write_fd,), capture_output=True, timeout=240,
            )  # fmt: skip
        finally:
            os.close(write_fd)
        lines = control.read().splitlines()
    assert lines, f"no events; exit {done.returncode}:\n{done.stderr.decode()[-3000:]}"
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One SQLite store for the module: MLflow makes its tables once."""
    return tmp_path_factory.mktemp("store")


def assert_typed(events: list[dict[str, Any]]) -> None:
    for event in events:
        assert event.get("event") in SHAPES, event
        assert mismatches(event, SHAPES[event["event"]]) == [], event
        assert parse(json.dumps(event).encode()) == event  # and the runner takes it


@pytest.mark.slow
def test_a_finished_run_sends_started_then_ended_as_typed(store: Path, tmp_path: Path) -> None:
    events = run_bootstrap(tmp_path, TRAIN, f"sqlite:///{store / 'mlflow.db'}")
    assert [e["event"] for e in events] == ["started", "ended"]
    assert_typed(events)
    started = typing.cast(StartedEvent, events[0])
    ended = typing.cast(EndedEvent, events[1])
    assert started["experimentName"] == "events" and started["runId"]
    assert ended["status"] == "FINISHED" and ended["exitCode"] == 0
    assert ended["params"] == {"alpha": "0.5"}
    assert ended["metrics"] == {"rmse": 1.25, "epochs": 3.0}
    assert "note.txt" in ended["artifacts"] and "outputs/std_log.txt" in ended["artifacts"]


@pytest.mark.slow
def test_a_failed_script_ends_typed_with_its_exit_code(store: Path, tmp_path: Path) -> None:
    events = run_bootstrap(tmp_path, "raise SystemExit(2)\n", f"sqlite:///{store / 'mlflow.db'}")
    assert [e["event"] for e in events] == ["started", "ended"]
    assert_typed(events)
    assert events[1]["status"] == "FAILED" and events[1]["exitCode"] == 2


@pytest.mark.slow
def test_a_store_that_refuses_sends_a_typed_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")  # a folder the database cannot be made in
    events = run_bootstrap(tmp_path, TRAIN, f"sqlite:///{tmp_path / 'a-file' / 'no.db'}")
    assert [e["event"] for e in events] == ["error"]
    assert_typed(events)


def _emits() -> list[ast.Call]:
    tree = ast.parse(BOOTSTRAP.read_text(encoding="utf-8"))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_emit"
    ]
    assert calls, "run_bootstrap.py no longer sends events with _emit(control, kind, **fields)"
    return calls


def test_each_emit_in_the_source_sends_exactly_its_types_keys() -> None:
    kinds = set()
    for call in _emits():
        kind = call.args[1]
        assert isinstance(kind, ast.Constant) and kind.value in SHAPES, ast.unparse(call)
        kinds.add(kind.value)
        sent = {keyword.arg for keyword in call.keywords}
        assert None not in sent, f"fields the check cannot see: {ast.unparse(call)}"
        expected = set(typing.get_type_hints(SHAPES[kind.value])) - {"event"}
        assert sent == expected, ast.unparse(call)
    assert kinds == set(SHAPES)  # no event type that the bootstrap never sends


@pytest.mark.parametrize(
    ("event", "problem"),
    [
        ({"event": "started", "runId": "r", "experimentId": "1", "experimentName": "e"},
         "missing 'artifactUri'"),
        ({"event": "error", "message": "m", "extra": 1}, "unknown 'extra'"),
        ({"event": "error", "message": 5}, "'message' is 5"),
        ({"event": "ended", "status": "DONE", "exitCode": 0, "params": {}, "metrics": {},
          "artifacts": []}, "'status' is 'DONE'"),
        ({"event": "ended", "status": "FAILED", "exitCode": True, "params": {}, "metrics": {},
          "artifacts": []}, "'exitCode' is True"),
        ({"event": "ended", "status": "FAILED", "exitCode": 1, "params": {"a": 1},
          "metrics": {}, "artifacts": []}, "'params'"),
        ({"event": "ended", "status": "FAILED", "exitCode": 1, "params": {},
          "metrics": {"m": "x"}, "artifacts": [3]}, "'artifacts'"),
    ],
)  # fmt: skip
def test_the_check_catches_what_strays(event: dict[str, Any], problem: str) -> None:
    found = mismatches(event, SHAPES[event["event"]])
    assert any(problem in p for p in found), found


def test_parse_takes_known_events_and_skips_the_rest() -> None:
    assert parse(b'{"event": "error", "message": "m"}') == {"event": "error", "message": "m"}
    assert parse(b"not json") is None
    assert parse(b'["event"]') is None
    assert parse(b'{"event": "later"}') is None
    assert parse(b'{"event": ["started"]}') is None
