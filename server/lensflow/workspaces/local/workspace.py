"""The local workspace: an MLflow SQLite store (WAL) and artifact folder under `home`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from lensflow_protocol.errors import StoreError
from lensflow_protocol.settings import WorkspaceInfo

from ..tracking.mlflow_workspace import MlflowWorkspace
from ..tracking.uris import is_server_uri
from .serving import LocalServing

if TYPE_CHECKING:
    from lensflow_protocol.tracking import TrackRunResult

    from ..base import RunEvents, TrackRequest

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


def has_mlflow_tables(db: Path) -> bool:
    """Whether MLflow has made its tables in `db` (stdlib sqlite3: no mlflow in the server)."""
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'"
    try:
        with contextlib.closing(sqlite3.connect(db, timeout=10)) as conn:
            return conn.execute(query).fetchone() is not None
    except sqlite3.DatabaseError:
        return True  # damaged: the run itself says what is wrong


class LocalWorkspace(LocalServing, MlflowWorkspace):
    kind = "local"

    def __init__(self, home: Path, python: str, tracking_uri: str | None = None) -> None:
        self.home = home
        artifacts = home / "artifacts"
        try:
            artifacts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the state folder {home}: {exc}", path=str(home)
            ) from exc
        if tracking_uri is None:
            self.db = home / "mlflow.db"
            enable_wal(self.db)
            # Four slashes: an absolute path, so `mlflow ui` and children agree on the file.
            tracking_uri = f"sqlite:///{self.db}"
        # A tracking server (http://…) keeps artifacts where it is configured to, for the whole
        # team; only a store this machine writes itself gets the local artifact folder.
        artifact_root = None if is_server_uri(tracking_uri) else str(artifacts)
        super().__init__(tracking_uri, python, artifact_root=artifact_root)

    @property
    def display_name(self) -> str:
        return f"local ({self.home})"

    async def track_run(
        self, request: TrackRequest, events: RunEvents, cancel: asyncio.Event
    ) -> TrackRunResult:
        db = getattr(self, "db", None)
        if db is not None and not await asyncio.to_thread(has_mlflow_tables, db):
            # Runs started together on a new store would each create MLflow's tables and trip
            # over one another ("duplicate column name"): the store worker makes them, once.
            await self.store.list_experiments()
        return await super().track_run(request, events, cancel)

    def describe(self) -> WorkspaceInfo:
        # The project folder names a local workspace, unless `home` was moved elsewhere.
        name = self.home.parent.name if self.home.name == ".lensflow" else self.home.name
        return WorkspaceInfo(
            kind="local", name=name, home=str(self.home), tracking_uri=self.tracking_uri
        )
