"""Settings from the client, and which workspace they select.

LSP methods: initialize (initializationOptions), initialized (a store's worker starts),
workspace/didChangeConfiguration,
workspace/executeCommand `lensflow.getWorkspace`; sends `lensflow/workspaceChanged`.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lensflow_protocol import names
from lensflow_protocol.errors import LensflowError
from lsprotocol import types

from ..lsp.feature import Feature, command, on

if TYPE_CHECKING:
    from lensflow_protocol.settings import GetWorkspaceArgs, WorkspaceInfo

log = logging.getLogger(__name__)


class Configuration(Feature):
    @on(types.INITIALIZE)
    def initialize(self, params: types.InitializeParams) -> None:
        self.server.initial_settings(params.initialization_options)

    @on(types.INITIALIZED)
    async def initialized(self, params: types.InitializedParams) -> None:
        """A workspace with a store starts its worker now, not when the first script opens:
        mlflow's import takes seconds, and the first hover should find history."""
        from ..settings import has_store

        # a look into the SQLite file (which a writer may hold): not on the event loop
        if await asyncio.to_thread(has_store, self.server.resolved):
            self.server.warm()

    @on(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(self, params: types.DidChangeConfigurationParams) -> None:
        if self.server.apply_settings(params.settings):
            self.announce_workspace()
        for listener in self.server.after_configuration:
            listener()

    @command(names.GET_WORKSPACE)
    async def get_workspace(self, args: GetWorkspaceArgs) -> WorkspaceInfo:
        return self.server.active_workspace().describe()

    def announce_workspace(self) -> None:
        """Tells the client the settings now select another workspace (a status bar listens)."""
        try:
            info = self.server.active_workspace().describe()
        except LensflowError as exc:
            log.info("no workspace to announce: %s", exc.message)  # the next command says why
            return
        self.server.protocol.notify(names.WORKSPACE_CHANGED, info.wire())
