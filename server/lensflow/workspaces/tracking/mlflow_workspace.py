"""A workspace whose tracking and registry are MLflow: runs scripts, answers queries.

The local workspace is this with an embedded SQLite store; an Azure ML workspace is this with
Azure's tracking URI (refreshed per run) and its own registry and compute.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from lensflow_protocol.errors import InvalidPath, RunnerFailed, StoreError
from lensflow_protocol.tracking import (
    ListExperimentsResult,
    ListModelsResult,
    ListRunsArgs,
    ListRunsResult,
    RegisterModelArgs,
    RegisterModelResult,
    RunDetail,
    TrackRunResult,
)

from ..base import RunEvents, TrackRequest, Workspace
from ..interpreter import cannot_start, check_interpreter
from .events import StartedEvent
from .mlflow_export import export_mlflow_model
from .runner import RunOutcome, RunRequest, run_script
from .server_check import check_server
from .store_client import StoreClient
from .uris import redacted

log = logging.getLogger(__name__)
_SPOOL_BYTES = 1 << 20


class MlflowWorkspace(Workspace):
    def __init__(self, tracking_uri: str, python: str, artifact_root: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.python = python
        self.artifact_root = artifact_root
        # Store calls go to a worker process: mlflow never loads into the editor's server.
        self.store = StoreClient(tracking_uri, artifact_root)

    @property
    def display_name(self) -> str:
        return self.kind

    def child_tracking_uri(self) -> str:
        """The URI a training child gets; Azure hands out a fresh one each time."""
        return self.tracking_uri

    # --- tracking ------------------------------------------------------------------------
    async def track_run(
        self, request: TrackRequest, events: RunEvents, cancel: asyncio.Event
    ) -> TrackRunResult:
        check_interpreter(self.python)
        # A server that is down fails the run now, not after MLflow's minutes of retries.
        await check_server(self.tracking_uri)
        env = {
            **os.environ,
            **request.env,
            "MLFLOW_TRACKING_URI": self.child_tracking_uri(),
            "LENSFLOW_EXPERIMENT_NAME": request.experiment_name,
            "LENSFLOW_SCRIPT": str(request.script),
        }
        env.pop("MLFLOW_RUN_ID", None)
        env.pop("MLFLOW_EXPERIMENT_ID", None)
        env.pop("MLFLOW_EXPERIMENT_NAME", None)
        if request.run_name:
            env["LENSFLOW_RUN_NAME"] = request.run_name
        if self.artifact_root:
            env["LENSFLOW_ARTIFACT_ROOT"] = self.artifact_root

        run_id = ""
        # Output can overtake the "started" event (they travel on different pipes): hold it
        # until the run has an id to name.
        early: list[tuple[str, str]] = []
        # The full console output, in case the script dies before it can keep it itself.
        spool = tempfile.SpooledTemporaryFile(_SPOOL_BYTES, mode="w+", encoding="utf-8")  # noqa: SIM115

        def on_started(info: StartedEvent) -> None:
            nonlocal run_id
            run_id = str(info["runId"])
            events.started(run_id, str(info.get("experimentName", request.experiment_name)))
            for stream, text in early:
                events.output(run_id, stream, text)
            early.clear()

        def on_output(stream: str, text: str) -> None:
            spool.write(text)
            if run_id:
                events.output(run_id, stream, text)
            else:
                early.append((stream, text))

        runner_request = RunRequest(self.python, request.script, request.args, env)
        with spool:
            try:
                outcome = await run_script(runner_request, on_output, on_started, cancel)
            except OSError as exc:  # gone since the check, or no program (ENOEXEC)
                raise cannot_start(self.python, exc) from None
            spool.seek(0)
            return await self._result(request, outcome, spool.read)

    async def _result(
        self, request: TrackRequest, outcome: RunOutcome, full_output: Callable[[], str]
    ) -> TrackRunResult:
        if outcome.started is None:
            if outcome.error:
                raise StoreError(
                    f"Could not start a run in {redacted(self.tracking_uri)}: {outcome.error}",
                    trackingUri=redacted(self.tracking_uri),
                )
            if outcome.cancelled:
                raise RunnerFailed("The run was cancelled before it started.")
            raise RunnerFailed(
                f"{self.python} could not start the run (exit code {outcome.exit_code}). "
                f"Does it have mlflow installed? Output:\n{outcome.output_tail}",
                exitCode=outcome.exit_code,
            )
        run_id = str(outcome.started["runId"])
        ended = outcome.ended
        if ended is None:
            # Killed, or crashed before it could finish: the server closes the run.
            status = "KILLED" if outcome.cancelled else "FAILED"
            ended_as = f"Run {run_id} ended ({status}, exit code {outcome.exit_code})"
            details = {"runId": run_id, "status": status, "outputTail": outcome.output_tail}
            try:
                await self.store.finish_run(run_id, status, full_output())
            except StoreError as exc:  # a full disk, say: the run cannot be closed now
                raise StoreError(
                    f"{ended_as} but the tracking store could not record its end: "
                    f"{exc.message.strip()}\nWhat it logged before is kept. Fix the store (free "
                    "disk space?): Lensflow marks the run FAILED when it next opens a store this "
                    "machine writes.",
                    **details,
                ) from exc
            try:
                params, metrics, artifacts = await self.store.run_data(run_id)
            except StoreError as exc:
                raise StoreError(
                    f"{ended_as}, and reading it back failed: {exc.message.strip()}", **details
                ) from exc
        else:
            status = str(ended["status"])
            params, metrics = ended.get("params", {}), ended.get("metrics", {})
            artifacts = ended.get("artifacts", [])
        return TrackRunResult(
            run_id=run_id,
            experiment_id=str(outcome.started["experimentId"]),
            experiment_name=str(outcome.started.get("experimentName", request.experiment_name)),
            status=status,
            params=params,
            metrics=metrics,
            artifacts=artifacts,
            duration_s=round(outcome.duration_s, 3),
            output_tail=outcome.output_tail,
            exit_code=outcome.exit_code,
        )

    # --- registry and queries ------------------------------------------------------------
    async def register_model(self, args: RegisterModelArgs) -> RegisterModelResult:
        """A version MLflow's own tools load: a model file is made into an MLflow model (by a
        child in the training interpreter, which has the model's framework), logged beside it
        in the run, and the version points there."""
        plan = await self.store.plan_registration(args)
        target = plan["mlflowPath"]
        if target is not None and not plan["ready"]:
            env = {**os.environ, **(self.store.child_env() or {})}
            env["MLFLOW_TRACKING_URI"] = self.child_tracking_uri()
            with tempfile.TemporaryDirectory(prefix="lensflow-model-") as scratch:
                made = await export_mlflow_model(
                    self.python, args.run_id, plan["path"], plan["framework"], Path(scratch),
                    env, log_as=target,
                )  # fmt: skip
            if not made.logged:
                raise InvalidPath(
                    f"{plan['path']} is not a {plan['framework']} model Lensflow can make an "
                    "MLflow model of; pass the right modelFramework, or log the model with "
                    "mlflow.<flavor>.log_model and register that.",
                    path=plan["path"],
                    modelFramework=plan["framework"],
                )
        return await self.store.register_model(args)

    async def list_experiments(self) -> ListExperimentsResult:
        return await self.store.list_experiments()

    async def list_runs(self, args: ListRunsArgs) -> ListRunsResult:
        return await self.store.list_runs(args.experiment_name, args.script, args.limit)

    async def get_run(self, run_id: str) -> RunDetail:
        return await self.store.get_run(run_id)

    async def list_models(self) -> ListModelsResult:
        return await self.store.list_models()

    async def warm(self) -> None:
        await self.store.warm()

    async def close(self) -> None:
        await self.store.close()
