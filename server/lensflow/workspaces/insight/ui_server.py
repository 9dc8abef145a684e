"""One `mlflow server` on 127.0.0.1 over a tracking store: start it, see it answer, stop it whole.

MLflow's server is a process tree (its CLI, uvicorn, and with job execution a job runner and
huey consumers that outlive a SIGTERM of the CLI). It runs in its own process group: stopping
signals the whole group, escalates to SIGKILL, and /proc confirms that nothing of it is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lensflow_protocol.errors import StoreError, Unreachable

from ...processes import (
    free_port,
    group_members,
    register_group,
    stop_group,
    tail_file,
    unregister_group,
)

log = logging.getLogger(__name__)
HOST = "127.0.0.1"
READY_S = 40.0
GRACE_S = 5.0

# Runs first in the child: the server gets SIGTERM when the editor's server dies, even by -9
# (the signal survives exec); a parent already gone by then means: do not start at all.
_DIE_WITH_PARENT = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)\n"
    "if os.getppid() != int(sys.argv[1]): sys.exit(1)\n"
    "os.execv(sys.argv[2], sys.argv[2:])\n"
)


@dataclass
class UiServer:
    store_uri: str
    port: int
    proc: asyncio.subprocess.Process
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def pgid(self) -> int:
        return self.proc.pid  # start_new_session: the leader's pid names the group

    def running(self) -> bool:
        return self.proc.returncode is None


def server_argv(python: str, store_uri: str, artifact_root: Path | None, port: int) -> list[str]:
    argv = [python, "-m", "mlflow", "server", "--backend-store-uri", store_uri,
            "--host", HOST, "--port", str(port), "--workers", "1"]  # fmt: skip
    if artifact_root is not None:
        # Runs keep absolute artifact paths, which the server reads directly; the root only
        # matters for experiments created from the UI.
        argv += ["--default-artifact-root", str(artifact_root), "--no-serve-artifacts"]
    if sys.platform.startswith("linux"):
        argv = [python, "-c", _DIE_WITH_PARENT, str(os.getpid()), *argv]
    return argv


async def start(
    store_uri: str,
    artifact_root: Path | None,
    log_path: Path,
    python: str = sys.executable,
    ready_s: float = READY_S,
) -> UiServer:
    """Start the server and wait until it answers `/health`; raises a LensflowError with the
    tail of its log if it exits or stays silent."""
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    # Job execution (GenAI jobs) adds a runner and seven huey consumers: nothing the runs
    # pages need, and it triples the start-up time.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    with open(log_path, "wb") as log_file:
        proc = await asyncio.create_subprocess_exec(
            *server_argv(python, store_uri, artifact_root, port),
            cwd=str(log_path.parent),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
        )
    server = UiServer(store_uri, port, proc, log_path)
    register_group(server.pgid)  # SIGKILLed at exit if never stopped
    log.info("mlflow server (group %d) starting on %s", server.pgid, server.url)
    try:
        await _wait_ready(server, ready_s)
    except BaseException:  # failed, or the request was cancelled: leave nothing behind
        await stop(server)
        raise
    return server


async def _wait_ready(server: UiServer, ready_s: float) -> None:
    deadline = time.monotonic() + ready_s
    while not await answers(server.url):
        if not server.running():
            raise StoreError(
                f"MLflow's tracking server exited (code {server.proc.returncode}) before it "
                f"answered. The end of its log ({server.log_path}):\n{_tail(server)}",
                log=str(server.log_path),
            )
        if time.monotonic() > deadline:
            raise Unreachable(
                f"MLflow's tracking server did not answer on {server.url} within "
                f"{ready_s:.0f} s. The end of its log ({server.log_path}):\n{_tail(server)}",
                log=str(server.log_path),
            )
        await asyncio.sleep(0.2)


def _tail(server: UiServer) -> str:
    return "\n".join(tail_file(server.log_path, 20)) or "(empty)"


async def answers(url: str, timeout: float = 2.0) -> bool:
    """True when `GET /health` answers 200 (a raw request: no proxy settings apply)."""
    host, port = url.removeprefix("http://").split(":")
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), timeout)
    except (OSError, TimeoutError):
        return False
    try:
        writer.write(f"GET /health HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n".encode())
        status = await asyncio.wait_for(reader.readline(), timeout)
        return status.split(b" ")[1:2] == [b"200"]
    except (OSError, TimeoutError):
        return False
    finally:
        writer.close()


async def stop(server: UiServer, grace: float = GRACE_S) -> list[int]:
    """SIGTERM the group, SIGKILL it if anything stays; returns the pids that survived."""
    pgid = server.pgid
    await stop_group(pgid, grace)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(server.proc.wait(), 2.0)  # reap the leader
    unregister_group(pgid)
    survivors = group_members(pgid)
    if survivors:
        log.warning("mlflow server group %d: %s survived SIGKILL", pgid, survivors)
    return survivors
