"""MLflow's own tracking UI: start (or reuse) an `mlflow server` over the workspace's store and
answer the URL of a run's or an experiment's page; the servers stop when the session does.

LSP methods: workspace/executeCommand (lensflow.openTrackingUi); at `shutdown`, every
`mlflow server` this session started stops, process trees included.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensflow_protocol import names

from ..lsp.feature import Feature, command

if TYPE_CHECKING:
    from lensflow_protocol.insight import OpenTrackingUiArgs, OpenTrackingUiResult

    from ..server import LensflowServer
    from ..workspaces.insight.tracking_ui import TrackingUi as UiServers


class TrackingUi(Feature):
    def __init__(self, server: LensflowServer) -> None:
        super().__init__(server)
        self._uis: UiServers | None = None  # the domain module loads on first use only

    @command(names.OPEN_TRACKING_UI)
    async def open_tracking_ui(self, args: OpenTrackingUiArgs) -> OpenTrackingUiResult:
        if self._uis is None:
            from ..workspaces.insight.tracking_ui import TrackingUi as UiServers

            self._uis = UiServers()
        return await self._uis.open(self.server.active_workspace(), args)

    async def shutdown(self) -> None:
        uis, self._uis = self._uis, None
        if uis is not None:
            await uis.close()
