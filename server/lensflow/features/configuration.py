"""Settings from the client.

LSP methods: initialize (initializationOptions), workspace/didChangeConfiguration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from ..server import LensflowServer


def register(server: LensflowServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: LensflowServer, params: types.InitializeParams) -> None:
        ls.initial_settings(params.initialization_options)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(
        ls: LensflowServer, params: types.DidChangeConfigurationParams
    ) -> None:
        ls.apply_settings(params.settings)
        from .diagnostics import publish_all

        publish_all(ls)
