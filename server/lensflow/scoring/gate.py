"""The gate before a scoring request's body: key, content type and size are checked before a
byte of the body is read, and a refused body is drained so the client can read its answer.
Keyed routes without a body (GET /version) pass the key check alone.

A request refused before its body was read (401, 415, 413) is answered at once, then the rest of
the body is read and thrown away, up to a bound: closing a socket with unread data makes the
kernel reset the connection, and a client that sends its whole body before reading (urllib,
requests) would get that reset instead of the answer.
"""

from __future__ import annotations

import asyncio
import hmac
import json

from .asgi import Headers, Receive, Scope, Send, headers_for
from .loaders import ScoringError

# A refused body is read and dropped, as nginx's lingering close does, up to
# max(4 × maxBodyBytes, 256 MiB) …
DRAIN_MIN_BYTES = 256 << 20
DRAIN_SECONDS = 10.0  # … for at most this long: a slow client cannot hold its connection


def json_content_type(value: bytes) -> bool:
    """application/json, with or without parameters (charset=utf-8), in any case."""
    return value.split(b";", 1)[0].strip().lower() == b"application/json"


class Disconnected(Exception):
    """The client went away before sending its whole body: nothing to answer."""


class Refused(ScoringError):
    """A request refused before its whole body was read.

    `unread` is how many body bytes the client may still send (None: unknown, a chunked body);
    `waiting` is True when the client waits for "100 Continue" and will send no body at all.
    """

    def __init__(self, message: str, status: int, unread: int | None, waiting: bool) -> None:
        super().__init__(message, status)
        self.unread = unread
        self.waiting = waiting


def _framing(scope: Scope) -> tuple[bytes | None, bytes | None, int | None, bool]:
    """(Authorization, Content-Type, body bytes the client may still send, whether it waits
    for "100 Continue"), from the request's headers. Unread is None for a chunked body."""
    authorization = content_type = length = None
    chunked = waiting = False
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name == b"content-type":
            content_type = value
        elif name == b"content-length":
            length = value
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif name == b"expect":
            waiting = value.lower() == b"100-continue"
    # The HTTP parser has checked Content-Length's value.
    unread = None if chunked else int(length) if length is not None and length.isdigit() else 0
    return authorization, content_type, unread, waiting


class BodyGate:
    """Reads a scoring request's body once the request has passed the checks; else refuses it."""

    def __init__(self, keys: tuple[str, str] | None, max_body: int) -> None:
        self._keys = tuple(key.encode() for key in keys) if keys else None
        self._max_body = max_body
        self._drain_bytes = max(4 * max_body, DRAIN_MIN_BYTES)

    @property
    def auth(self) -> bool:
        return self._keys is not None

    def check_key(self, scope: Scope) -> None:
        """Raises Refused (401) unless the request carries a key: for a keyed route with no body
        to read (GET /version)."""
        if self._keys is not None:
            authorization, _, unread, waiting = _framing(scope)
            self._refuse_unless_authorized(authorization, unread, waiting)

    async def read(self, scope: Scope, receive: Receive) -> bytes | bytearray:
        """Checks key, content type and announced size before reading a byte of the body."""
        authorization, content_type, unread, waiting = _framing(scope)
        if self._keys is not None:
            self._refuse_unless_authorized(authorization, unread, waiting)
        if content_type is not None and not json_content_type(content_type):
            shown = content_type.decode("latin-1")[:60]
            error = f"Content-Type must be application/json, not {shown!r}"
            raise Refused(error, 415, unread, waiting)
        if unread is not None and unread > self._max_body:
            raise Refused(self._too_large(unread), 413, unread, waiting)
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):  # the usual case: one chunk
            if len(body) > self._max_body:
                raise ScoringError(self._too_large(len(body)), 413)
            return body
        if unread is not None:
            return await self._fill(bytearray(unread), body, receive)
        # Chunked bodies: count while streaming, stop at the limit.
        chunks, size = [body], len(body)
        while True:
            if size > self._max_body:  # how much more will come is unknown
                raise Refused(self._too_large(size, more=True), 413, None, False)
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Disconnected
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                break
        if size > self._max_body:
            raise ScoringError(self._too_large(size), 413)
        return b"".join(chunks)

    @staticmethod
    async def _fill(buffer: bytearray, body: bytes, receive: Receive) -> bytearray:
        """A body of announced size, read into one buffer: joining its chunks would hold it
        twice, the peak of a big request."""
        view, size, more = memoryview(buffer), 0, True
        while True:
            if size + len(body) > len(buffer):  # the HTTP parser holds it to Content-Length
                raise ScoringError("the body is longer than its Content-Length", 400)
            view[size : size + len(body)] = body
            size += len(body)
            if not more:
                break
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Disconnected
            body, more = message.get("body", b""), message.get("more_body", False)
        view.release()
        if size != len(buffer):
            raise ScoringError("the body is shorter than its Content-Length", 400)
        return buffer  # json, orjson, re and numpy read a bytearray as they read bytes

    async def refuse(self, receive: Receive, send: Send, refused: Refused) -> None:
        """Answers at once, then reads and drops the rest of the body before ending the answer.

        HTTP lets a server answer before the body is in, if it then reads the rest or closes.
        Reading it matters: closing with unread data resets the connection, and a client still
        writing its body loses the answer. So: the answer (whole, by Content-Length) goes out
        first, and clients that read it at once are not kept waiting; the body is drained, up
        to `_drain_bytes` and DRAIN_SECONDS; then the answer ends, closing the connection after
        a 413, a chunked body or an undrained one (a 401 or 415 keeps the connection alive).
        """
        unread, waiting = refused.unread, refused.waiting
        # Whatever its announced size: a body past the bound is drained up to it all the same,
        # and what is left may still fit the kernel's buffers when the connection closes.
        drain = not waiting
        body = json.dumps({"error": str(refused)}).encode()
        extra: Headers = []
        if refused.status == 401:
            extra.append((b"www-authenticate", b'Bearer realm="lensflow"'))
        if refused.status == 413 or unread is None or not drain:
            extra.append((b"connection", b"close"))
        headers = headers_for(b"application/json", body, extra)
        await send({"type": "http.response.start", "status": refused.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": drain})
        if not drain:
            return
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                drained = 0
                while drained <= self._drain_bytes:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        break
                    drained += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            pass  # a slow client: the connection is closed (or its leftover discarded) as is
        await send({"type": "http.response.body", "body": b""})

    def _too_large(self, size: int, more: bool = False) -> str:
        got = f"more than {size}" if more else str(size)
        return f"the body has {got} bytes; this service accepts at most {self._max_body}"

    def _refuse_unless_authorized(
        self, authorization: bytes | None, unread: int | None, waiting: bool
    ) -> None:
        if not self._authorized(authorization):
            why = "missing" if authorization is None else "wrong"
            error = f"{why} key: send 'Authorization: Bearer <service key>'"
            raise Refused(error, 401, unread, waiting)

    def _authorized(self, header: bytes | None) -> bool:
        if header is None or self._keys is None:
            return False
        scheme, _, token = header.partition(b" ")
        token = token.strip()
        # Both keys are always compared, in constant time: the timing says nothing of either.
        primary = hmac.compare_digest(token, self._keys[0])
        secondary = hmac.compare_digest(token, self._keys[1])
        return scheme.lower() == b"bearer" and (primary | secondary)
