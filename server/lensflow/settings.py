"""Turns the wire `Settings` into a workspace: paths resolved, interpreter chosen."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lensflow_protocol.errors import Unsupported

if TYPE_CHECKING:
    from lensflow_protocol.settings import Settings

    from .workspaces.base import Workspace


@dataclass(frozen=True)
class ResolvedSettings:
    settings: Settings
    root: Path
    home: Path
    python: str


def resolve(settings: Settings, root: Path | None) -> ResolvedSettings:
    base = root or Path.cwd()
    home = Path(settings.home).expanduser() if settings.home else base / ".lensflow"
    if not home.is_absolute():
        home = base / home
    return ResolvedSettings(settings, base, home, default_python(settings, base))


def default_python(settings: Settings, root: Path) -> str:
    """The `python` setting, else the workspace's own .venv, else the server's interpreter."""
    if settings.python:
        return settings.python
    for candidate in (root / ".venv" / "bin" / "python", root / ".venv" / "Scripts" / "python.exe"):
        if candidate.exists():
            return str(candidate)
    return sys.executable


def has_store(resolved: ResolvedSettings) -> bool:
    """Whether the settings name a store with something to read already (a local file with
    MLflow's tables, or a tracking URI): its worker may start at `initialized`, before any
    file opens. Nothing is made to find out: a plain project gets no `.lensflow/`."""
    settings = resolved.settings
    if settings.workspace != "local":
        return False  # Azure ML: a sign-in, not a store of this machine's
    if settings.tracking_uri:
        return True
    from .workspaces.tracking.sqlite_tables import has_mlflow_tables

    db = resolved.home / "mlflow.db"
    return db.is_file() and has_mlflow_tables(db)


def make_workspace(resolved: ResolvedSettings) -> Workspace:
    kind = resolved.settings.workspace
    if kind == "local":
        # Imported here: the server must not pay for workspaces it does not use.
        from .workspaces.local import LocalWorkspace

        return LocalWorkspace(resolved.home, resolved.python, resolved.settings.tracking_uri)
    config = Path(kind).expanduser()
    if not config.is_absolute():
        config = resolved.root / config
    if config.suffix != ".json":
        raise Unsupported(
            f'Workspace {kind!r} is neither "local" nor the path of an Azure ML config.json.',
            workspace=kind,
        )
    from .workspaces.azureml import AzureMLWorkspace

    settings = resolved.settings
    return AzureMLWorkspace(
        config, resolved.python, auth=settings.azure_auth, azure_sdk=settings.azure_sdk
    )
