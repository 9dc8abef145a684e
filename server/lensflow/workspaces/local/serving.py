"""The local workspace's clusters and services, as the async workspace interface.

`LocalDeployments` (blocking: supervisord RPC, HTTP probes) runs in worker threads; this layer
resolves registered models through the store worker and turns state changes into events.
"""

from __future__ import annotations

import asyncio
import functools
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

from ..base import DeployEvents
from ..endpoint import example_body, invoke

if TYPE_CHECKING:
    from ..tracking.store_client import StoreClient
    from .deployments import LocalDeployments


class LocalServing:
    """Mixed into LocalWorkspace, which provides `home` and `store`."""

    home: Path
    store: StoreClient

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
        service = await asyncio.to_thread(self.deployments.service, args.service_name)
        key = None
        if service.auth_enabled:
            key = (await asyncio.to_thread(self.deployments.keys, args.service_name)).primary_key
        url = service.scoring_uri.rsplit("/", 1)[0] + args.path
        body = args.input
        if body is None:
            body = await asyncio.to_thread(example_body, service.swagger_uri, args.path)
        return await asyncio.to_thread(invoke, url, key, body, args.service_name)

    async def clean_up(self, args: CleanUpArgs) -> CleanUpResult:
        return await asyncio.to_thread(
            functools.partial(
                self.deployments.clean_up,
                service=args.service_name, cluster=args.cluster_name, all=args.all,
            )
        )  # fmt: skip

    async def list_clusters(self) -> ListClustersResult:
        return ListClustersResult(clusters=await asyncio.to_thread(self.deployments.clusters))

    async def list_services(self, cluster_name: str | None) -> ListServicesResult:
        services = await asyncio.to_thread(self.deployments.services, cluster_name)
        return ListServicesResult(services=services)

    async def get_service_keys(self, service_name: str) -> ServiceKeys:
        return await asyncio.to_thread(self.deployments.keys, service_name)

    async def get_service_logs(self, service_name: str, tail: int) -> ServiceLogs:
        return await asyncio.to_thread(self.deployments.logs, service_name, tail)
