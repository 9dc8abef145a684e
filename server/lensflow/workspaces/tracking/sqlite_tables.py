"""Whether MLflow has made its tables in a SQLite store, read with stdlib sqlite3: the editor's
server asks before a first run, the store worker before making them (mlflow loads in neither
for the question)."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path


def has_mlflow_tables(db: Path) -> bool:
    """Whether MLflow has made its tables in `db` (stdlib sqlite3: no mlflow in the server)."""
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
            return conn.execute(query).fetchone() is not None
    except sqlite3.DatabaseError:
        return True  # damaged: the run itself says what is wrong
