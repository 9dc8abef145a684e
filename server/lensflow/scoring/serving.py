"""How a scoring service is run: uvicorn's command line, and the event loop it runs on.

One function gives the command, so a deployed service (workspaces/local/state.py) and the
benchmarks (bench/) start the very same server.

The loop is asyncio's selector loop, not uvloop (uvicorn's default when installed), for the
tail under load (issue 16), measured with wrk on this 2-core machine, alternating:

- 64 keep-alive connections on one worker: under uvloop, p99 was 10-30× the median (360-1400 ms
  against ~25-45 ms); under asyncio's loop, 2-6× (80-250 ms), at a similar request rate. The
  server-side wait of an open connection (answer sent → its next request taken) stayed under
  ~130 ms under uvloop too, so the long waits are a few requests' that uvloop takes late; why
  inside uvloop was not pinned down. asyncio's loop costs some req/s at low concurrency.
- Several workers share one socket (uvicorn's parent binds it). A waking worker accepted every
  waiting connection at once: 4 connections split 4:0 or 3:1 most of the time, one worker
  queueing while the other idled. Here each takes one and gives the CPU away before the next.
- That socket has proto 0, and asyncio sets TCP_NODELAY only when proto is IPPROTO_TCP: the
  answer's body then waited for the client's delayed ACK (~40 ms a request). Set here always.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import select
import socket
from typing import Any

SCORING_APP = "lensflow.scoring.app:create_app"
# uvicorn ≥ 0.36 takes `--loop module:callable`, the callable making the loop: here, the class.
LOOP = "lensflow.scoring.serving:FairAcceptLoop"
# uvicorn runs several workers as child processes, one worker in its own process.
_SEVERAL_WORKERS = multiprocessing.parent_process() is not None


def uvicorn_command(python: str, port: int, workers: int) -> list[str]:
    """uvicorn serving the scoring app on 127.0.0.1:`port` with `workers` processes."""
    return [
        python, "-m", "uvicorn", "--factory", SCORING_APP, "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-access-log",
        "--timeout-graceful-shutdown", "5", "--loop", LOOP,
    ]  # fmt: skip


class FairAcceptLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop, with TCP_NODELAY always and, among several workers, accepts
    shared out."""

    def _accept_connection(  # asyncio's private hooks, these two: stable from 3.8 to 3.14
        self, protocol_factory: Any, sock: socket.socket, *args: Any
    ) -> None:
        # args: sslcontext, server, backlog (how many one call may accept), timeouts.
        if not _SEVERAL_WORKERS:
            super()._accept_connection(protocol_factory, sock, *args)  # type: ignore[misc]
            return
        # Every worker is woken for a new connection. Taking one at a time, and giving the CPU
        # away in between, lets the others take their share of a burst (as libuv's
        # UV_TCP_SINGLE_ACCEPT does), instead of the first one up taking them all.
        one = (*args[:2], 1, *args[3:])
        pending = select.poll()
        pending.register(sock, select.POLLIN)
        for _ in range(args[2]):
            super()._accept_connection(protocol_factory, sock, *one)  # type: ignore[misc]
            os.sched_yield()
            if not pending.poll(0):
                return

    def _make_socket_transport(
        self, sock: socket.socket, *args: Any, **kwargs: Any
    ) -> asyncio.Transport:
        # asyncio sets TCP_NODELAY only on a socket whose proto is IPPROTO_TCP, and the socket
        # uvicorn's parent binds for several workers has proto 0: without it, Nagle holds the
        # body (uvicorn writes the head and the body apart) until the client's delayed ACK,
        # ~40 ms a request. uvloop sets it on every TCP socket.
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return super()._make_socket_transport(sock, *args, **kwargs)  # type: ignore[misc,no-any-return]
