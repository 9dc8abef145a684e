"""The Azure ML workspace with no network: how fast does a command fail, against the SDK itself.

A Lensflow server on a workspace whose `config.json` names an Azure ML workspace, started with a
service principal in its environment (fake values) and no route to Azure. Each command of the
contract is sent once; the figure is the slowest reply (it must be an `unreachable` error, the
issue's bound is 60 s). The peer is the bare azureml-core doing the first thing every command
needs (import, `Workspace.from_config` + `get_mlflow_tracking_uri`) in a fresh interpreter, timed
to its exception: what a user's own script would wait. A server with no credentials at all answers
`notSignedIn` before any network call; that is measured too.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

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
SDK_PEER = """
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


def _env(extra: dict[str, str]) -> dict[str, str]:
    bare = {k: v for k, v in os.environ.items() if not k.startswith(("AZURE_", "IDENTITY_"))}
    return {**bare, **extra}


async def _slowest(root: Path, env: dict[str, str]) -> tuple[float, set[str]]:
    client = await RpcClient.spawn([PYTHON, "-m", "lensflow"], cwd=root, env=env)
    try:
        params = initialize_params(root)
        params["initializationOptions"] = {"workspace": "config.json"}
        await client.request("initialize", params, timeout=30)
        client.notify("initialized", {})
        slowest, kinds = 0.0, set()
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
            slowest = max(slowest, time.perf_counter() - started)
        return slowest, kinds
    finally:
        await client.close()


def _sdk_peer(config: Path) -> float:
    done = subprocess.run(
        [PYTHON, "-c", SDK_PEER, str(config)], env=_env(SP), capture_output=True, text=True,
        timeout=600, check=True,
    )  # fmt: skip
    return float(done.stdout.split()[0])


async def _run() -> dict[str, Figure]:
    with tempfile.TemporaryDirectory(prefix="lensflow-bench-azure-") as tmp:
        root = Path(tmp)
        (root / "config.json").write_text(json.dumps(CONFIG))
        (root / "train.py").write_text("import mlflow\n")
        offline, offline_kinds = await _slowest(root, _env(SP))
        unsigned, unsigned_kinds = await _slowest(root, _env({}))
        peer = await asyncio.to_thread(_sdk_peer, root / "config.json")
    offline_figure = Figure(
        "slowest command, service principal, no network", offline, "s",
        peer="azureml-core from_config + get_mlflow_tracking_uri to its exception",
        peer_value=peer, ratio=ratio(offline, peer), target=f"≤ {BOUND_S:.0f} s, unreachable",
        ok=offline <= BOUND_S and offline_kinds == {"unreachable"},
        note=f"kinds: {sorted(offline_kinds)}",
    )  # fmt: skip
    unsigned_figure = Figure(
        "slowest command, no credentials", unsigned, "s", target=f"≤ {BOUND_S:.0f} s",
        ok=unsigned <= BOUND_S and unsigned_kinds == {"notSignedIn"},
        note=f"kinds: {sorted(unsigned_kinds)}",
    )  # fmt: skip
    return {"offline_slowest_s": offline_figure, "unsigned_slowest_s": unsigned_figure}


def run() -> dict[str, Figure]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for key, figure in run().items():
        print(key, figure)
