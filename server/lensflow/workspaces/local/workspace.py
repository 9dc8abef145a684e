"""The local workspace: an MLflow SQLite store (WAL) and artifact folder under `home`."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from lensflow_protocol.errors import StoreError
from lensflow_protocol.settings import WorkspaceInfo

from ..mlflow_workspace import MlflowWorkspace
from .serving import LocalServing

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
        super().__init__(tracking_uri, python, artifact_root=str(artifacts))

    @property
    def display_name(self) -> str:
        return f"local ({self.home})"

    def describe(self) -> WorkspaceInfo:
        # The project folder names a local workspace, unless `home` was moved elsewhere.
        name = self.home.parent.name if self.home.name == ".lensflow" else self.home.name
        return WorkspaceInfo(
            kind="local", name=name, home=str(self.home), tracking_uri=self.tracking_uri
        )
