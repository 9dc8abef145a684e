"""The interface every workspace (local, azureml, later an SDK v2 one) offers the server.

Workspaces know nothing of LSP: they take validated arguments, report progress through plain
callbacks, and raise `LensflowError`s a person can act on.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from lensflow_protocol.errors import Unsupported

if TYPE_CHECKING:
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
    from lensflow_protocol.settings import WorkspaceInfo
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


class RunEvents(Protocol):
    """What a workspace tells its caller while a run goes on."""

    def started(self, run_id: str, experiment_name: str) -> None: ...

    def output(self, run_id: str, stream: str, text: str) -> None: ...


class DeployEvents(Protocol):
    """What a workspace tells its caller while clusters and services change state."""

    def service_updated(self, name: str, state: str, error: str | None) -> None: ...

    def cluster_updated(self, name: str, state: str, error: str | None) -> None: ...


@dataclass(frozen=True)
class TrackRequest:
    """A `trackRun`, resolved: absolute script path and the experiment it goes to."""

    script: Path
    experiment_name: str
    args: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    run_name: str | None = None


class Workspace(abc.ABC):
    kind: str
    """"local", "azureml", …: shown to users (status bar, errors)."""

    @property
    def deploys_without_cluster(self) -> bool:
        """True when a deployment may leave out clusterName (an Azure ML managed endpoint)."""
        return False

    @property
    @abc.abstractmethod
    def display_name(self) -> str: ...

    @abc.abstractmethod
    def describe(self) -> WorkspaceInfo:
        """What a status bar shows; cheap, and never signs in."""

    @abc.abstractmethod
    async def track_run(
        self, request: TrackRequest, events: RunEvents, cancel: asyncio.Event
    ) -> TrackRunResult: ...

    @abc.abstractmethod
    async def register_model(self, args: RegisterModelArgs) -> RegisterModelResult: ...

    @abc.abstractmethod
    async def list_experiments(self) -> ListExperimentsResult: ...

    @abc.abstractmethod
    async def list_runs(self, args: ListRunsArgs) -> ListRunsResult: ...

    @abc.abstractmethod
    async def get_run(self, run_id: str) -> RunDetail: ...

    @abc.abstractmethod
    async def list_models(self) -> ListModelsResult: ...

    # --- clusters and services: a workspace that cannot deploy says so ------------------
    def _cannot(self, what: str) -> Unsupported:
        return Unsupported(f"The {self.kind} workspace cannot {what}.", workspace=self.kind)

    # `cancel` (a client's progress cancel) stops the waiting, never the operation itself.
    async def create_cluster(
        self, args: CreateClusterArgs, events: DeployEvents, cancel: asyncio.Event | None = None
    ) -> ClusterInfo:
        raise self._cannot("create clusters")

    async def deploy(
        self, args: DeployArgs, events: DeployEvents, cancel: asyncio.Event | None = None
    ) -> ServiceInfo:
        raise self._cannot("deploy")

    async def invoke_endpoint(self, args: InvokeEndpointArgs) -> InvokeEndpointResult:
        raise self._cannot("invoke endpoints")

    async def clean_up(self, args: CleanUpArgs) -> CleanUpResult:
        raise self._cannot("clean up")

    async def list_clusters(self) -> ListClustersResult:
        from lensflow_protocol.deployment import ListClustersResult

        return ListClustersResult(clusters=[])

    async def list_services(self, cluster_name: str | None) -> ListServicesResult:
        from lensflow_protocol.deployment import ListServicesResult

        return ListServicesResult(services=[])

    async def get_service_keys(self, service_name: str) -> ServiceKeys:
        raise self._cannot("hand out service keys")

    async def get_service_logs(self, service_name: str, tail: int) -> ServiceLogs:
        raise self._cannot("show service logs")

    def watched_paths(self) -> list[Path]:
        """Files another client's change shows in (`StoreWatcher`); none where the store is
        not on this machine."""
        return []

    async def warm(self) -> None:  # noqa: B027 - optional hook
        """Start slow machinery (a store process, a sign-in) ahead of the first call."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the workspace holds (threads, connections)."""
