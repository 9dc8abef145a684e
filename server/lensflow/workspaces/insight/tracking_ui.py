"""MLflow's own tracking UI over a workspace's store: which page to open, and one `mlflow server`
per store, started on first use and reused until `close()`.

Knows nothing of LSP; the server process itself is `ui_server`'s concern.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lensflow_protocol.errors import Conflict, NotFound, Unsupported
from lensflow_protocol.insight import OpenTrackingUiArgs, OpenTrackingUiResult
from lensflow_protocol.tracking import ListRunsArgs

from ..local import LocalWorkspace
from ..tracking.uris import is_server_uri
from . import ui_server

if TYPE_CHECKING:
    from ..base import Workspace

log = logging.getLogger(__name__)
STUDIO = "https://ml.azure.com"
MODEL_TRAINING = "workflowType=machine_learning"


def page_url(
    server_url: str, experiment_id: str | None, run_id: str | None, view: str | None = None
) -> str:
    """MLflow 3's routes: an experiment's training runs (in a shared `view`, if given), one
    run, or the experiments list; in the UI's model-training mode, which it otherwise takes
    from the browser (GenAI at first), not from the experiment's kind."""
    query = f"?{MODEL_TRAINING}" + (f"&viewStateShareKey={view}" if view else "")
    if experiment_id is None:
        return f"{server_url}/#/experiments{query}"
    if run_id is None:
        return f"{server_url}/#/experiments/{experiment_id}/runs{query}"
    return f"{server_url}/#/experiments/{experiment_id}/runs/{run_id}{query}"


async def page_of(workspace: Workspace, args: OpenTrackingUiArgs) -> tuple[str | None, str | None]:
    """(experiment id, run id) of the page to open: the run named, else the experiment named,
    else the experiment of the latest run; (None, None) when the store holds no run yet."""
    if args.run_id is not None:
        try:
            run = await workspace.get_run(args.run_id)
        except NotFound:
            raise NotFound(
                f"No run has the id {args.run_id!r}; lensflow.listRuns lists the runs there are.",
                runId=args.run_id,
            ) from None
        if args.experiment_name is not None and args.experiment_name != run.experiment_name:
            raise Conflict(
                f"Run {args.run_id} belongs to experiment {run.experiment_name!r}, not "
                f"{args.experiment_name!r}; give only the run id.",
                runId=args.run_id,
                experimentName=run.experiment_name,
            )
        return run.experiment_id, run.run_id
    if args.experiment_name is not None:
        for experiment in (await workspace.list_experiments()).experiments:
            if experiment.name == args.experiment_name:
                return experiment.experiment_id, None
        raise NotFound(
            f"No experiment is named {args.experiment_name!r}; lensflow.listExperiments lists "
            "them (a script's runs go to its mlflow.set_experiment(...) name, else its stem).",
            experimentName=args.experiment_name,
        )
    latest = (await workspace.list_runs(ListRunsArgs(limit=1))).runs
    return (latest[0].experiment_id, None) if latest else (None, None)


class TrackingUi:
    """The `mlflow server`s this editor session started, one per tracking store."""

    def __init__(self) -> None:
        self._servers: dict[str, ui_server.UiServer] = {}
        self._lock = asyncio.Lock()  # two clicks at once must not start two servers

    async def open(self, workspace: Workspace, args: OpenTrackingUiArgs) -> OpenTrackingUiResult:
        if not isinstance(workspace, LocalWorkspace):
            raise Unsupported(
                f"The {workspace.kind} workspace's runs live in Azure ML, not in a store "
                f"Lensflow can serve MLflow's UI over: open Azure ML studio ({STUDIO}), choose "
                "the workspace, then Jobs, to see its experiments and runs.",
                workspace=workspace.kind,
                studioUrl=STUDIO,
            )
        # The page first: a wrong run id is answered before any server starts.
        experiment_id, run_id = await page_of(workspace, args)
        view = None
        if experiment_id is not None and run_id is None:
            view = await workspace.store.share_runs_view(experiment_id)
        server_url, reused = await self._server_for(workspace)
        return OpenTrackingUiResult(
            url=page_url(server_url, experiment_id, run_id, view),
            server_url=server_url,
            experiment_id=experiment_id,
            run_id=run_id,
            reused=reused,
        )

    async def _server_for(self, workspace: LocalWorkspace) -> tuple[str, bool]:
        store = workspace.tracking_uri
        if is_server_uri(store):
            return store.rstrip("/"), True  # the `trackingUri` setting names a server already
        async with self._lock:
            server = self._servers.get(store)
            if server is not None:
                if server.running() and await ui_server.answers(server.url):
                    return server.url, True
                log.info("the tracking UI on %s stopped answering: restarting it", server.url)
                del self._servers[store]
                await ui_server.stop(server)
            artifacts = Path(workspace.artifact_root) if workspace.artifact_root else None
            server = await ui_server.start(store, artifacts, workspace.home / "tracking-ui.log")
            self._servers[store] = server
            return server.url, False

    async def close(self) -> None:
        """Stop every server started here, each with its whole process tree."""
        async with self._lock:
            servers, self._servers = list(self._servers.values()), {}
        if servers:
            await asyncio.gather(*(ui_server.stop(s) for s in servers))
