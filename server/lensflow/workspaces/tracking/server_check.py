"""Is an MLflow tracking server there at all? One quick question before a run starts.

A training child talks to a tracking server through MLflow's HTTP client, which retries a
refused connection with growing back-off: about four minutes before `create_run` gives up on a
server that is down (measured with MLflow 3.15). Those retries protect a running script's
logging from a blip, so the child keeps them; but a run that cannot even start should say so at
once. A TCP connect to the server's host and port tells "down" from "up" in milliseconds, and
"unroutable" within CONNECT_TIMEOUT_S.

Where MLflow's client would go through an HTTP proxy (`http_proxy.py` says when), so does the
check, as requests would: `HEAD <uri>` to the proxy for an http:// server, `CONNECT host:port`
for an https:// one. The proxy answers 502, 503 or 504 when it cannot reach the server (and
MLflow retries those for minutes too); any other answer means the server is there. A proxy
that takes no connection is as down as the server. A proxy of another kind (https://, socks)
is not checked: MLflow judges.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import socket
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from lensflow_protocol.errors import Unreachable

from .http_proxy import proxy_for
from .uris import is_server_uri, redacted, scheme

CONNECT_TIMEOUT_S = 5.0
GATEWAY_ERRORS = ("502", "503", "504")


def server_down(uri: str, reason: str) -> Unreachable:
    """The one way Lensflow says a tracking server cannot be reached."""
    return Unreachable(
        f"The MLflow tracking server at {redacted(uri)} cannot be reached ({reason[:200]}). "
        "Start it, or point the trackingUri setting at one that runs, then retry.",
        trackingUri=redacted(uri),
    )


def _os_reason(exc: OSError) -> str:
    # asyncio's strerror is "Connect call failed (…)": the errno says what happened.
    if isinstance(exc, socket.gaierror) or not exc.errno:
        return exc.strerror or str(exc)  # "Name or service not known"
    return os.strerror(exc.errno)


def _authority(uri: str) -> str:
    parts = urlsplit(uri)
    host = parts.hostname or ""
    port = parts.port or (443 if scheme(uri) == "https" else 80)
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _proxy_request(uri: str, proxy: str) -> bytes:
    """What requests would send the proxy first, less the server's credentials."""
    authority = _authority(uri)
    if scheme(uri) == "https":
        line = f"CONNECT {authority} HTTP/1.1"
    else:
        parts = urlsplit(uri)
        path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
        line = f"HEAD {urlunsplit(('http', authority, path, parts.query, ''))} HTTP/1.1"
    lines = [line, f"Host: {authority}", "Connection: close"]
    by = urlsplit(proxy)
    if by.username is not None:
        secret = f"{unquote(by.username)}:{unquote(by.password or '')}".encode()
        lines.append(f"Proxy-Authorization: Basic {base64.b64encode(secret).decode()}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")


async def _through_proxy(uri: str, proxy: str) -> str | None:
    """Asks `proxy` for the server; why it cannot be reached, or None when it answers (or the
    proxy will not tell)."""
    by = urlsplit(proxy)
    try:
        reader, writer = await asyncio.open_connection(by.hostname, by.port or 80)
    except OSError as exc:
        return f"the proxy {redacted(proxy)} takes no connection: {_os_reason(exc)}"
    try:
        writer.write(_proxy_request(uri, proxy))
        await writer.drain()
        status = await reader.readline()
    except OSError as exc:
        return f"the proxy {redacted(proxy)} dropped the connection: {_os_reason(exc)}"
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    if not status:
        return f"the proxy {redacted(proxy)} closed the connection without an answer"
    fields = status.decode("latin-1").split(None, 1)
    if len(fields) == 2 and fields[1][:3] in GATEWAY_ERRORS:
        return f"the proxy {redacted(proxy)} answered {fields[1].strip()[:80]}"
    return None


async def _direct(host: str, port: int) -> str | None:
    try:
        _, writer = await asyncio.open_connection(host, port)
    except OSError as exc:  # refused, no route, unknown host
        return _os_reason(exc)
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return None


async def check_server(uri: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Raises Unreachable when `uri` names a tracking server that cannot be reached, directly
    or through the proxy MLflow would use (requests' choice from the environment)."""
    if not is_server_uri(uri):
        return
    try:
        parts = urlsplit(uri)
        host, port = parts.hostname, parts.port
        proxy = proxy_for(uri)
    except ValueError:  # a bad port: MLflow's own error names it
        return
    if not host or (proxy is not None and scheme(proxy) != "http"):
        return
    try:
        async with asyncio.timeout(timeout):
            if proxy is None:
                reason = await _direct(host, port or (443 if scheme(uri) == "https" else 80))
            else:
                reason = await _through_proxy(uri, proxy)
    except TimeoutError:
        via = f" through the proxy {redacted(proxy)}" if proxy else ""
        reason = f"no answer to a connection{via} within {timeout:.0f} s"
    if reason is not None:
        raise server_down(uri, reason)
