"""The typed language server: settings, the active workspace, and per-document analyses.

Features live in `lensflow.features`, one concern per module, each wired in by `register()`.
Nothing heavy is imported here: mlflow loads in the workspace's store thread on first use.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lensflow_protocol.errors import LensflowError
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import __version__
from .analysis import AnalysisCache, ScriptFacts
from .commands import LensflowProtocol
from .history import LOAD_LIMIT, RunHistory
from .paths import uri_to_path
from .workspaces.tracking.uris import redacted

if TYPE_CHECKING:
    from lensflow_protocol.deployment import ServiceInfo
    from lensflow_protocol.settings import Settings
    from lensflow_protocol.tracking import RunInfo

    from .settings import ResolvedSettings
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
        # Validated on first use: pydantic stays off the path to the `initialize` reply.
        self._raw_settings: Any = None
        self._settings: Settings | None = None
        self.analyses = AnalysisCache()
        # Newest run per script path, for lenses; None = asked, and there is none.
        self.last_runs: dict[str, RunInfo | None] = {}
        # Each script's runs for hovers and inlay hints, reloaded when a run of it ends.
        self.history = RunHistory(self._script_runs)
        self._workspace: Workspace | None = None
        # cancel event -> task of each trackRun in flight, so shutdown can end them cleanly.
        self.runs_in_flight: dict[asyncio.Event, asyncio.Task[Any]] = {}
        # Last reported state per service, so each change is sent once.
        self.service_states: dict[str, str] = {}
        # The workspace's services as last seen by the monitor: lenses read this, cheaply.
        self.services: dict[str, ServiceInfo] = {}
        self._monitor: asyncio.Task[None] | None = None
        self.cleanups_in_flight = 0

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
    def settings(self) -> Settings:
        if self._settings is None:
            from lensflow_protocol.settings import Settings

            self._settings = self._validated(self._raw_settings) or Settings()
        return self._settings

    @property
    def resolved(self) -> ResolvedSettings:
        from .settings import resolve

        return resolve(self.settings, self.root)

    def active_workspace(self) -> Workspace:
        """The workspace the settings name, made on first use; raises a LensflowError."""
        if self._workspace is None:
            from .settings import make_workspace

            self._workspace = make_workspace(self.resolved)
            log.info("workspace: %s", self._workspace.display_name)
        return self._workspace

    def start_monitor(self) -> None:
        """Watch services for crashes and recoveries, from the first deployment command on."""
        if self._monitor is None or self._monitor.done():
            from .features.deployment import monitor_services

            self._monitor = asyncio.ensure_future(monitor_services(self))

    def warm(self) -> None:
        """Get the workspace's slow parts going before the first command needs them."""
        try:
            workspace = self.active_workspace()
        except LensflowError:
            return  # the first command will say what is wrong
        task = asyncio.ensure_future(workspace.warm())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self.start_monitor()

    def _validated(self, raw: Any) -> Settings | None:
        """Settings from a client's payload; invalid ones are refused whole, and said so."""
        from lensflow_protocol.settings import Settings

        if isinstance(raw, dict) and isinstance(raw.get("lensflow"), dict):
            raw = raw["lensflow"]
        elif isinstance(raw, dict) and not raw.keys() & _setting_keys():
            # `{}` (eglot sends it on connecting) or other tools' sections: nothing for us,
            # so the settings from initializationOptions stay.
            return None
        if raw is None:
            return None
        try:
            return Settings.model_validate(raw)
        except Exception as exc:  # pydantic's ValidationError, or a non-dict
            self.window_show_message(
                types.ShowMessageParams(
                    type=types.MessageType.Error,
                    message=f"Lensflow ignored invalid settings: {exc}",
                )
            )
            return None

    def initial_settings(self, raw: Any) -> None:
        self._raw_settings = raw

    def apply_settings(self, raw: Any) -> bool:
        """Takes new settings from the client, if they are valid; True when they changed."""
        settings = self._validated(raw)
        if settings is None or settings == self.settings:
            return False
        self._settings = settings
        self._workspace = None  # a run in flight keeps the workspace it started with
        self.last_runs.clear()
        self.history.clear()
        shown = settings.model_dump(exclude_none=True)
        if settings.tracking_uri:
            shown["tracking_uri"] = redacted(settings.tracking_uri)
        log.info("settings: %s", shown)
        return True

    # --- documents -----------------------------------------------------------------------
    def facts(self, uri: str) -> ScriptFacts | None:
        """The syntax facts of an open Python document, one parse per version."""
        if not uri.endswith(".py"):
            return None
        doc = self.workspace.get_text_document(uri)
        return self.analyses.get(uri, doc.version, doc.source)

    def forget_runs(self, script: str | None = None) -> None:
        """Drop cached runs of one script (both views of it), or of all scripts."""
        if script is None:
            self.last_runs.clear()
        else:
            for key in (script, f"{script}\0finished"):
                self.last_runs.pop(key, None)

    async def _script_runs(self, script: str) -> list[RunInfo]:
        from lensflow_protocol.tracking import ListRunsArgs

        listed = await self.active_workspace().list_runs(
            ListRunsArgs(script=script, limit=LOAD_LIMIT)
        )
        return listed.runs

    def script_key(self, uri: str) -> str | None:
        try:
            return str(uri_to_path(uri).resolve())
        except LensflowError:
            return None


def build_server() -> LensflowServer:
    from .features import (
        code_actions,
        compare,
        configuration,
        deployment,
        diagnostics,
        hover,
        inlay_hints,
        lenses,
        notebooks,
        tracking,
        tracking_ui,
    )

    server = LensflowServer()
    for feature in (
        configuration,
        tracking,
        deployment,
        lenses,
        code_actions,
        diagnostics,
        hover,
        inlay_hints,
        compare,
        notebooks,
        tracking_ui,
    ):
        feature.register(server)
    return server


@functools.cache
def _setting_keys() -> frozenset[str]:
    from lensflow_protocol.settings import Settings

    fields = Settings.model_fields
    return frozenset(fields) | {f.alias for f in fields.values() if f.alias}
