"""The store worker for an Azure ML workspace: Azure's tracking URI plus a bearer token.

azureml-mlflow, given only an `azureml://` URI, falls back to an interactive browser sign-in;
with `MLFLOW_TRACKING_TOKEN` in the environment it uses that token instead. Tokens expire, so
the worker is restarted with a fresh one when the cache hands out a new token.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from ..tracking.store_client import StoreClient

if TYPE_CHECKING:
    from .calls import TrackingCache

# Fail fast rather than retry for minutes when Azure is unreachable (mlflow's own defaults).
HTTP_ENV = {"MLFLOW_HTTP_REQUEST_TIMEOUT": "20", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1"}


def child_env(uri: str, token: str | None) -> dict[str, str]:
    """What a child talking to Azure's tracking store needs, over the server's environment."""
    env = {**os.environ, **HTTP_ENV, "MLFLOW_TRACKING_URI": uri}
    if token:
        env["MLFLOW_TRACKING_TOKEN"] = token
    else:
        env.pop("MLFLOW_TRACKING_TOKEN", None)
    return env


class AzureStoreClient(StoreClient):
    def __init__(self, tracking: TrackingCache) -> None:
        super().__init__("azureml:")
        self._tracking = tracking
        self._token: str | None = None

    def child_env(self) -> dict[str, str] | None:
        return child_env(self.tracking_uri, self._token)

    async def _ensure(self) -> asyncio.subprocess.Process:
        current = await self._tracking.get()
        if self._proc is not None and current.token != self._token:
            await self.close()  # the worker holds an old token: start afresh
        if self._proc is None or self._proc.returncode is not None:
            self.tracking_uri, self._token = current.uri, current.token
        return await super()._ensure()
