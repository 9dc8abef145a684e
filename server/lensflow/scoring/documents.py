"""Serving the two API documents: each names the address the client used (its Host header, else
the address uvicorn is bound to), so a client generated from it calls this service there.

The model's part of a document is fixed; only the host varies, so each answer is encoded once
per host and kept (a few hosts at most: 127.0.0.1:<port>, localhost:<port>, a proxy's name).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .asgi import Handler, Receive, Scope, Send, answer, headers_for
from .openapi import build_openapi
from .schemas import ApiFacts
from .swagger import build_swagger

# A name or IPv4 address and a port: Swagger 2.0's `host` has no room for an IPv6 literal.
_HOST = re.compile(r"[A-Za-z0-9][A-Za-z0-9.-]{0,252}(?::\d{1,5})?")
_KEPT = 16  # answers kept per document; past that, a new host is encoded on each request
_JSON = b"application/json"


def request_host(scope: Scope) -> str:
    """host[:port] as the client asked for it, when it is a plain one; else the bound address."""
    for name, value in scope.get("headers", []):
        if name == b"host":
            host = str(value.decode("latin-1"))
            if _HOST.fullmatch(host):
                return host
            break
    server = scope.get("server") or ("127.0.0.1", None)
    address, port = str(server[0]), server[1]
    address = "localhost" if ":" in address else address  # an IPv6 literal: see _HOST
    return f"{address}:{port}" if port else address


class Document:
    """One document's route: built for each new host, encoded once, then answered as bytes."""

    def __init__(self, facts: ApiFacts, build: Callable[[ApiFacts, str], dict[str, Any]]) -> None:
        self._facts = facts
        self._build = build
        self._encoded: dict[str, tuple[bytes, list[tuple[bytes, bytes]]]] = {}

    def for_host(self, host: str) -> dict[str, Any]:
        return self._build(self._facts, host)

    def _answer(self, host: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
        kept = self._encoded.get(host)
        if kept is None:
            body = json.dumps(self.for_host(host)).encode()
            kept = (body, headers_for(_JSON, body))
            if len(self._encoded) < _KEPT:
                self._encoded[host] = kept
        return kept

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, headers = self._answer(request_host(scope))
        await answer(send, 200, body, headers)  # uvicorn drops the body of a HEAD answer


def document_routes(facts: ApiFacts) -> dict[str, dict[str, Handler]]:
    """/swagger.json (Swagger 2.0, as Azure's) and /openapi.json (OpenAPI 3.1), GET and HEAD."""
    routes: dict[str, dict[str, Handler]] = {}
    for path, build in (("/swagger.json", build_swagger), ("/openapi.json", build_openapi)):
        handler = Document(facts, build)
        routes[path] = {"GET": handler, "HEAD": handler}
    return routes
