"""LSP over TCP: one client at a time, and only one that sends the token.

pygls's own `start_tcp` serves whoever connects, with no check, and ends the server when any
connection closes. Here every connection first passes a greeting that never touches the
server: its first request must be `initialize` with `initializationOptions.token`. Anything
else (a request before initialize, a wrong or missing token, a second client while one is
served) gets an error answer and the connection is closed, so nothing ran and no state
changed. The client that passes is served as over stdio, and the server ends with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import threading
from typing import TYPE_CHECKING, Any

from lsprotocol.types import ErrorCodes
from pygls.io_ import run_async

from .tcp_token import token_matches
from .transport import AsyncFrameReader

if TYPE_CHECKING:
    from ..server import LensflowServer

log = logging.getLogger(__name__)

GREETING_TIMEOUT_S = 30.0
"""A connection that has not sent its initialize by then is closed."""
MAX_GREETING_BYTES = 1 << 20
"""An initialize is a few kB (VS Code's ~15); before the token is checked nobody gets more."""
LINGER_S = 2.0
"""How long a refused client has to read its answer and close."""
MAX_GREETING_MESSAGES = 16
"""Notifications before initialize are dropped, but not for ever."""
NO_TOKEN = (
    "Lensflow over TCP serves only a client that sends the server's token as "
    "initializationOptions.token in initialize (the token file: see `lensflow --help`)."
)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # another host name: it could resolve to anything


def serve_tcp(server: LensflowServer, host: str, port: int, token: str) -> None:
    """Listens on host:port until the one authenticated client's connection ends."""
    asyncio.run(_Listener(server, token).serve(host, port))


class _Refused(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class _Listener:
    def __init__(self, server: LensflowServer, token: str) -> None:
        self.server = server
        self.token = token
        self.serving = False  # set, with no await in between, as a client passes
        self.greeting: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}
        # pygls's shutdown() sets it: the session's read loop then ends.
        self.stop = server._stop_event = threading.Event()
        self.ended = asyncio.Event()

    async def serve(self, host: str, port: int) -> None:
        listener = await asyncio.start_server(self.connection, host, port)
        addresses = ", ".join(str(s.getsockname()[:2]) for s in listener.sockets)
        log.info("serving LSP over TCP on %s (token required)", addresses)
        async with listener:
            await self.ended.wait()
            # Connections still greeting: nobody will serve them now. Closed, and awaited, so
            # none is cancelled mid-way (asyncio logs a cancelled client callback as an error).
            for writer in self.greeting:
                writer.close()
            if self.greeting:
                await asyncio.wait(self.greeting.values(), timeout=LINGER_S)

    async def connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        if (task := asyncio.current_task()) is not None:
            self.greeting[writer] = task
        try:
            initialize = await self.greet(reader, writer, peer)
        except _Refused:
            initialize = None  # answered and logged
        except Exception as exc:  # a broken frame, a timeout, a reset: whatever it was, closed
            log.warning("closed a TCP client %s before initialize: %r", peer, exc)
            initialize = None
        finally:
            self.greeting.pop(writer, None)
        if initialize is None:
            writer.close()
            return
        log.info("serving the TCP client %s", peer)
        try:
            await self.session(reader, writer, initialize)
        finally:
            writer.close()
            self.ended.set()

    async def greet(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Any
    ) -> dict[str, Any] | None:
        """The client's initialize, once it carries the token; None when it left first."""
        async with asyncio.timeout(GREETING_TIMEOUT_S):
            for _ in range(MAX_GREETING_MESSAGES):
                message = await _read_message(reader)
                if message is None:
                    return None  # the end of the stream
                if not isinstance(message, dict):
                    raise ValueError(f"a {type(message).__name__} for a message")
                if message.get("method") == "exit":
                    return None
                if "id" not in message or "method" not in message:
                    continue  # a notification or a stray response: nothing to answer
                try:
                    self.check(message)
                except _Refused as refused:
                    log.warning("refused a TCP client %s: %s", peer, refused.message)
                    msg_id = message["id"] if isinstance(message["id"], int | str) else None
                    writer.write(_error_frame(msg_id, refused.code, refused.message))
                    await writer.drain()
                    writer.write_eof()
                    await _discard_input(reader)
                    raise
                self.serving = True
                return message
        raise ValueError(f"{MAX_GREETING_MESSAGES} messages and no initialize")

    def check(self, message: dict[str, Any]) -> None:
        if message.get("method") != "initialize":
            raise _Refused(ErrorCodes.ServerNotInitialized, "Send initialize first. " + NO_TOKEN)
        params = message.get("params")
        options = params.get("initializationOptions") if isinstance(params, dict) else None
        sent = options.get("token") if isinstance(options, dict) else None
        if not token_matches(sent, self.token):
            why = "No token" if sent is None else "A wrong token"
            raise _Refused(ErrorCodes.InvalidRequest, f"{why}. {NO_TOKEN}")
        if self.serving:
            raise _Refused(
                ErrorCodes.InvalidRequest,
                "This Lensflow server already serves a client; start another server.",
            )

    async def session(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        initialize: dict[str, Any],
    ) -> None:
        """Serves the client as over stdio, its initialize first."""
        # The token is no setting, and pygls logs initialize's params: it goes no further.
        del initialize["params"]["initializationOptions"]["token"]
        protocol = self.server.protocol
        protocol.set_writer(writer)
        try:
            protocol.handle_message(initialize)
            await run_async(
                stop_event=self.stop,
                reader=AsyncFrameReader(reader),  # broken frames, as over stdio
                protocol=protocol,
                logger=logging.getLogger("pygls.io_"),  # a line per message: pygls's level
                error_handler=self.server.report_server_error,
            )
        except SystemExit:
            pass  # the client's `exit`: the server ends, as pygls's start_io lets it over stdio


async def _read_message(reader: asyncio.StreamReader) -> Any:
    """One framed JSON message; None at the end of the stream."""
    length: int | None = None
    for _ in range(8):  # Content-Length, Content-Type, then the empty line
        line = await reader.readline()
        if not line:
            return None
        if not line.strip():
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            length = int(value.strip())
    else:
        raise ValueError("a header of more than 8 lines")
    if length is None or length > MAX_GREETING_BYTES:
        raise ValueError(f"a frame of {length} bytes before initialize")
    return json.loads(await reader.readexactly(length))


async def _discard_input(reader: asyncio.StreamReader) -> None:
    """Reads what the client sent after the refused request, unread: closing a socket with
    bytes still unread sends a reset, which can destroy the answer before the client reads it."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(LINGER_S):
            for _ in range(64):  # 4 MiB at most
                if not await reader.read(1 << 16):
                    return


def _error_frame(msg_id: int | str | None, code: int, message: str) -> bytes:
    # retry: false is LSP's InitializeError: the client should not try again as it is.
    error = {"code": int(code), "message": message, "data": {"retry": False}}
    body = json.dumps({"jsonrpc": "2.0", "id": msg_id, "error": error}).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
