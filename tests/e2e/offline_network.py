"""The offline tests' "no network", made real whatever this machine's routes: a server
environment in which every address the Azure SDKs could reach is a closed port on 127.0.0.1,
so that each attempt is refused at once ("Connection refused") instead of depending on DNS,
routes or firewalls.

The closing is the proxy: `HTTPS_PROXY` / `HTTP_PROXY` name the closed port and `NO_PROXY` is
empty, and the HTTP stacks of both SDKs send every request through it. `closed(env, sdk=...)`
gives a server's environment for one SDK.

- SDK v1 (azureml-core): the service principal's token comes from MSAL's
  `ConfidentialClientApplication` (`azureml._vendor.azure_cli_core.auth.msal_authentication
  .ServicePrincipalCredential`), whose HTTP client is a `requests.Session` (it honours the
  proxy variables); the ARM calls go through azure-core's requests transport (the workspace
  client) and `requests` (`azureml._base_sdk_common.service_discovery`, the workspace's
  discovery URL), which honour them too. Checked with an audit hook on `socket.connect` /
  `socket.getaddrinfo` (azureml-core 1.61) in the server and its children over every command of
  `tests/e2e/test_azureml_offline.py` (they stop at the sign-in), and in a script that stubs the
  token in and calls `Workspace.from_config`, `get_mlflow_tracking_uri` and `Model.list` (they
  reach ARM): no name is looked up and nothing but the closed port is connected to.
  `ARM_CLOUD_METADATA_URL` is left out (and removed) for v1: the vendored
  `azureml._vendor.azure_cli_core.cloud.get_known_clouds` reads it too (with urllib), and a
  refused metadata URL raises there, before any sign-in, so every command would fail on the
  cloud metadata instead of on the sign-in and the ARM calls this is meant to cut.
- SDK v2 (azure-ai-ml, azure-identity): `ARM_CLOUD_METADATA_URL` alone does not do it: when the
  metadata URL is refused, `azure.ai.ml._azure_environments._get_clouds_by_metadata_url` logs a
  warning and returns no clouds, and `_get_default_cloud_name` then falls back to the public
  cloud (login.microsoftonline.com, management.azure.com); and MSAL checks a custom
  `AZURE_AUTHORITY_HOST` against login.microsoftonline.com. So the proxy (honoured by
  azure-core's requests transport) is the same closed port: the metadata, the token and the ARM
  requests all meet "Connection refused" on 127.0.0.1.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import Literal


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: bound, read, closed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


CLOSED = f"127.0.0.1:{closed_port()}"
_PROXY_NAMES = ("HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY", "ALL_PROXY")
# Every request of either SDK goes to the closed port.
CLOSED_PROXY = {"HTTPS_PROXY": f"http://{CLOSED}", "HTTP_PROXY": f"http://{CLOSED}", "NO_PROXY": ""}
# SDK v2 also fetches its cloud from the closed port, and sends no telemetry.
CLOSED_NETWORK = {
    **CLOSED_PROXY,
    "ARM_CLOUD_METADATA_URL": f"https://{CLOSED}/metadata/endpoints?api-version=2019-05-01",
    "AZUREML_SDKV2_TELEMETRY_OPTOUT": "1",
}


def closed(env: Mapping[str, str], *, sdk: Literal["v1", "v2"]) -> dict[str, str]:
    """`env` with its own proxy settings (any case) and cloud choice replaced by the closed
    network for `sdk`."""
    dropped = ("AZUREML_CURRENT_CLOUD", "ARM_CLOUD_METADATA_URL")
    kept = {k: v for k, v in env.items() if k.upper() not in _PROXY_NAMES and k not in dropped}
    return {**kept, **(CLOSED_NETWORK if sdk == "v2" else CLOSED_PROXY)}
