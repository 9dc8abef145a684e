"""The quick connection that tells a stopped tracking server before a run starts."""

from __future__ import annotations

import socket
import time

import pytest
from lensflow.workspaces.tracking.server_check import check_server
from lensflow_protocol.errors import Unreachable


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_listening_server_passes() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        await check_server(f"http://127.0.0.1:{server.getsockname()[1]}/")


async def test_a_stopped_server_is_unreachable_at_once_without_its_password() -> None:
    port = closed_port()
    began = time.monotonic()
    with pytest.raises(Unreachable) as raised:
        await check_server(f"http://alice:s3cret@127.0.0.1:{port}")
    assert time.monotonic() - began < 1.0
    message = str(raised.value)
    assert f"http://alice:***@127.0.0.1:{port}" in message, message
    assert "s3cret" not in message and "s3cret" not in str(raised.value.details)
    assert "refused" in message.lower(), message


async def test_no_answer_is_unreachable_within_the_timeout() -> None:
    # A listening socket whose backlog is full leaves the next connect unanswered (SYN dropped).
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = server.getsockname()[1]
        fillers = []
        for _ in range(3):  # Linux queues backlog + 1; the later ones wait unanswered
            filler = socket.socket()
            filler.settimeout(0.3)
            fillers.append(filler)
            try:
                filler.connect(("127.0.0.1", port))
            except TimeoutError:
                break
        try:
            began = time.monotonic()
            with pytest.raises(Unreachable, match="no answer to a connection within 1 s"):
                await check_server(f"http://127.0.0.1:{port}", timeout=1.0)
            assert 0.9 < time.monotonic() - began < 3.0
        finally:
            for filler in fillers:
                filler.close()


@pytest.mark.parametrize(
    "uri",
    ["sqlite:///tmp/x.db", "azureml://westeurope.api.azureml.ms/mlflow", "file:///tmp/mlruns",
     "http://127.0.0.1:99999"],  # a bad port: MLflow's own error names it
)  # fmt: skip
async def test_stores_that_are_no_server_are_not_checked(uri: str) -> None:
    await check_server(uri)
