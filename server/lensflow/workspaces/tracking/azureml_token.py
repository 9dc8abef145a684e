"""Makes azureml-mlflow sign its requests with the server's token, in a child process.

azureml-mlflow (1.6x) reads `MLFLOW_TRACKING_TOKEN` only inside an Azure ML job (when
`MLFLOW_RUN_ID` and an experiment are set too, see its `service_context_loader`). Anywhere else
it signs in afresh through a chain of credentials that ends in a browser and a device-code
prompt: in a training child or the store worker, that would wait on a person who is not there.
So the child registers, for its tracking URI, the service context azureml-mlflow would build,
holding the token the server got; the run's artifacts use the same context.

Standard library only at import: `run_bootstrap.py` loads this file by path in the training
interpreter, the store worker imports it; both call `use_tracking_token()` before mlflow's first
store is built. Nothing happens when the URI is not `azureml://` or azureml-mlflow is missing.
"""

from __future__ import annotations

import base64
import json
import os
import re
import time
from typing import Any
from urllib.parse import urlparse

_WORKSPACE = re.compile(
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/?]+)",
    re.IGNORECASE,
)


def _expiry(token: str) -> int:
    """The JWT's own `exp`, or an hour from now for a token that is not a JWT."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return int(time.time()) + 3600


class _StaticToken:
    """A TokenCredential that hands out the server's token for any scope."""

    def __init__(self, token: str) -> None:
        self._token = token
        self._expires_on = _expiry(token)

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, self._expires_on)


def use_tracking_token(uri: str | None = None, token: str | None = None) -> bool:
    """Registers the token for `uri` (default: the environment's); True when it did."""
    uri = uri if uri is not None else os.environ.get("MLFLOW_TRACKING_URI", "")
    token = token if token is not None else os.environ.get("MLFLOW_TRACKING_TOKEN")
    parsed = urlparse(uri)
    found = _WORKSPACE.search(parsed.path)
    if parsed.scheme != "azureml" or not token or found is None:
        return False
    try:
        from azureml.mlflow._common._cloud.cloud import _get_cloud_or_default
        from azureml.mlflow._internal.service_context_loader import (
            _AzureMLServiceContextLoader,
        )
        from azureml.mlflow._internal.utils import ServiceContext
    except ImportError:  # no azureml-mlflow: mlflow will say the scheme is unknown
        return False
    context = ServiceContext(
        host_url=f"https://{parsed.netloc}", subscription_id=found["sub"],
        workspace_name=found["ws"], resource_group_name=found["rg"],
        auth=_StaticToken(token), cloud=_get_cloud_or_default(),
    )  # fmt: skip
    _AzureMLServiceContextLoader.add_service_context(uri, context)
    return True
