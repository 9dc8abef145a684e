"""Helpers for the fault, load and security tests: processes seen through /proc, servers that
can be killed, and the seed's model trained, registered and deployed over stdio."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from lensflow.processes import pid_alive, pids_with_env
from lensflow.workspaces.local.state import Store
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient
from pytest_lsp.client import make_test_lsp_client

from tests.conftest import SERVER_COMMAND, execute, notes, record, start

SLOW = """\
import os, subprocess, sys, time, mlflow
mlflow.log_param("alpha", 0.5)
mlflow.log_metric("loss", 0.25, step=0)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
open("pids.txt", "w").write(f"{os.getpid()} {os.getpgid(0)} {child.pid}")
print("ready", flush=True)
time.sleep(120)
"""
"""A run that waits: it writes its own pid (the bootstrap's: the script runs in it), its group
and its child's pid, then says "ready"."""


async def new_server(
    root: Path,
    command: list[str] | None = None,
    env: Mapping[str, str] | None = None,
    **options: Any,
) -> LanguageClient:
    """A Lensflow server over stdio on `root`, recording its notifications (`notes`)."""
    client = make_test_lsp_client()  # answers progress requests, keeps messages, like the fixture
    record(client)
    kwargs: dict[str, Any] = {"env": {**os.environ, **env}} if env else {}
    await client.start_io(*(command or SERVER_COMMAND), **kwargs)
    await start(client, root, **options)
    return client


def server_pid(client: LanguageClient) -> int:
    process = client._server
    assert process is not None
    return int(process.pid)


async def forget(client: LanguageClient, *pending: asyncio.Future[Any]) -> None:
    """Lets go of a client whose server is dead (killed with -9)."""
    for future in pending:
        future.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    await client.stop()  # type: ignore[no-untyped-call]


async def close(client: LanguageClient) -> None:
    """Shuts the server down (shutdown, exit) and lets go of it."""
    await client.shutdown_session()
    await client.stop()  # type: ignore[no-untyped-call]


def data(error: JsonRpcException) -> dict[str, Any]:
    """A JSON-RPC error's `data`: Lensflow always sends an object."""
    assert isinstance(error.data, dict), error
    return error.data


async def wait_for(predicate: Any, timeout: float, interval: float = 0.02) -> float:
    """Polls `predicate()` until true; returns when it became true (monotonic seconds)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {predicate}")
        await asyncio.sleep(interval)
    return time.monotonic()


async def output_seen(client: LanguageClient, needle: str, timeout: float = 60) -> str:
    """The run id of the first runOutput that holds `needle`."""

    def found() -> str | None:
        for note in notes(client, "lensflow/runOutput"):
            if needle in note["text"]:
                return str(note["runId"])
        return None

    await wait_for(lambda: found() is not None, timeout)
    run_id = found()
    assert run_id is not None
    return run_id


def service_processes(home: Path, service: str) -> list[int]:
    """Every live process of a service: uvicorn and its workers carry the service's marker."""
    return [pid for pid in pids_with_env(Store(home).marker(service)) if pid_alive(pid)]


def rss_kib(pids: list[int]) -> int:
    """Resident set size, summed, from /proc/<pid>/status (VmRSS, in KiB)."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def listening(port: int) -> list[tuple[str, str]]:
    """(file, local address) of every LISTEN socket on `port`, from /proc/net/tcp and tcp6."""
    found = []
    for name in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{name}").read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == "0A" and int(hex_port, 16) == port:  # 0A = TCP_LISTEN
                found.append((name, decode_address(address)))
    return found


def decode_address(hex_address: str) -> str:
    """/proc/net/tcp's address: 32-bit words in host (little-endian) order."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    if len(words) == 4:
        return ".".join(str(b) for b in words)
    import ipaddress

    return str(ipaddress.IPv6Address(words))


def port_of(uri: str) -> int:
    port = urlparse(uri).port
    assert port is not None
    return port


async def seed_model_and_cluster(client: LanguageClient) -> None:
    """The seed's workflow before deploy: train.py tracked, diabetes_model registered, aks-dev."""
    run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    assert run["status"] == "FINISHED", run["outputTail"]
    await execute(
        client, "lensflow.registerModel",
        {"runId": run["runId"], "modelName": "diabetes_model", "modelPath": "model.pkl"},
    )  # fmt: skip
    await execute(client, "lensflow.createCluster", {"name": "aks-dev"})


async def seed_service(
    client: LanguageClient, service: str = "diabetes-service", **deploy: Any
) -> dict[str, Any]:
    """The seed's workflow up to a Healthy service: track train.py, register, cluster, deploy."""
    await seed_model_and_cluster(client)
    info: dict[str, Any] = await execute(
        client, "lensflow.deploy",
        {"serviceName": service, "modelName": "diabetes_model", "clusterName": "aks-dev",
         **deploy},
    )  # fmt: skip
    assert info["state"] == "Healthy", info.get("error")
    return info
