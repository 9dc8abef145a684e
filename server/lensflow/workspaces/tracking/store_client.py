"""The server's side of the store worker: one child process, calls matched by id.

Started on first use (or ahead of it with `warm()`), restarted if it dies, and a call that
hangs past its deadline kills it rather than the editor's patience. One typed method per call;
each goes through its entry in `store_calls`, the table the worker dispatches from too.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from lensflow_protocol.errors import LensflowError, StoreError, error_from

from . import store_calls as calls
from .store_types import ModelFiles, RegistrationPlan, RunData
from .uris import is_server_uri, redacted

if TYPE_CHECKING:
    from lensflow_protocol.tracking import (
        ListExperimentsResult,
        ListModelsResult,
        ListRunsResult,
        RegisterModelArgs,
        RegisterModelResult,
        RunDetail,
    )

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)
CALL_TIMEOUT_S = 120.0
_LINE_LIMIT = 64 * 1024 * 1024
# mlflow's HTTP client retries a tracking server that is down for about four minutes: an
# editor's query should say so in seconds. The server's own environment can still override.
SERVER_HTTP_ENV = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}


class StoreClient:
    def __init__(self, tracking_uri: str, artifact_root: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        # A store this machine writes: its Default experiment keeps artifacts there.
        self.artifact_root = artifact_root
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    def child_env(self) -> dict[str, str] | None:
        """The worker's environment; None inherits the server's."""
        if is_server_uri(self.tracking_uri):
            return {**SERVER_HTTP_ENV, **os.environ}
        return None

    async def _ensure(self) -> asyncio.subprocess.Process:
        async with self._lock:
            if self._proc is None or self._proc.returncode is not None:
                self._proc = await asyncio.create_subprocess_exec(
                    sys.executable,
                    "-m",
                    "lensflow.workspaces.tracking.store_worker",
                    self.tracking_uri,
                    *([self.artifact_root] if self.artifact_root else []),
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    limit=_LINE_LIMIT,
                    env=self.child_env(),
                )
                self._reader = asyncio.ensure_future(self._read(self._proc))
            return self._proc

    async def warm(self) -> None:
        """Start the worker now, so its imports overlap with whatever comes first."""
        await self._ensure()

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            try:
                reply = json.loads(line)
            except json.JSONDecodeError:
                log.warning("store worker said something that is not JSON: %r", line[:200])
                continue
            future = self._pending.pop(reply.get("id"), None)
            if future is None or future.done():
                continue
            if "error" in reply:
                err = reply["error"]
                future.set_exception(error_from(err["kind"], err["message"], err.get("details")))
            else:
                future.set_result(reply.get("result"))
        code = await proc.wait()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(StoreError(f"The store worker exited (code {code}); retry."))
        self._pending.clear()

    # --- the calls ---------------------------------------------------------------------------
    async def list_experiments(self) -> ListExperimentsResult:
        return await self._call(calls.LIST_EXPERIMENTS)

    async def list_runs(
        self, experiment_name: str | None, script: str | None, limit: int
    ) -> ListRunsResult:
        return await self._call(calls.LIST_RUNS, experiment_name, script, limit)

    async def get_run(self, run_id: str) -> RunDetail:
        return await self._call(calls.GET_RUN, run_id)

    async def list_models(self) -> ListModelsResult:
        return await self._call(calls.LIST_MODELS)

    async def plan_registration(self, args: RegisterModelArgs) -> RegistrationPlan:
        """Checks a registration; says which MLflow model to make of the artifact first."""
        return await self._call(calls.PLAN_REGISTRATION, args)

    async def register_model(self, args: RegisterModelArgs) -> RegisterModelResult:
        return await self._call(calls.REGISTER_MODEL, args)

    async def finish_run(self, run_id: str, status: str, log_text: str) -> None:
        """Close a run its script could not (killed, crashed), keeping `log_text` with it."""
        await self._call(calls.FINISH_RUN, run_id, status, log_text)

    async def run_data(self, run_id: str) -> RunData:
        return await self._call(calls.RUN_DATA, run_id)

    async def model_artifact(self, name: str, version: int | None) -> ModelFiles:
        """A registered version's files on this machine (None: its latest version)."""
        return await self._call(calls.MODEL_ARTIFACT, name, version)

    async def share_runs_view(self, experiment_id: str) -> str | None:
        """The share key of an MLflow UI view of the experiment's runs with their params and
        metrics as columns (None: the store would not keep it)."""
        return await self._call(calls.SHARE_RUNS_VIEW, experiment_id)

    async def ping(self) -> str:
        return await self._call(calls.PING)

    async def _call(self, call: calls.StoreCall[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        return call.decode(await self._request(call.name, call.encode(*args, **kwargs)))

    async def _request(self, method: str, args: list[object]) -> Any:
        """One JSON line out, its reply's result back (or its error raised)."""
        proc = await self._ensure()
        assert proc.stdin is not None
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        proc.stdin.write(
            (json.dumps({"id": call_id, "method": method, "args": args}) + "\n").encode()
        )
        try:
            await proc.stdin.drain()
            return await asyncio.wait_for(asyncio.shield(future), CALL_TIMEOUT_S)
        except TimeoutError:
            log.error(
                "store call %s took over %.0fs: restarting the worker", method, CALL_TIMEOUT_S
            )
            await self.close()
            raise StoreError(
                f"The tracking store at {redacted(self.tracking_uri)} did not answer {method} "
                f"within {CALL_TIMEOUT_S:.0f}s; is the database locked by another program?"
            ) from None
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise StoreError(f"The store worker is gone ({exc}); retry.") from exc
        except LensflowError:
            raise
        finally:
            self._pending.pop(call_id, None)

    async def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
