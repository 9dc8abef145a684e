"""Assembles the server: the one place that knows every feature.

Each feature is made with the server and installed (its named handlers handed to pygls); at
the client's `shutdown`, each is asked to end what it started, runs first, so every run is
recorded KILLED rather than left RUNNING.

LSP method: shutdown.
"""

from __future__ import annotations

from lsprotocol import types

from .features.code_actions import CodeActions
from .features.compare import Compare
from .features.configuration import Configuration
from .features.deployment import Deployment
from .features.diagnostics import Diagnostics
from .features.hover import Hover
from .features.inlay_hints import InlayHints
from .features.lenses import Lenses
from .features.notebooks import Notebooks
from .features.tracking import Tracking
from .features.tracking_ui import TrackingUi
from .lsp.feature import Feature, install, on
from .server import LensflowServer

FEATURES: tuple[type[Feature], ...] = (
    Configuration,
    Tracking,
    Deployment,
    Lenses,
    CodeActions,
    Diagnostics,
    Hover,
    InlayHints,
    Compare,
    Notebooks,
    TrackingUi,
)


class Lifecycle(Feature):
    """Ends the features' work at `shutdown`: runs first, so each is recorded KILLED before
    the requests waiting on them are cut, then every other feature in the order made."""

    def __init__(self, server: LensflowServer, features: list[Feature]) -> None:
        super().__init__(server)
        self.features = features

    @on(types.SHUTDOWN)
    async def shutdown_all(self, params: None) -> None:
        runs: list[Feature] = [f for f in self.features if isinstance(f, Tracking)]
        for feature in runs:
            await feature.shutdown()
        self.server.protocol.cancel_pending_requests()
        for other in self.features:
            if other not in runs:
                await other.shutdown()
        await self.server.services.stop()
        await self.server.watcher.stop()
        self.server.documents.collector.close()
        await self.server.close_workspaces()


def build_server() -> LensflowServer:
    server = LensflowServer()
    features = [make(server) for make in FEATURES]
    for feature in [*features, Lifecycle(server, features)]:
        install(server, feature)
    return server
