"""ARM long-running operations, as Azure ML's resource provider runs them, for the double.

A PUT or DELETE that takes time answers 201/202 with ``Azure-AsyncOperation`` (a status URL that
answers ``{"status": "InProgress" | "Succeeded" | "Failed", ...}``) and, for a DELETE, ``Location``
(a result URL: 202 while running, 204 when done). Both live, as in Azure, outside the workspace:
``/subscriptions/<sub>/providers/Microsoft.MachineLearningServices/locations/<region>/
mfeOperationsStatus/<id>`` and ``.../mfeOperationResults/<id>``, served through ``double.mounts``.

An operation stays InProgress for ``settings.in_progress_polls`` polls, then asks its ``check``
(a deployment's check waits for its scorer) and applies its ``finish`` once. Every answer in
progress carries ``Retry-After`` (``settings.retry_after``): without it the SDK's poller sleeps
its default 30 s (and azure-core reads ``Retry-After: 0`` as absent, so 1 s is the floor).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response

from tests.azure_double.server import PROVIDER, ArmError, Exchange, JsonObject, _iso, _now

if TYPE_CHECKING:
    from tests.azure_double.server import AzureDouble

IN_PROGRESS = "InProgress"
TERMINAL = frozenset({"Succeeded", "Failed", "Canceled"})
# (status, error): what a check or a finish sees; error is an ErrorDetail ({code, message}).
Outcome = tuple[str, JsonObject | None]


@dataclass
class LroSettings:
    in_progress_polls: int = 1
    retry_after: str = "1"


@dataclass
class LongRunningOperation:
    id: str
    api_version: str
    started: str
    polls_left: int
    check: Callable[[], Outcome]
    finish: Callable[[Outcome], None]
    status: str = IN_PROGRESS
    error: JsonObject | None = None
    ended: str | None = None
    status_url: str = ""
    result_url: str = ""
    polls: int = field(default=0)


class LongRunningOperations:
    """The double's operations in flight and done; tests read ``operations`` and ``settings``."""

    def __init__(self, double: AzureDouble) -> None:
        self.double = double
        self.settings = LroSettings()
        self.operations: dict[str, LongRunningOperation] = {}
        self._lock = threading.Lock()
        self.prefix = f"/subscriptions/{double.subscription_id}/providers/{PROVIDER}/locations/"
        self._path = re.compile(
            rf"^{re.escape(self.prefix)}(?P<region>[^/]+)"
            r"/(?P<kind>mfeOperationsStatus|mfeOperationResults)/(?P<id>[^/]+)/?$",
            re.IGNORECASE,
        )
        double.mounts[self.prefix] = self._serve
        double.reset_hooks.append(self.reset)

    def reset(self) -> None:
        with self._lock:
            self.operations.clear()
        self.settings = LroSettings()

    def start(
        self,
        api_version: str,
        check: Callable[[], Outcome],
        finish: Callable[[Outcome], None],
    ) -> LongRunningOperation:
        """A new operation in progress; its URLs carry the api-version of the request."""
        op_id = str(uuid.uuid4())
        base = f"{self.double.base_url}{self.prefix}{self.double.location}"
        query = f"?api-version={api_version}"
        operation = LongRunningOperation(
            id=op_id,
            api_version=api_version,
            started=_iso(_now()),
            polls_left=self.settings.in_progress_polls,
            check=check,
            finish=finish,
            status_url=f"{base}/mfeOperationsStatus/{op_id}{query}",
            result_url=f"{base}/mfeOperationResults/{op_id}{query}",
        )
        with self._lock:
            self.operations[op_id] = operation
        return operation

    def put_headers(self, operation: LongRunningOperation) -> dict[str, str]:
        """A 201 to a PUT: the spec's Azure-AsyncOperation and x-ms-async-operation-timeout."""
        return {
            "Azure-AsyncOperation": operation.status_url,
            "x-ms-async-operation-timeout": "PT1H",
            "Retry-After": self.settings.retry_after,
        }

    def delete_headers(self, operation: LongRunningOperation) -> dict[str, str]:
        """A 202 to a DELETE: Location (the result) and Azure-AsyncOperation (the status)."""
        return {**self.put_headers(operation), "Location": operation.result_url}

    def _advance(self, operation: LongRunningOperation) -> None:
        with self._lock:
            operation.polls += 1
            if operation.status in TERMINAL:
                return
            if operation.polls_left > 0:
                operation.polls_left -= 1
                return
        outcome = operation.check()  # may ping a scorer: outside the lock
        if outcome[0] not in TERMINAL:
            return
        with self._lock:
            if operation.status in TERMINAL:
                return
            operation.status, operation.error = outcome
            operation.ended = _iso(_now())
        operation.finish(outcome)

    def status_body(self, operation: LongRunningOperation) -> JsonObject:
        body: JsonObject = {
            "id": operation.status_url.split("?")[0].removeprefix(self.double.base_url),
            "name": operation.id,
            "status": operation.status,
            "startTime": operation.started,
        }
        if operation.ended is not None:
            body["endTime"] = operation.ended
            body["percentComplete"] = 100.0
        if operation.error is not None:
            body["error"] = operation.error
        return body

    async def _serve(self, request: Request, exchange: Exchange, raw: bytes) -> Response:
        # ARM's own answers, though served through a mount: spec-checked like the rest.
        exchange.mount = None
        self.double.authorize(exchange)
        match = self._path.match(exchange.path)
        if match is None:
            raise ArmError(
                404,
                "NoRegisteredProviderFound",
                f"No registered resource provider found for path '{exchange.path}'.",
            )
        with self._lock:
            operation = self.operations.get(match["id"])
        if operation is None or match["region"].lower() != self.double.location.lower():
            raise ArmError(404, "ResourceNotFound", f"No operation '{match['id']}' is known.")
        if exchange.method != "GET":
            raise ArmError(405, "MethodNotAllowed", "Operation URLs only answer GET.")
        if exchange.api_version != operation.api_version:
            raise ArmError(
                400,
                "InvalidApiVersionParameter",
                f"The api-version '{exchange.api_version}' is invalid for this operation; it "
                f"was started at '{operation.api_version}'.",
            )
        await asyncio.to_thread(self._advance, operation)
        headers: dict[str, str] = {}
        running = operation.status not in TERMINAL
        if running:
            headers["Retry-After"] = self.settings.retry_after
        payload: Any = None
        if match["kind"].lower() == "mfeoperationsstatus":
            status, payload = 200, self.status_body(operation)
        elif running:
            status, headers["Location"] = 202, operation.result_url
        elif operation.status == "Succeeded":
            status = 204
        else:
            error = operation.error or {}
            raise ArmError(
                400,
                str(error.get("code", "OperationFailed")),
                str(error.get("message", "The operation failed.")),
            )
        return _answer(exchange, status, headers, payload)


def _answer(exchange: Exchange, status: int, headers: dict[str, str], payload: Any) -> Response:
    """The answer of a mounted route, recorded in the exchange as the double records its own."""
    headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
    body = b""
    if payload is not None:
        headers["Content-Type"] = "application/json; charset=utf-8"
        body = json.dumps(payload).encode()
        exchange.response_json = payload
    exchange.status = status
    exchange.response_headers = {k.lower(): v for k, v in headers.items()}
    exchange.response_content_type = exchange.response_headers.get("content-type")
    return Response(content=body, status_code=status, headers=headers)
