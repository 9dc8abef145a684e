"""The few ASGI types and answer helpers the scoring app and its request gate share."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


def headers_for(content_type: bytes, body: bytes, extra: Headers | None = None) -> Headers:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    return headers + extra if extra else headers


async def answer(send: Send, status: int, body: bytes, headers: Headers) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def answer_error(send: Send, status: int, message: str, extra: Headers | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    await answer(send, status, body, headers_for(b"application/json", body, extra))
