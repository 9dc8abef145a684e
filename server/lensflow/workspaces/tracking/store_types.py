"""The typed results of store calls that are not wire models: shared by the store worker's
side (`MlflowStore`) and the server's (`StoreClient`, via `store_calls`)."""

from __future__ import annotations

from typing import NamedTuple, TypedDict


class RunData(NamedTuple):
    """What a finished run logged: the server's own read-back when the script could not say."""

    params: dict[str, str]
    metrics: dict[str, float]
    artifacts: list[str]


class ModelFiles(TypedDict):
    """Where a registered version's files are on this machine (`MlflowStore.model_artifact`)."""

    name: str
    version: int
    framework: str
    path: str
    script: str | None


class RegistrationPlan(TypedDict):
    """What a registration will take (`MlflowStore.plan_registration`): the artifact path, its
    framework, and the artifact path of the MLflow model to make of it (None: it is one);
    `ready` when that was made before."""

    framework: str
    path: str
    mlflowPath: str | None
    ready: bool
