"""The store worker's early `list_runs` (stdlib sqlite3) against MLflow's own answer.

A real SQLite store is filled through MlflowClient with what MLflow's search rules treat
specially: several experiments (one deleted), deleted runs, runs of other scripts and of
none, a script path with a quote, a NaN metric, a metric logged at several steps, two runs
started in the same millisecond, a RUNNING run whose process is alive. For every question
the early reader must give exactly what `MlflowStore.list_runs` gives, or None (ask mlflow):
for an orphaned RUNNING run, an unknown experiment, a store it cannot read.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from lensflow.workspaces.tracking.mlflow_store import MlflowStore
from lensflow.workspaces.tracking.sqlite_runs import SqliteRuns, sqlite_path
from lensflow.workspaces.tracking.store_worker import Loader
from lensflow.workspaces.tracking.tags import PROCESS_TAG, SCRIPT_TAG
from lensflow_protocol.tracking import ListRunsResult

SCRIPT = "/work/project/train.py"
QUOTED = "/work/project/it's.py"
BASE_MS = 1_760_000_000_000


def _me() -> dict[str, Any]:
    """This process's PROCESS_TAG, as run_bootstrap writes it: a live process."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    return {
        "host": os.uname().nodename,
        "bootId": Path("/proc/sys/kernel/random/boot_id").read_text().strip(),
        "pidNs": os.readlink("/proc/self/ns/pid"),
        "pid": os.getpid(),
        "start": int(fields[19]),
    }


