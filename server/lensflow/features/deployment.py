"""Clusters, no-code services and endpoints: the second half of the seed's workflow.

LSP methods: workspace/executeCommand (lensflow.createCluster, lensflow.deploy,
lensflow.invokeEndpoint, lensflow.cleanUp, lensflow.listClusters, lensflow.listServices,
lensflow.getServiceKeys, lensflow.getServiceLogs); sends lensflow/serviceUpdated,
lensflow/clusterUpdated, $/progress and workspace/codeLens/refresh.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from lensflow_protocol import names

from .. import commands
from ..progress import Progress
from .tracking import refresh_lenses

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

    from ..server import LensflowServer

log = logging.getLogger(__name__)


class Notifier:
    """Sends state changes to the client once each, and remembers them for the monitor."""

    def __init__(self, ls: LensflowServer, progress: Progress | None = None) -> None:
        self.ls, self.progress = ls, progress

    def service_updated(self, name: str, state: str, error: str | None) -> None:
        from lensflow_protocol.deployment import ServiceUpdatedParams

        if self.ls.service_states.get(name) == state:
            return
        self.ls.service_states[name] = state
        params = ServiceUpdatedParams(service_name=name, state=state, error=error)
        self.ls.protocol.notify(names.SERVICE_UPDATED, params.wire())
        if self.progress is not None:
            self.progress.report(f"{name}: {state}")

    def cluster_updated(self, name: str, state: str, error: str | None) -> None:
        from lensflow_protocol.deployment import ClusterUpdatedParams

        params = ClusterUpdatedParams(name=name, state=state, error=error)
        self.ls.protocol.notify(names.CLUSTER_UPDATED, params.wire())
        if self.progress is not None:
            self.progress.report(f"cluster {name}: {state}")


async def monitor_services(ls: LensflowServer, interval_s: float = 0.4) -> None:
    """Watches live service state (a crash, a restart) and reports each change."""
    notifier = Notifier(ls)
    while True:
        try:
            listed = await ls.active_workspace().list_services(None)
        except Exception:  # a bad workspace or a dead cluster: say it in the log, keep watching
            log.debug("service monitor: no state this round", exc_info=True)
        else:
            if ls.cleanups_in_flight:
                # Services being deleted look Failed for a moment; that is not news.
                await asyncio.sleep(interval_s)
                continue
            before = set(ls.services)
            ls.services = {s.service_name: s for s in listed.services}
            for name in set(ls.service_states) - set(ls.services):
                ls.service_states.pop(name, None)
            for service in listed.services:
                notifier.service_updated(service.service_name, service.state, service.error)
            if before != set(ls.services):
                await refresh_lenses(ls)
        await asyncio.sleep(interval_s)


def register(server: LensflowServer) -> None:
    @commands.register(server, names.CREATE_CLUSTER)
    async def create_cluster(ls: LensflowServer, args: CreateClusterArgs) -> ClusterInfo:
        cancel = asyncio.Event()
        async with Progress(ls, f"Creating cluster {args.name}", cancel) as progress:
            return await ls.active_workspace().create_cluster(args, Notifier(ls, progress), cancel)

    @commands.register(server, names.DEPLOY)
    async def deploy(ls: LensflowServer, args: DeployArgs) -> ServiceInfo:
        ls.start_monitor()
        cancel = asyncio.Event()
        async with Progress(ls, f"Deploying {args.service_name}", cancel) as progress:
            info = await ls.active_workspace().deploy(args, Notifier(ls, progress), cancel)
            progress.end(f"{info.service_name}: {info.state}")
        ls.services[info.service_name] = info  # lenses show it now, not at the next look
        await refresh_lenses(ls)
        return info

    @commands.register(server, names.INVOKE_ENDPOINT)
    async def invoke_endpoint(ls: LensflowServer, args: InvokeEndpointArgs) -> InvokeEndpointResult:
        return await ls.active_workspace().invoke_endpoint(args)

    @commands.register(server, names.CLEAN_UP)
    async def clean_up(ls: LensflowServer, args: CleanUpArgs) -> CleanUpResult:
        ls.cleanups_in_flight += 1
        try:
            result = await ls.active_workspace().clean_up(args)
        finally:
            ls.cleanups_in_flight -= 1
        for item in result.deleted:
            if item.kind == "service":
                ls.service_states.pop(item.name, None)
                ls.services.pop(item.name, None)
        await refresh_lenses(ls)
        return result

    @commands.register(server, names.LIST_CLUSTERS)
    async def list_clusters(ls: LensflowServer, args: ListClustersArgs) -> ListClustersResult:
        return await ls.active_workspace().list_clusters()

    @commands.register(server, names.LIST_SERVICES)
    async def list_services(ls: LensflowServer, args: ListServicesArgs) -> ListServicesResult:
        ls.start_monitor()
        return await ls.active_workspace().list_services(args.cluster_name)

    @commands.register(server, names.GET_SERVICE_KEYS)
    async def get_service_keys(ls: LensflowServer, args: ServiceNameArgs) -> ServiceKeys:
        return await ls.active_workspace().get_service_keys(args.service_name)

    @commands.register(server, names.GET_SERVICE_LOGS)
    async def get_service_logs(ls: LensflowServer, args: GetServiceLogsArgs) -> ServiceLogs:
        return await ls.active_workspace().get_service_logs(args.service_name, args.tail)
