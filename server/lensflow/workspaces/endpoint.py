"""Calling a deployed service's scoring URI with its key: the same for every workspace."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from lensflow_protocol.deployment import InvokeEndpointResult
from lensflow_protocol.errors import Unreachable

TIMEOUT_S = 30.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _open(request: urllib.request.Request | str) -> Any:
    """urlopen, except that a service on this machine is called directly: an http_proxy set
    for the outside world must not receive a local service's key (urllib would send it there
    unless no_proxy names 127.0.0.1)."""
    url = request.full_url if isinstance(request, urllib.request.Request) else request
    if urllib.parse.urlsplit(url).hostname in LOOPBACK:
        return _DIRECT.open(request, timeout=TIMEOUT_S)
    return urllib.request.urlopen(request, timeout=TIMEOUT_S)


def beside(scoring_uri: str, path: str) -> str:
    """The URL of another route of Lensflow's scoring app: its routes sit beside /score."""
    return scoring_uri.rsplit("/", 1)[0] + path


def invoke(url: str, key: str | None, body: Any, service: str) -> InvokeEndpointResult:
    """POST `body` as JSON; a 4xx/5xx is a result (the service answered), silence is an error."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    started = time.perf_counter()
    try:
        with _open(request) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise Unreachable(
            f"Service {service!r} did not answer at {url} ({reason}). "
            "Check its state with lensflow.listServices and its log with lensflow.getServiceLogs.",
            serviceName=service,
        ) from exc
    latency_ms = (time.perf_counter() - started) * 1000
    try:
        output: Any = json.loads(raw)
    except ValueError:
        output = raw.decode("utf-8", errors="replace")
    return InvokeEndpointResult(status_code=status, output=output, latency_ms=round(latency_ms, 3))


def _resolve(spec: Any, node: Any) -> Any:
    """A local reference followed into the document; anything else as it is."""
    ref = node.get("$ref", "") if isinstance(node, dict) else ""
    if not ref.startswith("#/"):
        return node
    for part in ref[2:].split("/"):
        spec = spec.get(part, {}) if isinstance(spec, dict) else {}
    return spec


def _request_example(spec: Any, operation: Any) -> Any:
    """The body's example, its first named example, else its schema's: OpenAPI 3 puts the body
    in requestBody, Swagger 2.0 (Azure's swagger.json) in the parameter that is `in: body`."""
    if "requestBody" in operation:
        body = _resolve(spec, operation["requestBody"])["content"]["application/json"]
        if "example" in body:
            return body["example"]
        for example in (body.get("examples") or {}).values():
            if isinstance(example, dict) and "value" in example:
                return example["value"]
    else:
        body = next(p for p in operation.get("parameters", []) if p.get("in") == "body")
        if "x-example" in body:
            return body["x-example"]
    schema = _resolve(spec, body.get("schema", {}))
    if isinstance(schema, dict) and "example" in schema:
        return schema["example"]
    raise LookupError("no example")


def example_body(swagger_url: str, path: str = "/score") -> Any:
    """The example request a service documents in its swagger.json (Swagger 2.0 or OpenAPI 3),
    for a one-click invoke."""
    try:
        with _open(swagger_url) as response:
            spec = json.load(response)
        operation = spec["paths"][path]["post"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise Unreachable(
            f"Could not read an example request from {swagger_url} ({exc}); pass `input`.",
        ) from exc
    try:
        return _request_example(spec, operation)
    except (LookupError, StopIteration, TypeError, AttributeError):
        raise Unreachable(f"{swagger_url} documents no example request; pass `input`.") from None
