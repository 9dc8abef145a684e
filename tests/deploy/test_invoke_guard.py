"""invokeEndpoint sends a service's key only to the service: a Healthy one whose own process
holds its port. A fake server that takes the port of a stopped or crashed service receives
nothing, and the caller gets a domain error that says the service's state and what to do.

Real services (supervisord, uvicorn on 127.0.0.1), the local workspace's own invoke_endpoint,
and a real HTTP server bound to the service's port that records every request it gets.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import joblib
import pytest
from lensflow.processes import wait_gone
from lensflow.workspaces.local import LocalWorkspace
from lensflow.workspaces.local.deployments import LocalDeployments, ModelArtifact
from lensflow_protocol.deployment import CreateClusterArgs, DeployArgs, InvokeEndpointArgs
from lensflow_protocol.errors import Conflict, LensflowError, Unreachable
from sklearn.linear_model import Ridge

from .conftest import SEEN, finish

SERVICE, CLUSTER = "guarded-service", "aks-dev"
ROWS = [[0.01 * i for i in range(10)]]


class Fake(ThreadingHTTPServer):
    """Answers 200 to anything on 127.0.0.1:port, as a stray dev server would, and keeps
    every request's method, path and headers."""

    def __init__(self, port: int) -> None:
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        deadline = time.monotonic() + 10
        while True:  # the killed service's socket is released at its exit: retry until then
            try:
                super().__init__(("127.0.0.1", port), _Recorder)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Recorder(BaseHTTPRequestHandler):
    server: Fake

    def _answer(self) -> None:
        self.server.requests.append((self.command, self.path, dict(self.headers)))
        body = json.dumps({"status": "Healthy"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_HEAD = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def workspace(home: Path, tmp_path: Path) -> Iterator[LocalWorkspace]:
    model = tmp_path / "model.pkl"
    joblib.dump(Ridge().fit([[float(i)] * 10 for i in range(5)], list(range(5))), model)
    workspace = LocalWorkspace(home, sys.executable)
    local = workspace.deployments
    try:
        local.create_cluster(CreateClusterArgs(name=CLUSTER))
        artifact = ModelArtifact("guarded-model", 1, "ScikitLearn", model)
        args = DeployArgs(service_name=SERVICE, model_name="guarded-model", cluster_name=CLUSTER)
        info = local.deploy(args, artifact, lambda *_: None)
        assert info.state == "Healthy", info.error
        yield workspace
    finally:
        finish(local, home)


def program_pid(local: LocalDeployments) -> int:
    info = local._supervisor(CLUSTER).info(SERVICE)
    assert info is not None
    SEEN.append(int(info["pid"]))
    return int(info["pid"])


def port(local: LocalDeployments) -> int:
    return int(local.service(SERVICE).scoring_uri.split(":")[2].split("/")[0])


async def invoke(workspace: LocalWorkspace) -> Any:
    return await workspace.invoke_endpoint(
        InvokeEndpointArgs(service_name=SERVICE, input={"data": ROWS})
    )


async def refused(workspace: LocalWorkspace) -> LensflowError:
    with pytest.raises(LensflowError) as caught:
        await invoke(workspace)
    return caught.value


async def test_a_stopped_service_port_taken_by_another_server_gets_nothing(
    workspace: LocalWorkspace,
) -> None:
    local = workspace.deployments
    answer = await invoke(workspace)
    assert answer.status_code == 200 and len(answer.output) == 1  # Healthy: invoked
    taken = port(local)
    local._supervisor(CLUSTER).rpc(30.0).supervisor.stopProcessGroup(SERVICE)
    assert local.service(SERVICE).state == "Failed"
    fake = Fake(taken)
    try:
        error = await refused(workspace)
        assert fake.requests == []  # not the key, not the input, not even a /ping
    finally:
        fake.close()
    assert isinstance(error, Unreachable)
    assert error.details == {"serviceName": SERVICE, "state": "Failed"}
    assert "Failed" in error.message and "STOPPED" in error.message
    assert "lensflow.getServiceLogs" in error.message and "deploy it again" in error.message


async def test_a_crashed_service_that_reads_healthy_on_a_foreign_port_gets_nothing(
    workspace: LocalWorkspace,
) -> None:
    """kill -9; a fake takes the port before supervisord's restart binds it, and that restart
    is held (SIGSTOP) while it loads: the program has a process, and the live state's /ping,
    answered by the fake, reads Healthy. Only the port's owner tells them apart."""
    local = workspace.deployments
    taken, crashed = port(local), program_pid(local)
    os.kill(crashed, signal.SIGKILL)
    fake = Fake(taken)
    restarted = 0
    try:
        deadline = time.monotonic() + 10
        while (restarted := program_pid(local)) in (0, crashed):
            assert time.monotonic() < deadline, "supervisord did not restart the service"
            time.sleep(0.005)
        os.kill(restarted, signal.SIGSTOP)
        assert local.service(SERVICE).state == "Healthy"  # what the monitor would see
        # That look's own /ping went to the fake, without a key: /ping is open.
        assert [(m, p) for m, p, _ in fake.requests] == [("GET", "/ping")]
        assert not any("Authorization" in headers for _, _, headers in fake.requests)
        fake.requests.clear()
        error = await refused(workspace)
        assert fake.requests == []
    finally:
        fake.close()
        if restarted:
            os.kill(restarted, signal.SIGKILL)
            wait_gone([restarted], 5)
    assert isinstance(error, Conflict)
    assert error.details == {"serviceName": SERVICE, "port": taken}
    assert f"pid {os.getpid()}" in error.message  # the fake runs in this test's process
    assert f"not by the service's process {restarted}" in error.message
    assert "Stop that process" in error.message
