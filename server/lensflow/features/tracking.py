"""Tracking and registry commands: run a script as an MLflow run, register its model, query.

LSP methods: workspace/executeCommand (lensflow.trackRun, lensflow.registerModel,
lensflow.listExperiments, lensflow.listRuns, lensflow.getRun, lensflow.listModels);
sends lensflow/runOutput, lensflow/runUpdated, $/progress and workspace/codeLens/refresh.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lensflow_protocol import names

from ..analysis import analyze
from ..analysis.notebook import notebook_code
from ..lsp.feature import Feature, command
from ..lsp.progress import Progress
from ..paths import resolve_script, script_path
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


def summary(result: TrackRunResult) -> str:
    metrics = ", ".join(f"{k}={v:.6g}" for k, v in sorted(result.metrics.items())[:4])
    return f"{result.status} in {result.duration_s:.1f}s" + (f" · {metrics}" if metrics else "")


def notify_run(server: LensflowServer, run_id: str, status: str, script: Path, exp: str) -> None:
    """lensflow/runUpdated: a run started or ended."""
    from lensflow_protocol.notifications import RunUpdatedParams

    params = RunUpdatedParams(run_id=run_id, status=status, script=str(script), experiment_name=exp)
    server.protocol.notify(names.RUN_UPDATED, params.wire())


class _RunNotifier:
    """Turns a workspace's run events into notifications and progress reports."""

    def __init__(self, server: LensflowServer, script: Path, progress: Progress) -> None:
        self.server, self.script, self.progress = server, script, progress

    def started(self, run_id: str, experiment_name: str) -> None:
        self.progress.report(f"run {run_id[:8]} started in {experiment_name}")
        notify_run(self.server, run_id, "RUNNING", self.script, experiment_name)

    def output(self, run_id: str, stream: str, text: str) -> None:
        from lensflow_protocol.notifications import RunOutputParams

        params = RunOutputParams(run_id=run_id, stream=stream, text=text)
        self.server.protocol.notify(names.RUN_OUTPUT, params.wire())
        if line := text.strip().rsplit("\n", 1)[-1]:
            self.progress.report(line)


class Tracking(Feature):
    def __init__(self, server: LensflowServer) -> None:
        super().__init__(server)
        # cancel event -> task of each trackRun in flight, so shutdown can end them cleanly.
        self.runs_in_flight: dict[asyncio.Event, asyncio.Task[Any]] = {}

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel every run, so each is recorded KILLED, not left RUNNING."""
        in_flight = list(self.runs_in_flight.items())
        for cancel, _ in in_flight:
            cancel.set()
        if in_flight:
            await asyncio.wait([task for _, task in in_flight], timeout=timeout)

    @command(names.TRACK_RUN)
    async def track_run(self, args: TrackRunArgs) -> TrackRunResult:
        workspace = self.server.active_workspace()
        script = resolve_script(args.script, self.server.root)
        request = TrackRequest(
            script=script,
            experiment_name=args.experiment_name or experiment_for(script),
            args=args.args,
            env=args.env,
            run_name=args.run_name,
        )
        cancel = asyncio.Event()
        async with Progress(self.server, f"Tracking {script.name}", cancel) as progress:
            task = asyncio.ensure_future(
                workspace.track_run(request, _RunNotifier(self.server, script, progress), cancel)
            )
            self.runs_in_flight[cancel] = task
            task.add_done_callback(lambda _: self.runs_in_flight.pop(cancel, None))
            try:
                result = await asyncio.shield(task)
            except asyncio.CancelledError:
                # $/cancelRequest: kill the script, record the run as KILLED, then answer -32800.
                cancel.set()
                result = await task
                await self._after_run(script, result)
                raise
            progress.end(summary(result))
        await self._after_run(script, result)
        return result

    async def _after_run(self, script: Path, result: TrackRunResult) -> None:
        # Lenses, hovers and inlay hints: reloaded, then hints refreshed.
        self.server.history.run_ended(str(script))
        notify_run(self.server, result.run_id, result.status, script, result.experiment_name)
        await self.server.views_changed()

    @command(names.REGISTER_MODEL)
    async def register_model(self, args: RegisterModelArgs) -> RegisterModelResult:
        # Seconds (the model is exported as an MLflow model): a bar, with no Cancel (a
        # registration half made is not undone).
        async with Progress(self.server, f"Registering {args.model_name}", None) as progress:
            result = await self.server.active_workspace().register_model(args)
            progress.end(f"version {result.version} ({result.model_framework})")
        self.server.history.latest.forget()
        await self.server.views_changed()  # the lens offers Deploy now
        return result

    @command(names.LIST_EXPERIMENTS)
    async def list_experiments(self, args: ListExperimentsArgs) -> ListExperimentsResult:
        return await self.server.active_workspace().list_experiments()

    @command(names.LIST_RUNS)
    async def list_runs(self, args: ListRunsArgs) -> ListRunsResult:
        if args.script is not None:
            script = str(script_path(args.script, self.server.root))
            args = args.model_copy(update={"script": script})
        return await self.server.active_workspace().list_runs(args)

    @command(names.GET_RUN)
    async def get_run(self, args: GetRunArgs) -> RunDetail:
        return await self.server.active_workspace().get_run(args.run_id)

    @command(names.LIST_MODELS)
    async def list_models(self, args: ListModelsArgs) -> ListModelsResult:
        return await self.server.active_workspace().list_models()
