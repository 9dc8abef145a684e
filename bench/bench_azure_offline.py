"""The Azure ML workspace with no network: how fast does a command fail, against the SDK itself.

A Lensflow server on a workspace whose `config.json` names an Azure ML workspace, once per Azure
SDK (`azureSdk` "v1": azureml-core; "v2": azure-ai-ml), started with a service principal in its
environment (fake values) and no network. "No network" is the closed port of
`tests.e2e.offline_network`: `HTTPS_PROXY` / `HTTP_PROXY` point at a port on 127.0.0.1 that
nothing listens on (`NO_PROXY` empty), so every request is refused at once and the figures do
not depend on this machine's routes or DNS. Each command of the contract is sent once; the figure
is the slowest reply (it must be an `unreachable` error, the issue's bound is 60 s). With v2,
`createCluster` without a `resourceId` answers `unsupported` before any request, by design
(managed online endpoints need no cluster).

The peer is the bare SDK doing the first thing every command needs, in a fresh interpreter under
the same closed network, timed to its exception (import included): what a user's own script
would wait. v1: `Workspace.from_config` + `get_mlflow_tracking_uri`; v2: `MLClient(
ClientSecretCredential(...), subscription, resource group, workspace)` + `workspaces.get`.
A server with no credentials at all answers `notSignedIn` before any network call; that is
measured too, for both SDKs.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

from tests.e2e.offline_network import closed

from .common import PYTHON, Figure, ratio
from .rpc import RpcClient, RpcError, initialize_params

BOUND_S = 60.0
CONFIG = {"subscription_id": "0" * 8, "resource_group": "rg", "workspace_name": "mlw-bench"}
SP = {"AZURE_TENANT_ID": "t-bench", "AZURE_CLIENT_ID": "c-bench", "AZURE_CLIENT_SECRET": "s"}
COMMANDS: dict[str, dict[str, Any]] = {
    "lensflow.listExperiments": {},
    "lensflow.trackRun": {"script": "train.py"},
    "lensflow.registerModel": {"runId": "r", "modelName": "m", "modelPath": "model.pkl"},
    "lensflow.createCluster": {"name": "aks-1", "wait": False},
    "lensflow.deploy": {"serviceName": "svc", "modelName": "m", "clusterName": "aks-1"},
    "lensflow.invokeEndpoint": {"serviceName": "svc"},
    "lensflow.listServices": {},
    "lensflow.cleanUp": {"all": True},
}
# The kinds of error each server must answer with, and nothing else.
EXPECTED = {
    ("v1", "sp"): {"unreachable"},
    ("v1", "none"): {"notSignedIn"},
    ("v2", "sp"): {"unreachable", "unsupported"},  # createCluster without resourceId
    ("v2", "none"): {"notSignedIn", "unsupported"},
}
SDK_PEER_V1 = """
import time, sys
started = time.perf_counter()  # the import counts: Lensflow's first command pays it too
from azureml.core import Workspace
from azureml.core.authentication import ServicePrincipalAuthentication
try:
    auth = ServicePrincipalAuthentication("t-bench", "c-bench", "s")
    Workspace.from_config(path=sys.argv[1], auth=auth).get_mlflow_tracking_uri()
except Exception as exc:
    print(time.perf_counter() - started, type(exc).__name__)
"""
SDK_PEER_V2 = """
import json, time, sys
started = time.perf_counter()  # the import counts: Lensflow's first command pays it too
from azure.ai.ml import MLClient
from azure.identity import ClientSecretCredential
config = json.load(open(sys.argv[1]))
try:
    credential = ClientSecretCredential("t-bench", "c-bench", "s")
    ws = config["workspace_name"]
    MLClient(credential, config["subscription_id"], config["resource_group"], ws).workspaces.get(ws)
except Exception as exc:
    print(time.perf_counter() - started, type(exc).__name__)
