"""The Azure ML workspace: MLflow tracking against Azure, Azure's registry, AKS serving.

Tracking and run queries go through MLflow (a store worker on Azure's tracking URI); registry,
clusters and services through `AzureSdk`. Nothing here imports azureml: `sdk.py` does, lazily.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path, PurePosixPath
from typing import Literal, TypeVar

from lensflow_protocol.errors import LensflowError, NotFound, Unsupported
from lensflow_protocol.frameworks import ModelFramework
from lensflow_protocol.settings import WorkspaceInfo
from lensflow_protocol.tracking import (
    ListExperimentsResult,
    ListModelsResult,
    ListRunsArgs,
    ListRunsResult,
    ModelVersionInfo,
    RegisteredModelInfo,
    RegisterModelArgs,
    RegisterModelResult,
    RunDetail,
    TrackRunResult,
)

from lensflow.frameworks import AZURE_NAMES, BY_SUFFIX, VERSION_MODULES, spoken

from ..base import RunEvents, TrackRequest
from ..tracking.mlflow_export import export_mlflow_model
from ..tracking.mlflow_workspace import MlflowWorkspace
from ..tracking.tags import SCRIPT_TAG
from .calls import COMMAND_BUDGET_S, SdkCalls, TrackingCache
from .errors import deadline_error
from .interface import AuthMode, AzureModel, AzureSdk, Tracking
from .serving import AzureServing
from .store import AzureStoreClient, child_env

log = logging.getLogger(__name__)
T = TypeVar("T")
# The artifact a v2 version was made from (its source is the MLflow folder made of it).
MODEL_PATH_TAG = "modelPath"


class AzureMLWorkspace(AzureServing, MlflowWorkspace):
    kind = "azureml"

    def __init__(
        self,
        config_path: Path,
        python: str,
        sdk: AzureSdk | None = None,
        auth: AuthMode = "auto",
        clock: Callable[[], float] = time.monotonic,
        azure_sdk: Literal["v1", "v2"] = "v2",
    ) -> None:
        if sdk is None and azure_sdk == "v2":
            from .sdk_v2 import AzureMLSdkV2

            sdk = AzureMLSdkV2(config_path, auth)
        elif sdk is None:
            from .sdk import AzureMLSdk

            sdk = AzureMLSdk(config_path, auth)
        self.config_path = config_path
        self.sdk = sdk
        self.calls = SdkCalls()
        self.tracking = TrackingCache(self._fetch_tracking, clock)
        super().__init__("azureml:", python)
        self.store = AzureStoreClient(self.tracking)
        self._init_serving()

    @property
    def display_name(self) -> str:
        return f"azureml ({self.config_path})"

    @property
    def deploys_without_cluster(self) -> bool:
        return self.sdk.managed_endpoints

    def describe(self) -> WorkspaceInfo:
        """From config.json itself: a status bar must not wait for a sign-in."""
        try:
            config = json.loads(self.config_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            config = {}
        config = config if isinstance(config, dict) else {}
        current = self.tracking.current
        return WorkspaceInfo(
            kind="azureml",
            name=str(config.get("workspace_name") or self.config_path.stem),
            config_path=str(self.config_path),
            subscription_id=config.get("subscription_id"),
            resource_group=config.get("resource_group"),
            tracking_uri=current.uri if current is not None else None,
        )

    async def _fetch_tracking(self) -> Tracking:
        return await self.calls("get the MLflow tracking URI", self.sdk.tracking)

    def child_tracking_uri(self) -> str:
        """The URI cached by `track_run` just before it starts the child (at most 50 min old)."""
        current = self.tracking.current
        return current.uri if current is not None else self.tracking_uri

    async def track_run(
        self, request: TrackRequest, events: RunEvents, cancel: asyncio.Event
    ) -> TrackRunResult:
        current = await self.tracking.get()
        self.tracking_uri = current.uri
        env = {**request.env, "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
        if current.token:
            env["MLFLOW_TRACKING_TOKEN"] = current.token
        request = dataclasses.replace(request, env=env)
        return await super().track_run(request, events, cancel)

    async def _store(self, doing: str, call: Awaitable[T]) -> T:
        """A store-worker call that gives up within the command budget, restarting the worker."""
        try:
            return await asyncio.wait_for(call, COMMAND_BUDGET_S)
        except TimeoutError:
            await self.store.close()
            raise deadline_error(doing, COMMAND_BUDGET_S) from None

    async def list_experiments(self) -> ListExperimentsResult:
        return await self._store("list experiments", self.store.list_experiments())

    async def list_runs(self, args: ListRunsArgs) -> ListRunsResult:
        runs = self.store.list_runs(args.experiment_name, args.script, args.limit)
        return await self._store("list runs", runs)

    async def get_run(self, run_id: str) -> RunDetail:
        return await self._store(f"get run {run_id}", self.store.get_run(run_id))

    # --- Azure's model registry ----------------------------------------------------------
    async def register_model(self, args: RegisterModelArgs) -> RegisterModelResult:
        framework = args.model_framework or BY_SUFFIX.get(PurePosixPath(args.model_path).suffix)
        azure = tuple(AZURE_NAMES)
        if framework is None:
            raise NotFound(
                f"Cannot tell the framework of {args.model_path!r}; pass modelFramework "
                f"({spoken(azure)}).",
                modelPath=args.model_path,
            )
        # SDK v2 registers any framework (a custom_model when no MLflow model is made of it);
        # v1 registers the frameworks it deploys with no scoring script.
        v2 = self.sdk.managed_endpoints
        if not v2 and framework not in AZURE_NAMES:
            raise Unsupported(
                f"Azure ML (SDK v1) deploys {spoken(azure, 'and')} models without a "
                f"scoring script, not {framework} models: register the model file itself "
                "(e.g. model.pkl logged with mlflow.log_artifact).",
                workspace=self.kind,
            )
        version = await self._framework_version(framework)
        # The run's script goes with the model, so the script's lenses can find its services.
        script = await self._script_of(args.run_id)
        tags = {**args.tags, **({SCRIPT_TAG: script} if script else {})}
        if not v2:
            model = await self._register(args, args.model_path, framework, version, tags)
        else:  # SDK v2 serves MLflow models with no scoring script: make one if it can
            with tempfile.TemporaryDirectory(prefix="lensflow-model-") as scratch:
                current = await self.tracking.get()
                exported = await export_mlflow_model(
                    self.python, args.run_id, args.model_path, framework, Path(scratch),
                    child_env(current.uri, current.token),
                )  # fmt: skip
                tags[MODEL_PATH_TAG] = args.model_path
                model = await self._register(args, str(exported.path), framework, version, tags)
        return RegisterModelResult(
            model_name=model.name, version=model.version, model_framework=framework,
            source=model.source or f"runs:/{args.run_id}/{args.model_path}",
        )  # fmt: skip

    async def _register(
        self, args: RegisterModelArgs, path: str, framework: ModelFramework,
        version: str | None, tags: dict[str, str],
    ) -> AzureModel:  # fmt: skip
        return await self.calls(
            f"register {args.model_name}",
            lambda: self.sdk.register_model(
                args.run_id, args.model_name, path, framework, version, args.description, tags
            ),
            self.calls.budget(),
        )

    async def _script_of(self, run_id: str) -> str | None:
        """The run's training script; a run that is not there stops the registration."""
        try:
            return (await self.get_run(run_id)).script
        except NotFound:
            raise
        except LensflowError as exc:  # the registry may still take it: lenses lose a link only
            log.warning("no script for run %s: %s", run_id, exc.message)
            return None

    async def _framework_version(self, framework: ModelFramework) -> str | None:
        """The framework's version in the training interpreter (what the model was made with)."""
        module = VERSION_MODULES.get(framework)
        if module is None:
            return None
        code = f"import {module}; print({module}.__version__)"
        try:
            proc = await asyncio.create_subprocess_exec(
                self.python, "-c", code,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        except OSError:
            return None
        try:
            out, _ = await asyncio.wait_for(proc.communicate(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            return None
        text = out.decode(errors="replace").strip()
        return text or None if proc.returncode == 0 else None

    async def list_models(self) -> ListModelsResult:
        models = await self.calls("list models", self.sdk.list_models, self.calls.budget())
        by_name: dict[str, list[ModelVersionInfo]] = {}
        for m in sorted(models, key=lambda m: (m.name, -m.version)):
            by_name.setdefault(m.name, []).append(
                ModelVersionInfo(
                    version=m.version,
                    model_framework=m.framework,
                    source=m.source,
                    run_id=m.run_id,
                    creation_time=m.created_ms,
                    script=m.tags.get(SCRIPT_TAG),
                )
            )
        return ListModelsResult(
            models=[
                RegisteredModelInfo(
                    name=name, latest_version=versions[0].version, versions=versions
                )
                for name, versions in by_name.items()
            ]
        )

    async def warm(self) -> None:
        """Nothing ahead of time: signing in is a network call, made by the first command."""

    async def close(self) -> None:
        await self._close_serving()
        await self.store.close()
        self.calls.close()
