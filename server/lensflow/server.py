"""The typed language server: settings, the active workspace, and the owners of shared state.

It owns the open documents' facts (`documents`), each script's runs (`history`), the
workspace's services (`services`) and what other clients change on disk (`watcher`); features
reach them through it. It knows no feature: the server is assembled in `app`. Nothing heavy is
imported here: mlflow loads in the workspace's store worker on first use.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lensflow_protocol.errors import LensflowError
from lsprotocol import types
from pygls.lsp.server import LanguageServer

from . import __version__
from .documents import Documents
from .history import LOAD_LIMIT, RunHistory
from .lsp.jsonrpc import LensflowProtocol
from .lsp.utils import in_background, refresh_lenses
from .paths import uri_to_path
from .services import ServiceMonitor
from .store_watch import StoreWatcher
from .workspaces.tracking.uris import redacted

if TYPE_CHECKING:
    from lensflow_protocol.deployment import ListServicesResult
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
        self._workspace: Workspace | None = None
        # Every workspace made (a settings change makes a new one; a run in flight keeps the
        # old one): each is closed at shutdown, so that no store worker outlives the server.
        self._workspaces: list[Workspace] = []
        # Called after every workspace/didChangeConfiguration (diagnostics publish again).
        self.after_configuration: list[Callable[[], None]] = []
        self.documents = Documents(lambda: self.workspace)
        self.history = RunHistory(
            lambda script: self._script_runs(script, LOAD_LIMIT),
            load_latest=self._script_runs,
        )
        self.services = ServiceMonitor(
            self._list_services, self.protocol.notify, lambda: refresh_lenses(self)
        )
        self.watcher = StoreWatcher(self._watched_paths, self._changed_elsewhere)

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
            self._workspaces.append(self._workspace)
            log.info("workspace: %s", self._workspace.display_name)
        return self._workspace

    async def close_workspaces(self) -> None:
        """At shutdown: closes every workspace made (its store worker ends with it). Else the
        worker would outlive the server until it next read its stdin, seconds later if it was
        still importing mlflow, holding the server's stderr open: a client that waits for the
        server's pipes to close (pytest-lsp, an editor reading its log) waited with it."""
        made, self._workspaces, self._workspace = self._workspaces, [], None
        for workspace in made:
            try:
                await workspace.close()
            except Exception:  # one workspace's failure does not keep the others open
                log.exception("closing the workspace %s", workspace.display_name)

    def warm(self) -> None:
        """Get the workspace's slow parts going before the first command needs them."""
        try:
            workspace = self.active_workspace()
        except LensflowError:
            return  # the first command will say what is wrong
        in_background(workspace.warm())
        self.services.start()
        self.watcher.start()

    async def views_changed(self) -> None:
        """A command of this server changed what lenses show: they are asked for again, and
        the watcher knows the change is no other client's. Inlay hints are asked for again by
        `history` once a reload changes the values they show (a refresh before it would
        fetch the old ones)."""
        await refresh_lenses(self)
        self.watcher.adopt()

    def initial_settings(self, raw: Any) -> None:
        self._raw_settings = raw

    def apply_settings(self, raw: Any) -> bool:
        """Takes new settings from the client, if they are valid; True when they changed."""
        settings = self._validated(raw)
        if settings is None or settings == self.settings:
            return False
        self._settings = settings
        self._workspace = None  # a run in flight keeps the workspace it started with
        self.history.clear()
        shown = settings.model_dump(exclude_none=True)
        if settings.tracking_uri:
            shown["tracking_uri"] = redacted(settings.tracking_uri)
        log.info("settings: %s", shown)
        return True

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

    # --- what the owners read from the workspace -------------------------------------------
    async def _script_runs(self, script: str, limit: int) -> list[RunInfo]:
        from lensflow_protocol.tracking import ListRunsArgs

        listed = await self.active_workspace().list_runs(ListRunsArgs(script=script, limit=limit))
        return listed.runs

    async def _list_services(self) -> ListServicesResult:
        return await self.active_workspace().list_services(None)

    def _watched_paths(self) -> list[Path]:
        try:
            return self.active_workspace().watched_paths()
        except LensflowError:
            return []

    async def _changed_elsewhere(self) -> None:
        log.info("the store changed on disk (another client, or a checkpoint): views refreshed")
        self.history.clear()  # hints are asked for again once the reload changes their values
        await refresh_lenses(self)


@functools.cache
def _setting_keys() -> frozenset[str]:
    from lensflow_protocol.settings import Settings

    fields = Settings.model_fields
    return frozenset(fields) | {f.alias for f in fields.values() if f.alias}
