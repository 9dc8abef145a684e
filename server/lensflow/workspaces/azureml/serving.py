"""AKS clusters and no-code services of an Azure ML workspace, as the workspace interface.

Long operations (an AKS cluster takes ~20 minutes, a deployment minutes) are polled: each poll is
a short call with a deadline, each state change is an event. `wait: false` returns at once and
a background watcher sends the later events. Cancelling stops the waiting, not the cloud.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from lensflow_protocol.deployment import (
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
from lensflow_protocol.errors import Conflict, LensflowError, NotFound, Unsupported

from lensflow.frameworks import AZURE_NAMES, spoken

from ..base import DeployEvents
from ..catalog import smallest_managed
from ..endpoint import example_body, invoke
from ..placement import is_managed, refuse_attach, require_cluster, require_resource_id
from ..tracking.tags import SCRIPT_TAG
from .calls import cancel_all, poll
from .cleanup import AzureCleanUp
from .convert import (
    CLUSTER_SETTLED,
    NO_CODE_FRAMEWORKS,
    SERVICE_SETTLED,
    cluster_info,
    mlflow_body,
    service_info,
    still_running,
)
from .interface import AksCluster, AksSpec, AzureService, ServiceSpec

if TYPE_CHECKING:
    from .calls import SdkCalls
    from .interface import AzureSdk

log = logging.getLogger(__name__)


class AzureServing(AzureCleanUp):
    """Mixed into AzureMLWorkspace, which provides `sdk` and `calls`."""

    sdk: AzureSdk
    calls: SdkCalls
    cluster_poll_s = 15.0
    service_poll_s = 5.0

    def _init_serving(self) -> None:
        self._watchers: set[asyncio.Task[None]] = set()

    def _watch(self, what: str, wait: Coroutine[Any, Any, object]) -> None:
        """Follows a long operation after its command returned; its events are the news."""

        async def follow() -> None:
            try:
                await wait
            except LensflowError as exc:
                log.warning("stopped following %s: %s", what, exc.message)

        task = asyncio.ensure_future(follow())
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _close_serving(self) -> None:
        await cancel_all(self._watchers)  # bounded: a watcher that ignores a cancel cannot hang

    # --- clusters --------------------------------------------------------------------------
    async def _cluster(self, name: str, until: float | None = None) -> AksCluster:
        found = await self.calls(
            f"look up cluster {name}", lambda: self.sdk.get_cluster(name), until
        )
        if found is None:
            raise NotFound(f"No inference cluster {name!r} in this workspace.", clusterName=name)
        return found

    async def create_cluster(
        self, args: CreateClusterArgs, events: DeployEvents, cancel: asyncio.Event | None = None
    ) -> ClusterInfo:
        if self.sdk.managed_endpoints:
            require_resource_id(args.name, args.resource_id)
        else:
            refuse_attach(args, "Azure ML (SDK v1)")
        until = self.calls.budget()
        doing = f"create cluster {args.name}"
        existing = await self.calls(doing, lambda: self.sdk.get_cluster(args.name), until)
        if existing is not None:
            raise Conflict(
                f"Cluster {args.name!r} already exists ({existing.state}); deploy to it, or "
                "clean it up first.", clusterName=args.name,
            )  # fmt: skip
        spec = AksSpec(
            args.name, args.vm_size, args.node_count, args.cluster_purpose, args.location,
            args.resource_id, args.namespace,
        )  # fmt: skip
        created = await self.calls(doing, lambda: self.sdk.create_cluster(spec), until)
        events.cluster_updated(args.name, "Creating", None)
        if not args.wait:
            self._watch(args.name, self._wait_cluster(args.name, events, None))
            return cluster_info(created, "Creating")
        try:
            settled = await self._wait_cluster(args.name, events, cancel)
        except asyncio.CancelledError:
            events.cluster_updated(args.name, "Creating", still_running("cluster", args.name))
            self._watch(args.name, self._wait_cluster(args.name, events, None))
            raise
        if settled is None:  # cancelled: the cloud goes on, a watcher reports the end
            self._watch(args.name, self._wait_cluster(args.name, events, None))
            return cluster_info(created, "Creating", still_running("cluster", args.name))
        return cluster_info(settled)

    async def _wait_cluster(
        self, name: str, events: DeployEvents, cancel: asyncio.Event | None
    ) -> AksCluster | None:
        last: list[str] = ["Creating"]

        def changed(c: AksCluster) -> None:
            info = cluster_info(c)
            if info.state != last[0]:
                last[0] = info.state
                events.cluster_updated(name, info.state, info.error)

        return await poll(
            lambda: self._cluster(name), lambda c: c.state in CLUSTER_SETTLED, changed,
            self.cluster_poll_s, cancel,
        )  # fmt: skip

    async def list_clusters(self) -> ListClustersResult:
        until = self.calls.budget()
        clusters = await self.calls("list clusters", self.sdk.list_clusters, until)
        services = await self.calls("list services", lambda: self.sdk.list_services(None), until)
        return ListClustersResult(
            clusters=[
                cluster_info(c, services=[s.name for s in services if s.cluster_name == c.name])
                for c in clusters
            ]
        )

    # --- services --------------------------------------------------------------------------
    async def _service(self, name: str, until: float | None = None) -> AzureService:
        found = await self.calls(
            f"look up service {name}", lambda: self.sdk.get_service(name), until
        )
        if found is None:
            raise NotFound(f"No service {name!r} in this workspace.", serviceName=name)
        return found

    async def deploy(
        self, args: DeployArgs, events: DeployEvents, cancel: asyncio.Event | None = None
    ) -> ServiceInfo:
        # The cluster to deploy to; None: a managed endpoint (SDK v2), on the smallest instance
        # type that holds a replica. All of it is decided before any network call.
        target: str | None
        if not self.sdk.managed_endpoints:
            target = require_cluster(args.cluster_name, "Azure ML (SDK v1)")
        elif not args.auth_enabled:
            raise Unsupported(
                "Azure ML online endpoints always need a key: deploy with authEnabled true.",
                authEnabled=False,
            )
        else:
            target = None if is_managed(args.cluster_name) else args.cluster_name
        instance = smallest_managed(args.cpu_cores, args.memory_gb).name if not target else None
        until = self.calls.budget()
        name = args.service_name
        model = await self.calls(
            f"find model {args.model_name}",
            lambda: self.sdk.get_model(args.model_name, args.model_version), until,
        )  # fmt: skip
        if model is None:
            raise NotFound(
                f"No model {args.model_name!r} (version {args.model_version or 'latest'}) in the "
                "workspace's registry; register it first.", modelName=args.model_name,
            )  # fmt: skip
        # SDK v2 checks the model's own type (an MLflow model) when it deploys.
        if not self.sdk.managed_endpoints and model.framework not in NO_CODE_FRAMEWORKS:
            raise Unsupported(
                f"{model.name} version {model.version} is {model.framework or 'of no framework'}; "
                f"a no-code deployment needs {spoken(tuple(AZURE_NAMES))}.",
            )  # fmt: skip
        if target is not None:
            cluster = await self._cluster(target, until)
            if cluster.state != "Succeeded":
                raise Conflict(
                    f"Cluster {cluster.name!r} is {cluster.state}, not ready for services."
                )
        if await self.calls("look up services", lambda: self.sdk.get_service(name), until):
            raise Conflict(f"Service {name!r} already exists; clean it up first.", serviceName=name)
        spec = ServiceSpec(
            name, model.name, model.version, target, args.cpu_cores, args.memory_gb,
            args.auth_enabled, args.replicas, model.tags.get(SCRIPT_TAG), instance,
        )  # fmt: skip
        started = await self.calls(f"deploy {name}", lambda: self.sdk.deploy(spec), until)
        events.service_updated(name, "Transitioning", None)
        if not args.wait:
            self._watch(name, self._settle_service(name, events, None))
            return service_info(started, "Transitioning")
        try:
            settled = await self._settle_service(name, events, cancel)
        except asyncio.CancelledError:
            events.service_updated(name, "Transitioning", still_running("deployment", name))
            self._watch(name, self._settle_service(name, events, None))
            raise
        if settled is None:
            self._watch(name, self._settle_service(name, events, None))
            return service_info(started, "Transitioning", still_running("deployment", name))
        return settled

    async def _settle_service(
        self, name: str, events: DeployEvents, cancel: asyncio.Event | None
    ) -> ServiceInfo | None:
        last: list[str] = ["Transitioning"]

        def changed(s: AzureService) -> None:
            state = service_info(s).state
            if state != last[0]:
                last[0] = state
                events.service_updated(name, state, s.error)

        settled = await poll(
            lambda: self._service(name), lambda s: s.state in SERVICE_SETTLED, changed,
            self.service_poll_s, cancel,
        )  # fmt: skip
        if settled is None:
            return None
        info = service_info(settled)
        if info.state == "Failed":
            try:
                logs = await self.calls(
                    f"read the log of {name}", lambda: self.sdk.service_logs(name, 30)
                )
            except Exception:  # the failure itself is the news; its log is a bonus
                logs = []
            tail = "\n".join(logs)
            info = info.model_copy(update={"error": f"{info.error or 'Failed'}\n{tail}".strip()})
        return info

    async def list_services(self, cluster_name: str | None) -> ListServicesResult:
        found = await self.calls(
            "list services", lambda: self.sdk.list_services(cluster_name), self.calls.budget()
        )
        return ListServicesResult(services=[service_info(s) for s in found])

    async def invoke_endpoint(self, args: InvokeEndpointArgs) -> InvokeEndpointResult:
        until = self.calls.budget()
        name = args.service_name
        if args.path != "/score":
            raise Unsupported("An Azure ML no-code service answers /score only.", path=args.path)
        service = await self._service(name, until)
        if not service.scoring_uri:
            raise Conflict(f"Service {name!r} is {service.state}: it has no scoring URI yet.")
        key = None
        if service.auth_enabled:
            key = (await self.calls(f"get keys of {name}", lambda: self.sdk.service_keys(name)))[0]
        body = args.input
        if body is None:
            if not service.swagger_uri:
                raise Unsupported(f"Service {name!r} documents no example request; pass `input`.")
            body = await asyncio.to_thread(example_body, service.swagger_uri, args.path)
        if self.sdk.managed_endpoints:  # SDK v2 serves MLflow models: Azure's MLflow body
            body = mlflow_body(body)
        return await asyncio.to_thread(invoke, service.scoring_uri, key, body, name)

    async def get_service_keys(self, service_name: str) -> ServiceKeys:
        doing = f"get keys of {service_name}"
        await self._service(service_name)
        primary, secondary = await self.calls(doing, lambda: self.sdk.service_keys(service_name))
        return ServiceKeys(primary_key=primary, secondary_key=secondary)

    async def get_service_logs(self, service_name: str, tail: int) -> ServiceLogs:
        await self._service(service_name)
        doing = f"read the log of {service_name}"
        lines = await self.calls(doing, lambda: self.sdk.service_logs(service_name, tail))
        return ServiceLogs(lines=lines[-tail:])
