"""The store watcher tells writes from reads: SQLite's empty WAL, made when a connection opens
a store in WAL mode and deleted when the last one closes, is no change of the store."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from lensflow.store_watch import StoreWatcher, signature


def _store(tmp_path: Path) -> tuple[Path, Path]:
    db = tmp_path / "mlflow.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE runs (id INTEGER)")
        conn.commit()
    return db, db.with_name(db.name + "-wal")


def _watching(db: Path, wal: Path) -> tuple[StoreWatcher, list[None]]:
    """A watcher of the store, adopting its state now; the list its changes are noted in."""
    changes: list[None] = []

    async def changed() -> None:
        changes.append(None)

    watcher = StoreWatcher(lambda: [db, wal], changed)
    watcher.adopt()
    return watcher, changes


async def _reports(watcher: StoreWatcher) -> int:
    """How many of two looks (one to see a change, one to see it settled) reported one."""
    return sum([await watcher.look(), await watcher.look()])


def test_an_empty_file_counts_as_missing(tmp_path: Path) -> None:
    empty, missing, full = tmp_path / "empty", tmp_path / "missing", tmp_path / "full"
    empty.write_bytes(b"")
    full.write_bytes(b"x")
    found = signature([empty, missing, full, tmp_path])
    assert found[:2] == (None, None)
    assert found[2] is not None and found[2][2] == 1
    assert found[3] is not None  # a folder, whatever size its file system gives it


async def test_a_reader_opening_and_closing_the_store_is_no_change(tmp_path: Path) -> None:
    db, wal = _store(tmp_path)
    watcher, changes = _watching(db, wal)
    reader = sqlite3.connect(db)
    reader.execute("SELECT count(*) FROM runs").fetchone()
    assert wal.exists() and wal.stat().st_size == 0  # the WAL a read makes
    assert await _reports(watcher) == 0
    reader.close()
    assert not wal.exists()
    assert await _reports(watcher) == 0
    assert changes == []


async def test_a_write_is_a_change(tmp_path: Path) -> None:
    db, wal = _store(tmp_path)
    watcher, changes = _watching(db, wal)
    with contextlib.closing(sqlite3.connect(db)) as writer:
        writer.execute("INSERT INTO runs VALUES (1)")
        writer.commit()
        assert wal.stat().st_size > 0
        assert await _reports(watcher) == 1
    assert changes == [None]
