"""`list_runs` on a local SQLite store with stdlib sqlite3, while the worker still imports mlflow.

Importing mlflow and opening its SQLAlchemy store takes seconds; an editor's first hover wants
a script's runs sooner. This answers exactly what `MlflowStore.list_runs` would, by MLflow's
own search rules (SqlAlchemyStore `_search_runs`): active experiments (the newest 1,000, as
`search_experiments` pages them) or the one named; active runs; the script's tag compared
exactly; newest `start_time` first, then run id; a run's latest metrics (NaN kept as NaN).

It answers only when sure: any doubt returns None and the call waits for mlflow. That is the
case for a schema it does not know, a locked or damaged file, and a RUNNING run whose process
is gone: mlflow's orphan sweep closes it first, and a reader should not show it running.
"""

from __future__ import annotations

import contextlib
import logging
import math
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from lensflow_protocol.tracking import ListRunsResult, RunInfo

from .orphans import process_gone
from .sqlite_tables import has_mlflow_tables
from .tags import PROCESS_TAG, SCRIPT_TAG

log = logging.getLogger(__name__)
EXPERIMENTS_PAGE = 1000  # MlflowClient.search_experiments' default page
_BUSY_S = 2.0  # a writer holding the file this long: let mlflow wait for it instead


def sqlite_path(tracking_uri: str) -> Path | None:
    """The file of a `sqlite:///` store (None for any other URI or an in-memory one)."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    path = tracking_uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


class SqliteRuns:
    """Reads one SQLite store's runs; `list_runs` returns None when mlflow should answer."""

    def __init__(self, db: Path) -> None:
        self.db = db

    @classmethod
    def for_uri(cls, tracking_uri: str) -> SqliteRuns | None:
        db = sqlite_path(tracking_uri)
        if db is None or not db.is_file() or not has_mlflow_tables(db):
            return None
        return cls(db)

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(f"{self.db.resolve().as_uri()}?mode=ro", uri=True, timeout=_BUSY_S)
        try:
            conn.execute("BEGIN")  # one snapshot for every query below
            yield conn
        finally:
            conn.close()

    def list_runs(
        self, experiment_name: str | None, script: str | None, limit: int
    ) -> ListRunsResult | None:
        try:
            with self._read() as conn:
                return self._list_runs(conn, experiment_name, script, limit)
        except sqlite3.Error as exc:  # locked, damaged, another schema: mlflow will say
            log.info("sqlite3 could not list runs (%s); waiting for mlflow", exc)
            return None

    def _list_runs(
        self, conn: sqlite3.Connection, experiment_name: str | None, script: str | None, limit: int
    ) -> ListRunsResult | None:
        if experiment_name is not None:
            found = conn.execute(
                "SELECT experiment_id FROM experiments WHERE name = ?", (experiment_name,)
            ).fetchall()
            if not found:
                return None  # mlflow says NotFound, in its own words
            ids = [found[0][0]]
        else:
            rows = conn.execute(
                "SELECT experiment_id FROM experiments WHERE lifecycle_stage = 'active' "
                "ORDER BY creation_time DESC, experiment_id ASC LIMIT ?",
                (EXPERIMENTS_PAGE + 1,),
            ).fetchall()
            if len(rows) > EXPERIMENTS_PAGE:
                return None  # mlflow's page of experiments: its rule, not worth copying
            ids = [row[0] for row in rows]
        if not ids:
            return ListRunsResult(runs=[])
        marks = ",".join("?" * len(ids))
        query = (
            "SELECT run_uuid, experiment_id, name, status, start_time, end_time FROM runs "
            f"WHERE experiment_id IN ({marks}) AND lifecycle_stage = 'active'"
        )
        args: list[object] = list(ids)
        if script is not None:
            query += " AND run_uuid IN (SELECT run_uuid FROM tags WHERE key = ? AND value = ?)"
            args += [SCRIPT_TAG, script]
        query += " ORDER BY start_time DESC, run_uuid ASC LIMIT ?"
        runs = conn.execute(query, [*args, limit]).fetchall()
        return _with_data(conn, runs)


def _with_data(conn: sqlite3.Connection, runs: list[Any]) -> ListRunsResult | None:
    """The runs with their script, params and latest metrics (as `mlflow_store._run_info`)."""
    ids = [row[0] for row in runs]
    tags = _by_run(conn, "SELECT run_uuid, key, value FROM tags", ids)
    params = _by_run(conn, "SELECT run_uuid, key, value FROM params", ids)
    metrics = _by_run(conn, "SELECT run_uuid, key, value, is_nan FROM latest_metrics", ids)
    out = []
    for run_id, experiment_id, name, status, start, end in runs:
        run_tags = {key: value for key, value, *_ in tags.get(run_id, [])}
        if status == "RUNNING" and process_gone(run_tags.get(PROCESS_TAG)):
            return None  # an orphan mlflow's sweep closes first
        out.append(
            RunInfo(
                run_id=run_id,
                experiment_id=str(experiment_id),
                run_name=name,
                status=status,
                start_time=start,
                end_time=end,
                script=run_tags.get(SCRIPT_TAG),
                params={key: value for key, value, *_ in params.get(run_id, [])},
                metrics={
                    key: math.nan if is_nan else float(value)
                    for key, value, is_nan in metrics.get(run_id, [])
                },
            )
        )
    return ListRunsResult(runs=out)


def _by_run(conn: sqlite3.Connection, select: str, ids: list[str]) -> dict[str, list[Any]]:
    """Rows of a per-run table for these runs, by run id (in chunks: SQLite caps parameters)."""
    found: dict[str, list[Any]] = {}
    for start in range(0, len(ids), 500):
        part = ids[start : start + 500]
        marks = ",".join("?" * len(part))
        for run_id, *rest in conn.execute(f"{select} WHERE run_uuid IN ({marks})", part):
            found.setdefault(run_id, []).append(rest)
    return found
