"""Settings from the client, and which workspace they select.

LSP methods: initialize (initializationOptions), workspace/didChangeConfiguration,
workspace/executeCommand `lensflow.getWorkspace`; sends `lensflow/workspaceChanged`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lensflow_protocol import names
from lensflow_protocol.errors import LensflowError
from lsprotocol import types

from .. import commands

if TYPE_CHECKING:
    from lensflow_protocol.settings import GetWorkspaceArgs, WorkspaceInfo

    from ..server import LensflowServer

log = logging.getLogger(__name__)


def register(server: LensflowServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: LensflowServer, params: types.InitializeParams) -> None:
        ls.initial_settings(params.initialization_options)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: LensflowServer, params: types.DidChangeConfigurationParams
    ) -> None:
        if ls.apply_settings(params.settings):
            announce_workspace(ls)
        from .diagnostics import publish_all

        publish_all(ls)

    @commands.register(server, names.GET_WORKSPACE)
    async def get_workspace(ls: LensflowServer, args: GetWorkspaceArgs) -> WorkspaceInfo:
        return ls.active_workspace().describe()


def announce_workspace(ls: LensflowServer) -> None:
    """Tells the client the settings now select another workspace (a status bar listens)."""
    try:
        info = ls.active_workspace().describe()
    except LensflowError as exc:
        log.info("no workspace to announce: %s", exc.message)  # the next command says why
        return
    ls.protocol.notify(names.WORKSPACE_CHANGED, info.wire())
