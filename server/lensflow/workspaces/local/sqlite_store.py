"""The local store's SQLite file, read with stdlib sqlite3 so mlflow never loads in the server:
WAL mode set once (whether MLflow has made its tables yet is `tracking.sqlite_tables`)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from lensflow_protocol.errors import StoreError

log = logging.getLogger(__name__)


def enable_wal(db: Path) -> None:
    """WAL lets the editor's queries read while a training child writes.

    The mode is kept in the database file, so setting it once, before mlflow creates its
    tables, is enough; stdlib sqlite3 does it without loading mlflow in the server.
    """
    try:
        with sqlite3.connect(db, timeout=10) as conn:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(
            f"{db} is not a usable SQLite database ({exc}). Move it aside to start afresh; "
            "Lensflow will not overwrite it.",
            path=str(db),
        ) from exc
    if str(mode).lower() != "wal":
        log.warning("%s stays in %s journal mode", db, mode)
