"""Tracking and registry commands: run a script as an MLflow run, register its model, query.

LSP methods: workspace/executeCommand (lensflow.trackRun, lensflow.registerModel,
lensflow.listExperiments, lensflow.listRuns, lensflow.getRun, lensflow.listModels);
sends lensflow/runOutput, lensflow/runUpdated, $/progress and workspace/codeLens/refresh.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lensflow_protocol import names
from lsprotocol import types

from .. import commands
from ..analysis import analyze
from ..analysis.notebook import notebook_code
from ..paths import resolve_script, script_path
from ..progress import Progress
from ..workspaces.base import TrackRequest

if TYPE_CHECKING:
    from lensflow_protocol.tracking import (
        GetRunArgs,
        ListExperimentsArgs,
        ListExperimentsResult,
        ListModelsArgs,
        ListModelsResult,
        ListRunsArgs,
        ListRunsResult,
        RegisterModelArgs,
        RegisterModelResult,
        RunDetail,
        TrackRunArgs,
        TrackRunResult,
    )

    from ..server import LensflowServer

log = logging.getLogger(__name__)


def experiment_for(script: Path) -> str:
    """The script's own literal `mlflow.set_experiment(...)`, else its file stem.

    It must match, or the script's start_run() refuses to resume the run we made for it.
    """
    try:
        source = script.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return script.stem
    if script.suffix == ".ipynb":
        source = notebook_code(source)
    return analyze(source).experiment_name or script.stem


class _RunNotifier:
    """Turns a workspace's run events into notifications and progress reports."""

    def __init__(self, ls: LensflowServer, script: Path, progress: Progress) -> None:
        self.ls, self.script, self.progress = ls, script, progress

    def started(self, run_id: str, experiment_name: str) -> None:
        from lensflow_protocol.notifications import RunUpdatedParams

        self.progress.report(f"run {run_id[:8]} started in {experiment_name}")
        params = RunUpdatedParams(
            run_id=run_id,
            status="RUNNING",
            script=str(self.script),
            experiment_name=experiment_name,
        )
        self.ls.protocol.notify(names.RUN_UPDATED, params.wire())

    def output(self, run_id: str, stream: str, text: str) -> None:
        from lensflow_protocol.notifications import RunOutputParams

        params = RunOutputParams(run_id=run_id, stream=stream, text=text)
        self.ls.protocol.notify(names.RUN_OUTPUT, params.wire())
        if line := text.strip().rsplit("\n", 1)[-1]:
            self.progress.report(line)


async def after_run(ls: LensflowServer, script: Path, result: TrackRunResult) -> None:
    from lensflow_protocol.notifications import RunUpdatedParams

    ls.forget_runs(str(script))
    ls.history.run_ended(str(script))  # hovers and inlay hints: reloaded, then hints refreshed
    params = RunUpdatedParams(
        run_id=result.run_id,
        status=result.status,
        script=str(script),
        experiment_name=result.experiment_name,
    )
    ls.protocol.notify(names.RUN_UPDATED, params.wire())
    await refresh_lenses(ls)


async def refresh_lenses(ls: LensflowServer) -> None:
    """Ask the client to re-query lenses, where it can (workspace/codeLens/refresh)."""
    workspace_caps = ls.client_capabilities.workspace
    if workspace_caps and workspace_caps.code_lens and workspace_caps.code_lens.refresh_support:
        try:
            await ls.workspace_code_lens_refresh_async(None)
        except Exception:  # the client may be gone; the run itself is safe
            log.info("codeLens refresh failed", exc_info=True)


def summary(result: TrackRunResult) -> str:
    metrics = ", ".join(f"{k}={v:.6g}" for k, v in sorted(result.metrics.items())[:4])
    return f"{result.status} in {result.duration_s:.1f}s" + (f" · {metrics}" if metrics else "")


async def stop_all_runs(ls: LensflowServer, timeout: float = 10.0) -> None:
    """On shutdown: cancel every run so each is recorded KILLED, not left RUNNING."""
    in_flight = list(ls.runs_in_flight.items())
    if not in_flight:
        return
    for cancel, _ in in_flight:
        cancel.set()
    await asyncio.wait([task for _, task in in_flight], timeout=timeout)


def register(server: LensflowServer) -> None:
    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: LensflowServer, params: None) -> None:
        await stop_all_runs(ls)
        ls.protocol.cancel_pending_requests()
        from .tracking_ui import stop_tracking_ui

        await stop_tracking_ui(ls)

    @commands.register(server, names.TRACK_RUN)
    async def track_run(ls: LensflowServer, args: TrackRunArgs) -> TrackRunResult:
        workspace = ls.active_workspace()
        script = resolve_script(args.script, ls.root)
        request = TrackRequest(
            script=script,
            experiment_name=args.experiment_name or experiment_for(script),
            args=args.args,
            env=args.env,
            run_name=args.run_name,
        )
        cancel = asyncio.Event()
        async with Progress(ls, f"Tracking {script.name}", cancel) as progress:
            task = asyncio.ensure_future(
                workspace.track_run(request, _RunNotifier(ls, script, progress), cancel)
            )
            ls.runs_in_flight[cancel] = task
            task.add_done_callback(lambda _: ls.runs_in_flight.pop(cancel, None))
            try:
                result = await asyncio.shield(task)
            except asyncio.CancelledError:
                # $/cancelRequest: kill the script, record the run as KILLED, then answer -32800.
                cancel.set()
                result = await task
                await after_run(ls, script, result)
                raise
            progress.end(summary(result))
        await after_run(ls, script, result)
        return result

    @commands.register(server, names.REGISTER_MODEL)
    async def register_model(ls: LensflowServer, args: RegisterModelArgs) -> RegisterModelResult:
        result = await ls.active_workspace().register_model(args)
        ls.forget_runs()
        return result

    @commands.register(server, names.LIST_EXPERIMENTS)
    async def list_experiments(
        ls: LensflowServer, args: ListExperimentsArgs
    ) -> ListExperimentsResult:
        return await ls.active_workspace().list_experiments()

    @commands.register(server, names.LIST_RUNS)
    async def list_runs(ls: LensflowServer, args: ListRunsArgs) -> ListRunsResult:
        if args.script is not None:
            args = args.model_copy(update={"script": str(script_path(args.script, ls.root))})
        return await ls.active_workspace().list_runs(args)

    @commands.register(server, names.GET_RUN)
    async def get_run(ls: LensflowServer, args: GetRunArgs) -> RunDetail:
        return await ls.active_workspace().get_run(args.run_id)

    @commands.register(server, names.LIST_MODELS)
    async def list_models(ls: LensflowServer, args: ListModelsArgs) -> ListModelsResult:
        return await ls.active_workspace().list_models()