"""


def _env(extra: dict[str, str], sdk: Literal["v1", "v2"]) -> dict[str, str]:
    """This process's environment without any Azure sign-in, plus `extra`, network closed for
    `sdk` (v1 gets no ARM_CLOUD_METADATA_URL: azureml-core would fail on it before signing in)."""
    bare = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AZURE_", "IDENTITY_", "MSI_", "MLFLOW_TRACKING"))
    }
    return closed({**bare, **extra}, sdk=sdk)


async def _slowest(root: Path, env: dict[str, str], sdk: str) -> tuple[float, str, set[str]]:
    """The slowest command's time and name, and the kinds of error the commands answered."""
    client = await RpcClient.spawn([PYTHON, "-m", "lensflow"], cwd=root, env=env)
    try:
        params = initialize_params(root)
        params["initializationOptions"] = {"workspace": "config.json", "azureSdk": sdk}
        await client.request("initialize", params, timeout=30)
        client.notify("initialized", {})
        slowest, slowest_command, kinds = 0.0, "", set()
        for command, arguments in COMMANDS.items():
            started = time.perf_counter()
            try:
                await client.request(
                    "workspace/executeCommand",
                    {"command": command, "arguments": [arguments]},
                    timeout=BOUND_S + 30,
                )
                kinds.add("answered")  # a result: not what an offline server should give
            except RpcError as exc:
                kinds.add(str((exc.data or {}).get("kind")))
            took = time.perf_counter() - started
            if took > slowest:
                slowest, slowest_command = took, command.removeprefix("lensflow.")
        return slowest, slowest_command, kinds
    finally:
        await client.close()


def _sdk_peer(sdk: Literal["v1", "v2"], config: Path) -> tuple[float, str]:
    """The peer's time to its exception, and the exception's class name."""
    code = SDK_PEER_V1 if sdk == "v1" else SDK_PEER_V2
    done = subprocess.run(
        [PYTHON, "-c", code, str(config)], env=_env(SP, sdk), capture_output=True, text=True,
        timeout=600, check=True,
    )  # fmt: skip
    seconds, name = done.stdout.split()[:2]
    return float(seconds), name


def _figure(
    sdk: str, who: str, measured: tuple[float, str, set[str]], peer: tuple[float, str] | None
) -> Figure:
    value, command, kinds = measured
    expected = EXPECTED[(sdk, who)]
    note = f"kinds: {sorted(kinds)}; slowest: {command}"
    if who == "sp":
        assert peer is not None
        name = f"{sdk}: slowest command, service principal, no network"
        peer_name = (
            "azureml-core from_config + get_mlflow_tracking_uri to its exception"
            if sdk == "v1"
            else "azure-ai-ml MLClient(ClientSecretCredential) + workspaces.get to its exception"
        )
        return Figure(
            name, value, "s", peer=peer_name, peer_value=peer[0], ratio=ratio(value, peer[0]),
            target=f"≤ {BOUND_S:.0f} s, {' / '.join(sorted(expected))}",
            ok=value <= BOUND_S and kinds == expected, note=f"{note}; peer raised {peer[1]}",
        )  # fmt: skip
    return Figure(
        f"{sdk}: slowest command, no credentials", value, "s",
        target=f"≤ {BOUND_S:.0f} s, {' / '.join(sorted(expected))}",
        ok=value <= BOUND_S and kinds == expected, note=note,
    )  # fmt: skip


async def _run() -> dict[str, Figure]:
    with tempfile.TemporaryDirectory(prefix="lensflow-bench-azure-") as tmp:
        root = Path(tmp)
        config = root / "config.json"
        config.write_text(json.dumps(CONFIG))
        (root / "train.py").write_text("import mlflow\n")
        # Each server, then its peer, SDK after SDK; then the servers with no credentials.
        v1 = await _slowest(root, _env(SP, "v1"), "v1")
        v1_peer = await asyncio.to_thread(_sdk_peer, "v1", config)
        v2 = await _slowest(root, _env(SP, "v2"), "v2")
        v2_peer = await asyncio.to_thread(_sdk_peer, "v2", config)
        v1_unsigned = await _slowest(root, _env({}, "v1"), "v1")
        v2_unsigned = await _slowest(root, _env({}, "v2"), "v2")
    return {
        "offline_slowest_s": _figure("v1", "sp", v1, v1_peer),
        "unsigned_slowest_s": _figure("v1", "none", v1_unsigned, None),
        "v2_offline_slowest_s": _figure("v2", "sp", v2, v2_peer),
        "v2_unsigned_slowest_s": _figure("v2", "none", v2_unsigned, None),
    }


def run() -> dict[str, Figure]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for key, figure in run().items():
        print(key, figure)
