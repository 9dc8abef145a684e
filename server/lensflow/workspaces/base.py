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

if TYPE_CHECKING:
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
    @abc.abstractmethod
    def display_name(self) -> str: ...

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

    async def warm(self) -> None:  # noqa: B027 - optional hook
        """Start slow machinery (a store process, a sign-in) ahead of the first call."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the workspace holds (threads, connections)."""
