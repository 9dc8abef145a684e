"""The scoring service's command line and event loop (lensflow.scoring.serving)."""

from __future__ import annotations

import asyncio
import socket
import sys
from pathlib import Path

from lensflow.scoring.serving import LOOP, SCORING_APP, FairAcceptLoop, uvicorn_command
from lensflow.workspaces.local.state import ServiceRecord, Store


def test_the_command_runs_the_app_on_the_fair_loop() -> None:
    argv = uvicorn_command("py", 8123, 2)
    assert argv[:3] == ["py", "-m", "uvicorn"]
    assert argv[argv.index("--factory") + 1] == SCORING_APP
    assert argv[argv.index("--port") + 1] == "8123"
    assert argv[argv.index("--workers") + 1] == "2"
    assert argv[argv.index("--loop") + 1] == LOOP == "lensflow.scoring.serving:FairAcceptLoop"


def test_a_deployed_service_runs_that_very_command(tmp_path: Path) -> None:
    record = ServiceRecord(
        name="svc", cluster="c1", model_name="m", model_version=1, model_framework="ScikitLearn",
        model_path="model.pkl", port=8124, auth_enabled=True, cpu_cores=1, memory_gb=1,
        replicas=3, placement=[0, 1, 2],
    )  # fmt: skip
    command = Store(tmp_path).program(record, sys.executable).command
    want = uvicorn_command(sys.executable, 8124, 3)
    assert command[-len(want) :] == want  # behind the launcher that reaps strays


def test_accepted_sockets_get_tcp_nodelay_even_from_a_proto_0_listener() -> None:
    """uvicorn's parent binds the socket of several workers with proto 0; asyncio's own loop
    then leaves Nagle on, and a response's head and body stall on the client's delayed ACK."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # proto 0, as uvicorn's
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    seen: list[int] = []

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
        async with server:
            for _ in range(3):  # one connection accepted per readiness: all three still are
                _, writer = await asyncio.open_connection(*listener.getsockname())
                writer.close()
            for _ in range(100):
                if len(seen) == 3:
                    break
                await asyncio.sleep(0.01)

    loop = FairAcceptLoop()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    assert len(seen) == 3 and all(seen), seen
