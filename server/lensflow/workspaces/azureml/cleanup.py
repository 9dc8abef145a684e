"""cleanUp on an Azure ML workspace: services first, then the clusters Lensflow made.

SDK v1 deletes the AKS clusters it created; SDK v2 detaches the Kubernetes computes it attached
(their clusters stay). A cluster Lensflow did not make is left alone by `all: true`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from lensflow_protocol.deployment import CleanUpArgs, CleanUpResult, Deleted

from .interface import AksCluster, AzureService

if TYPE_CHECKING:
    from .calls import SdkCalls
    from .interface import AzureSdk


class AzureCleanUp:
    """Mixed into AzureServing, which provides the lookups."""

    sdk: AzureSdk
    calls: SdkCalls

    async def _cluster(self, name: str, until: float | None = None) -> AksCluster:
        raise NotImplementedError

    async def _service(self, name: str, until: float | None = None) -> AzureService:
        raise NotImplementedError

    async def clean_up(self, args: CleanUpArgs) -> CleanUpResult:
        until = self.calls.budget()
        sdk = self.sdk
        clusters: list[str] = []
        if args.service_name:
            services = [(await self._service(args.service_name, until)).name]
        else:
            if args.cluster_name:
                clusters = [(await self._cluster(args.cluster_name, until)).name]
            else:
                found_clusters = await self.calls("list clusters", sdk.list_clusters, until)
                clusters = [c.name for c in found_clusters if c.owned]
            on = args.cluster_name
            found = await self.calls("list services", lambda: sdk.list_services(on), until)
            services = [s.name for s in found]
        deleted: list[Deleted] = []
        for name in services:  # services first: a cluster with services cannot go
            await self.calls(f"delete service {name}", _bind(sdk.delete_service, name), until)
            deleted.append(Deleted(kind="service", name=name))
        for name in clusters:
            await self.calls(f"delete cluster {name}", _bind(sdk.delete_cluster, name), until)
            deleted.append(Deleted(kind="cluster", name=name))
        return CleanUpResult(deleted=deleted)


def _bind(fn: Callable[[str], None], name: str) -> Callable[[], None]:
    return lambda: fn(name)