def _fill(uri: str) -> dict[str, str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    a = client.create_experiment("a")
    b = client.create_experiment("b")
    gone = client.create_experiment("gone")
    ids: dict[str, str] = {}

    def run(name: str, experiment: str, start: int, script: str | None, **kw: Any) -> str:
        tags = {SCRIPT_TAG: script} if script is not None else {}
        made = client.create_run(experiment, start_time=BASE_MS + start, tags=tags, run_name=name)
        run_id = str(made.info.run_id)
        for key, value in kw.get("params", {}).items():
            client.log_param(run_id, key, value)
        for key, values in kw.get("metrics", {}).items():
            for step, value in enumerate(values):
                client.log_metric(run_id, key, value, step=step, timestamp=BASE_MS + step)
        if kw.get("end", True):
            client.set_terminated(run_id, kw.get("status", "FINISHED"), BASE_MS + start + 500)
        ids[name] = run_id
        return run_id

    run("old", a, 0, SCRIPT, params={"alpha": "1.0"}, metrics={"mse": [4000.0]})
    run("steps", a, 1000, SCRIPT, params={"alpha": "0.5"}, metrics={"loss": [3.0, 2.0, 5.0]})
    run("nan", b, 2000, SCRIPT, metrics={"mse": [math.nan], "r2": [0.4]})
    run("tie-1", a, 3000, SCRIPT, params={"alpha": "0.1"})
    run("tie-2", b, 3000, SCRIPT, status="FAILED")
    run("other", a, 4000, "/work/project/other.py", metrics={"mse": [1.0]})
    run("none", b, 5000, None)
    run("quoted", a, 6000, QUOTED, params={"q": "it's"})
    live = run("live", b, 7000, SCRIPT, end=False)
    client.set_tag(live, PROCESS_TAG, json.dumps(_me()))
    client.delete_run(run("deleted", a, 8000, SCRIPT))
    run("in-gone", gone, 9000, SCRIPT)
    client.delete_experiment(gone)
    return ids


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    db = tmp_path_factory.mktemp("sqlite-runs") / "mlflow.db"
    uri = f"sqlite:///{db}"
    return uri, _fill(uri)


QUESTIONS = [
    (None, SCRIPT, 1000),
    (None, SCRIPT, 3),
    (None, None, 50),
    (None, QUOTED, 10),
    (None, "/nowhere.py", 10),
    ("a", SCRIPT, 1000),
    ("b", None, 2),
    ("gone", None, 10),  # a deleted experiment by name: MLflow still finds it, not its runs' stage
]


@pytest.mark.parametrize(("experiment", "script", "limit"), QUESTIONS)
def test_the_early_answer_is_mlflows(
    store: tuple[str, dict[str, str]], experiment: str | None, script: str | None, limit: int
) -> None:
    uri, _ = store
    early = SqliteRuns.for_uri(uri)
    assert early is not None
    ours = early.list_runs(experiment, script, limit)
    theirs = MlflowStore(uri).list_runs(experiment, script, limit)
    assert ours is not None
    # NaN != NaN: compare the wire JSON, where both are the same token
    assert json.dumps(ours.wire(), sort_keys=True) == json.dumps(theirs.wire(), sort_keys=True)


def test_what_mlflows_rules_give_here(store: tuple[str, dict[str, str]]) -> None:
    """Independent of MLflow's answer: the rules themselves, on this store."""
    uri, ids = store
    early = SqliteRuns.for_uri(uri)
    assert early is not None
    runs = early.list_runs(None, SCRIPT, 1000)
    assert runs is not None
    names = [r.run_name for r in runs.runs]
    # newest first; deleted run and deleted experiment left out; the tie by run id
    ties = sorted(["tie-1", "tie-2"], key=lambda n: ids[n])
    assert names == ["live", *ties, "nan", "steps", "old"]
    by_name = {r.run_name: r for r in runs.runs}
    assert by_name["steps"].metrics == {"loss": 5.0}  # the latest step's value
    assert math.isnan(by_name["nan"].metrics["mse"]) and by_name["nan"].metrics["r2"] == 0.4
    assert by_name["live"].status == "RUNNING" and by_name["live"].end_time is None
    assert by_name["old"].end_time == BASE_MS + 500 and by_name["old"].params == {"alpha": "1.0"}


def test_an_orphan_or_unknown_experiment_waits_for_mlflow(
    store: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    uri, ids = store
    copy = tmp_path / "mlflow.db"
    with sqlite3.connect(sqlite_path(uri)) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    dead = subprocess.Popen(["true"])
    dead.wait()
    tag = json.dumps({**_me(), "pid": dead.pid})
    with sqlite3.connect(copy) as conn:
        conn.execute(
            "UPDATE tags SET value = ? WHERE key = ? AND run_uuid = ?",
            (tag, PROCESS_TAG, ids["live"]),
        )
    early = SqliteRuns.for_uri(f"sqlite:///{copy}")
    assert early is not None
    assert early.list_runs(None, SCRIPT, 1000) is None  # the sweep closes it first
    assert early.list_runs(None, "/work/project/other.py", 10) is not None  # not among these
    assert early.list_runs("no such experiment", None, 10) is None


def test_only_a_local_store_with_tables(tmp_path: Path) -> None:
    assert SqliteRuns.for_uri("http://127.0.0.1:5000") is None
    assert SqliteRuns.for_uri("sqlite:///:memory:") is None
    assert SqliteRuns.for_uri(f"sqlite:///{tmp_path / 'absent.db'}") is None
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert SqliteRuns.for_uri(f"sqlite:///{empty}") is None
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:  # MLflow's marker table, not its schema
        conn.execute("CREATE TABLE alembic_version (version_num TEXT)")
    early = SqliteRuns.for_uri(f"sqlite:///{other}")
    assert early is not None and early.list_runs(None, None, 10) is None


class Gated(Loader):
    """mlflow's load held until the test opens the gate."""

    gate = threading.Event()

    def _load(self) -> None:
        self.gate.wait(60)
        super()._load()


def test_list_runs_answered_while_mlflow_loads_other_calls_wait(
    store: tuple[str, dict[str, str]],
) -> None:
    uri, _ = store
    loader = Gated(uri, None)
    ask = {"id": 7, "method": "list_runs", "args": [None, SCRIPT, 1000]}
    early = loader.answer(ask)  # answered with mlflow not loaded
    assert not loader.ready.is_set() and early["id"] == 7
    assert loader.answer({"id": 8, "method": "ping", "args": []}) == {"id": 8, "result": "pong"}

    replies: list[dict[str, Any]] = []
    waiting = threading.Thread(
        target=lambda: replies.append(loader.answer({"id": 9, "method": "list_experiments"}))
    )
    waiting.start()
    time.sleep(0.3)
    assert not replies, "a call sqlite3 cannot answer must wait for mlflow"
    Gated.gate.set()
    waiting.join(60)
    names = {e["name"] for e in replies[0]["result"]["experiments"]}
    assert names == {"Default", "a", "b"}
    late = loader.answer(ask)  # mlflow's own answer now
    assert json.dumps(late, sort_keys=True) == json.dumps(early, sort_keys=True)
    assert ListRunsResult.model_validate(early["result"]).runs


def test_the_worker_process_answers_the_same_before_and_after_mlflow(
    store: tuple[str, dict[str, str]],
) -> None:
    uri, _ = store
    worker = subprocess.Popen(
        [sys.executable, "-m", "lensflow.workspaces.tracking.store_worker", uri],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert worker.stdin is not None and worker.stdout is not None
    try:
        replies = []
        for call_id, method in enumerate(["list_runs", "list_experiments", "list_runs"]):
            args = [None, SCRIPT, 1000] if method == "list_runs" else []
            worker.stdin.write(json.dumps({"id": call_id, "method": method, "args": args}) + "\n")
            worker.stdin.flush()
            replies.append(json.loads(worker.stdout.readline()))
        assert [r["id"] for r in replies] == [0, 1, 2]
        assert json.dumps(replies[0]) == json.dumps({**replies[2], "id": 0})
        assert len(replies[0]["result"]["runs"]) == 6
    finally:
        worker.stdin.close()
        worker.wait(30)
