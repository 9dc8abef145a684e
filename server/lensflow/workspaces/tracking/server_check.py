"""Is an MLflow tracking server there at all? One quick connection before a run starts.

A training child talks to a tracking server through MLflow's HTTP client, which retries a
refused connection with growing back-off: about four minutes before `create_run` gives up on a
server that is down (measured with MLflow 3.15). Those retries protect a running script's
logging from a blip, so the child keeps them; but a run that cannot even start should say so at
once. A TCP connect to the server's host and port tells "down" from "up" in milliseconds, and
"unroutable" within CONNECT_TIMEOUT_S.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import urllib.request
from urllib.parse import urlsplit

from lensflow_protocol.errors import Unreachable

from .uris import is_server_uri, redacted, scheme

CONNECT_TIMEOUT_S = 5.0


def server_down(uri: str, reason: str) -> Unreachable:
    """The one way Lensflow says a tracking server cannot be reached."""
    return Unreachable(
        f"The MLflow tracking server at {redacted(uri)} cannot be reached ({reason[:200]}). "
        "Start it, or point the trackingUri setting at one that runs, then retry.",
        trackingUri=redacted(uri),
    )


def _address(uri: str) -> tuple[str, int] | None:
    """Where to connect; None when a proxy stands between, or MLflow should judge the URI."""
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port
    except ValueError:  # a bad port: MLflow's own error names it
        return None
    if not host:
        return None
    # Through a proxy the server may be reachable where a direct connection is not.
    if urllib.request.getproxies().get(scheme(uri)) and not urllib.request.proxy_bypass(host):
        return None
    return host, port or (443 if scheme(uri) == "https" else 80)


async def check_server(uri: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raises Unreachable when `uri` names a tracking server that takes no connection."""
    address = _address(uri) if is_server_uri(uri) else None
    if address is None:
        return
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(*address)
    except TimeoutError:
        raise server_down(uri, f"no answer to a connection within {timeout:.0f} s") from None
    except OSError as exc:  # refused, no route, unknown host
        # asyncio's strerror is "Connect call failed (…)": the errno says what happened.
        if isinstance(exc, socket.gaierror) or not exc.errno:
            reason = exc.strerror or str(exc)  # "Name or service not known"
        else:
            reason = os.strerror(exc.errno)
        raise server_down(uri, reason) from None
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
