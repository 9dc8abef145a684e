"""The local workspace: an MLflow SQLite store (WAL) and artifact folder under `home`, and
local clusters and services.

Tracking is `MlflowWorkspace`'s. Clusters and services are `LocalDeployments`' (blocking:
supervisord RPC, HTTP probes), run in worker threads; this layer resolves registered models
through the store worker and turns state changes into events.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from lensflow_protocol.deployment import (
    CleanUpArgs,
    CleanUpResult,
    ClusterInfo,
    CreateClusterArgs,
    DeployArgs,
    InvokeEndpointArgs,
    InvokeEndpointResult,
    ListClustersResult,
    ListServicesResult,
    ServiceInfo,
    ServiceKeys,
    ServiceLogs,
)
from lensflow_protocol.errors import StoreError, Unreachable
from lensflow_protocol.settings import WorkspaceInfo

from ...scoring import cgroups
from ..base import DeployEvents
from ..endpoint import beside, example_body, invoke
from ..tracking.mlflow_workspace import MlflowWorkspace
from ..tracking.sqlite_tables import has_mlflow_tables
from ..tracking.uris import is_server_uri
from .sqlite_store import enable_wal

if TYPE_CHECKING:
    from lensflow_protocol.tracking import TrackRunResult

    from ..base import RunEvents, TrackRequest
    from .deployments import LocalDeployments

log = logging.getLogger(__name__)


class LocalWorkspace(MlflowWorkspace):
    kind = "local"

    def __init__(self, home: Path, python: str, tracking_uri: str | None = None) -> None:
        self.home = home
        artifacts = home / "artifacts"
        try:
            artifacts.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the state folder {home}: {exc}", path=str(home)
            ) from exc
        if tracking_uri is None:
            self.db = home / "mlflow.db"
            enable_wal(self.db)
            # Four slashes: an absolute path, so `mlflow ui` and children agree on the file.
            tracking_uri = f"sqlite:///{self.db}"
        # A tracking server (http://…) keeps artifacts where it is configured to, for the whole
        # team; only a store this machine writes itself gets the local artifact folder.
        artifact_root = None if is_server_uri(tracking_uri) else str(artifacts)
        super().__init__(tracking_uri, python, artifact_root=artifact_root)

    @property
    def display_name(self) -> str:
        return f"local ({self.home})"

    async def track_run(
        self, request: TrackRequest, events: RunEvents, cancel: asyncio.Event
    ) -> TrackRunResult:
        db = getattr(self, "db", None)
        if db is not None and not await asyncio.to_thread(has_mlflow_tables, db):
            # Runs started together on a new store would each create MLflow's tables and trip
            # over one another ("duplicate column name"): the store worker makes them, once.
            await self.store.list_experiments()
        return await super().track_run(request, events, cancel)

    def watched_paths(self) -> list[Path]:
        # A run, a model version or a registration writes the SQLite file or its WAL; a
        # cluster or a service adds or removes a folder.
        db = getattr(self, "db", None)
        files = [db, db.with_name(db.name + "-wal")] if db is not None else []
        return [*files, self.home / "clusters", self.home / "services"]

    def describe(self) -> WorkspaceInfo:
        # The project folder names a local workspace, unless `home` was moved elsewhere.
        name = self.home.parent.name if self.home.name == ".lensflow" else self.home.name
        return WorkspaceInfo(
            kind="local", name=name, home=str(self.home), tracking_uri=self.tracking_uri
        )

    # --- clusters and services: LocalDeployments (blocking) runs in worker threads ----------
    @functools.cached_property
    def deployments(self) -> LocalDeployments:
        from .deployments import LocalDeployments

        return LocalDeployments(self.home)

    # Local waits are seconds long: `cancel` is accepted for the interface, and not needed.
    async def create_cluster(
        self, args: CreateClusterArgs, events: DeployEvents, cancel: asyncio.Event | None = None
    ) -> ClusterInfo:
        events.cluster_updated(args.name, "Creating", None)
        info = await asyncio.to_thread(self.deployments.create_cluster, args)
        events.cluster_updated(info.name, info.state, info.error)
        return info

    async def deploy(
        self, args: DeployArgs, events: DeployEvents, cancel: asyncio.Event | None = None
    ) -> ServiceInfo:
        from .deployments import ModelArtifact

        files = await self.store.model_artifact(args.model_name, args.model_version)
        model = ModelArtifact(
            name=files["name"], version=files["version"], framework=files["framework"],
            path=Path(files["path"]), script=files["script"],
        )  # fmt: skip
        loop = asyncio.get_running_loop()

        def on_state(state: str, error: str | None) -> None:
            loop.call_soon_threadsafe(events.service_updated, args.service_name, state, error)

        return await asyncio.to_thread(self.deployments.deploy, args, model, on_state)

    async def invoke_endpoint(self, args: InvokeEndpointArgs) -> InvokeEndpointResult:
        from .invoke_guard import checked_service

        # Healthy, on a port its own process holds: else an error, and nothing sent anywhere.
        service = await asyncio.to_thread(checked_service, self.deployments, args.service_name)
        key = None
        if service.auth_enabled:
            key = (await asyncio.to_thread(self.deployments.keys, args.service_name)).primary_key
        url = beside(service.scoring_uri, args.path)
        body = args.input
        if body is None:
            body = await asyncio.to_thread(example_body, service.swagger_uri, args.path)
        folder = self.deployments.store.service_dir(args.service_name)
        kills = await asyncio.to_thread(cgroups.oom_kills, folder)  # files: off the loop
        try:
            return await asyncio.to_thread(invoke, url, key, body, args.service_name)
        except Unreachable as exc:
            if await asyncio.to_thread(cgroups.oom_kills, folder) == kills:
                raise
            raise Unreachable(
                f"Service {args.service_name}'s replica was OOMKilled while it scored this "
                f"request: it went over its memory limit of {service.memory_gb:g} GB and the "
                "kernel killed it (exit code 137); it is being restarted. Deploy it with more "
                "memoryGb, or send fewer rows per request.",
                serviceName=args.service_name,
                reason="OOMKilled",
            ) from exc

    async def clean_up(self, args: CleanUpArgs) -> CleanUpResult:
        return await asyncio.to_thread(
            functools.partial(
                self.deployments.clean_up,
                service=args.service_name, cluster=args.cluster_name, all=args.all,
            )
        )  # fmt: skip

    async def list_clusters(self) -> ListClustersResult:
        return await asyncio.to_thread(self.deployments.list_clusters)

    async def list_services(self, cluster_name: str | None) -> ListServicesResult:
        return await asyncio.to_thread(self.deployments.list_services, cluster_name)

    async def get_service_keys(self, service_name: str) -> ServiceKeys:
        return await asyncio.to_thread(self.deployments.keys, service_name)

    async def get_service_logs(self, service_name: str, tail: int) -> ServiceLogs:
        return await asyncio.to_thread(self.deployments.logs, service_name, tail)
