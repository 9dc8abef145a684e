"""Clusters, no-code services and endpoints: the second half of the seed's workflow.

LSP methods: workspace/executeCommand (lensflow.createCluster, lensflow.deploy,
lensflow.invokeEndpoint, lensflow.cleanUp, lensflow.listClusters, lensflow.listServices,
lensflow.getServiceKeys, lensflow.getServiceLogs); sends lensflow/serviceUpdated,
lensflow/clusterUpdated (through the server's `ServiceMonitor`), $/progress and
workspace/codeLens/refresh.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lensflow_protocol import names

from ..lsp.feature import Feature, command
from ..lsp.progress import Progress

if TYPE_CHECKING:
    from lensflow_protocol.deployment import (
        CleanUpArgs,
        CleanUpResult,
        ClusterInfo,
        CreateClusterArgs,
        DeployArgs,
        GetServiceLogsArgs,
        InvokeEndpointArgs,
        InvokeEndpointResult,
        ListClustersArgs,
        ListClustersResult,
        ListServicesArgs,
        ListServicesResult,
        ServiceInfo,
        ServiceKeys,
        ServiceLogs,
        ServiceNameArgs,
    )


class Deployment(Feature):
    @command(names.CREATE_CLUSTER)
    async def create_cluster(self, args: CreateClusterArgs) -> ClusterInfo:
        cancel = asyncio.Event()
        async with Progress(self.server, f"Creating cluster {args.name}", cancel) as progress:
            events = self.server.services.reporter(progress.report)
            info = await self.server.active_workspace().create_cluster(args, events, cancel)
        await self.server.views_changed()  # the lens offers Deploy to it now
        return info

    @command(names.DEPLOY)
    async def deploy(self, args: DeployArgs) -> ServiceInfo:
        services = self.server.services
        services.start()
        cancel = asyncio.Event()
        async with Progress(self.server, f"Deploying {args.service_name}", cancel) as progress:
            workspace = self.server.active_workspace()
            info = await workspace.deploy(args, services.reporter(progress.report), cancel)
            progress.end(f"{info.service_name}: {info.state}")
        services.deployed(info)
        await self.server.views_changed()
        return info

    @command(names.INVOKE_ENDPOINT)
    async def invoke_endpoint(self, args: InvokeEndpointArgs) -> InvokeEndpointResult:
        return await self.server.active_workspace().invoke_endpoint(args)

    @command(names.CLEAN_UP)
    async def clean_up(self, args: CleanUpArgs) -> CleanUpResult:
        services = self.server.services
        async with services.cleaning():
            result = await self.server.active_workspace().clean_up(args)
        for item in result.deleted:
            if item.kind == "service":
                services.removed(item.name)
        await self.server.views_changed()
        return result

    @command(names.LIST_CLUSTERS)
    async def list_clusters(self, args: ListClustersArgs) -> ListClustersResult:
        return await self.server.active_workspace().list_clusters()

    @command(names.LIST_SERVICES)
    async def list_services(self, args: ListServicesArgs) -> ListServicesResult:
        self.server.services.start()
        return await self.server.active_workspace().list_services(args.cluster_name)

    @command(names.GET_SERVICE_KEYS)
    async def get_service_keys(self, args: ServiceNameArgs) -> ServiceKeys:
        return await self.server.active_workspace().get_service_keys(args.service_name)

    @command(names.GET_SERVICE_LOGS)
    async def get_service_logs(self, args: GetServiceLogsArgs) -> ServiceLogs:
        return await self.server.active_workspace().get_service_logs(args.service_name, args.tail)
