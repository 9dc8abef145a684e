"""MLflow's own tracking UI: start (or reuse) an `mlflow server` over the workspace's store and
answer the URL of a run's or an experiment's page; the server stops when the session does.

LSP methods: workspace/executeCommand (lensflow.openTrackingUi); `shutdown` (wired in
`tracking`) calls `stop_tracking_ui`.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

from lensflow_protocol import names

from .. import commands

if TYPE_CHECKING:
    from lensflow_protocol.insight import OpenTrackingUiArgs, OpenTrackingUiResult

    from ..server import LensflowServer
    from ..workspaces.insight.tracking_ui import TrackingUi

# One set of UI servers per language server; the domain module loads on first use only.
_UIS: weakref.WeakKeyDictionary[LensflowServer, TrackingUi] = weakref.WeakKeyDictionary()


def _uis(ls: LensflowServer) -> TrackingUi:
    if ls not in _UIS:
        from ..workspaces.insight.tracking_ui import TrackingUi

        _UIS[ls] = TrackingUi()
    return _UIS[ls]


async def stop_tracking_ui(ls: LensflowServer) -> None:
    """At shutdown: stop every `mlflow server` this session started, process trees included."""
    if (uis := _UIS.pop(ls, None)) is not None:
        await uis.close()


def register(server: LensflowServer) -> None:
    @commands.register(server, names.OPEN_TRACKING_UI)
    async def open_tracking_ui(
        ls: LensflowServer, args: OpenTrackingUiArgs
    ) -> OpenTrackingUiResult:
        return await _uis(ls).open(ls.active_workspace(), args)
