"""The typed language server: settings, the active workspace, and per-document analyses.

Features live in `lensflow.features`, one concern per module, each wired in by `register()`.
Nothing heavy is imported here: mlflow loads in the workspace's store thread on first use.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from lensflow_protocol.errors import LensflowError
from lensflow_protocol.settings import Settings
from lensflow_protocol.tracking import RunInfo
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import __version__
from .analysis import AnalysisCache, ScriptFacts
from .commands import LensflowProtocol
from .paths import uri_to_path
from .settings import ResolvedSettings, make_workspace, resolve
from .workspaces.base import Workspace

log = logging.getLogger(__name__)


class LensflowServer(LanguageServer):
    protocol: LensflowProtocol

    def __init__(self) -> None:
        super().__init__(
            "lensflow",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=LensflowProtocol,
        )
        self.settings = Settings()
        self.analyses = AnalysisCache()
        # Newest run per script path, for lenses; None = asked, and there is none.
        self.last_runs: dict[str, RunInfo | None] = {}
        self._workspace: Workspace | None = None
        # cancel event -> task of each trackRun in flight, so shutdown can end them cleanly.
        self.runs_in_flight: dict[asyncio.Event, asyncio.Task[Any]] = {}

    # --- settings and workspace ----------------------------------------------------------
    @property
    def root(self) -> Path:
        folders = self.workspace.folders if self.protocol.client_capabilities else {}
        for folder in folders.values():
            return uri_to_path(folder.uri)
        if self.workspace.root_path:
            return Path(self.workspace.root_path)
        return Path.cwd()

    @property
    def resolved(self) -> ResolvedSettings:
        return resolve(self.settings, self.root)

    def active_workspace(self) -> Workspace:
        """The workspace the settings name, made on first use; raises a LensflowError."""
        if self._workspace is None:
            self._workspace = make_workspace(self.resolved)
            log.info("workspace: %s", self._workspace.display_name)
        return self._workspace

    def apply_settings(self, raw: Any) -> None:
        """Takes new settings; invalid ones are refused whole, with a message the user sees."""
        if isinstance(raw, dict) and isinstance(raw.get("lensflow"), dict):
            raw = raw["lensflow"]
        if raw is None:
            return
        try:
            settings = Settings.model_validate(raw)
        except Exception as exc:  # pydantic's ValidationError, or a non-dict
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Error,
                    message=f"Lensflow ignored invalid settings: {exc}",
                )
            )
            return
        if settings != self.settings:
            self.settings = settings
            self._workspace = None  # a run in flight keeps the workspace it started with
            self.last_runs.clear()
            log.info("settings: %s", settings.model_dump(exclude_none=True))

    # --- documents -----------------------------------------------------------------------
    def facts(self, uri: str) -> ScriptFacts | None:
        """The syntax facts of an open Python document, one parse per version."""
        if not uri.endswith(".py"):
            return None
        doc = self.workspace.get_text_document(uri)
        return self.analyses.get(uri, doc.version, doc.source)

    def script_key(self, uri: str) -> str | None:
        try:
            return str(uri_to_path(uri).resolve())
        except LensflowError:
            return None


def build_server() -> LensflowServer:
    from .features import code_actions, configuration, diagnostics, lenses, tracking

    server = LensflowServer()
    for feature in (configuration, tracking, lenses, code_actions, diagnostics):
        feature.register(server)
    return server
