"""SDK v2's retry policy over real HTTP on 127.0.0.1, through azure-core's own pipeline: a
refused connection is not retried (it only delays "unreachable"); a 503 still is."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from azure.core import PipelineClient  # the azureml extra: the test command installs it
from azure.core.exceptions import ServiceRequestError
from azure.core.pipeline.policies import RetryPolicy
from azure.core.rest import HttpRequest
from lensflow.workspaces.azureml.sdk_v2 import retry_policy_class

BACKOFF = 0.3  # azure-core sleeps 0.3, 0.6, 1.2 s between its three connect retries


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _get(policy: RetryPolicy, url: str) -> int:
    client: PipelineClient = PipelineClient(url, policies=[policy])  # type: ignore[type-arg]
    with client:
        return int(client.send_request(HttpRequest("GET", url)).status_code)


def _refused_after(policy: RetryPolicy) -> float:
    url = f"http://127.0.0.1:{_closed_port()}/"
    started = time.monotonic()
    with pytest.raises(ServiceRequestError):
        _get(policy, url)
    return time.monotonic() - started


def test_a_refused_connection_is_not_retried() -> None:
    ours = _refused_after(retry_policy_class()(retry_backoff_factor=BACKOFF))
    theirs = _refused_after(RetryPolicy(retry_backoff_factor=BACKOFF))
    assert ours < 0.5, ours
    assert theirs > 1.5, theirs  # the premise: azure-core's own policy backs off and retries


@pytest.fixture
def flaky() -> Iterator[tuple[str, list[str]]]:
    """Answers 503 to the first request, 200 after; notes each request's path."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            self.send_response(503 if len(seen) == 1 else 200)
            self.send_header("Content-Length", "0")
            self.send_header("Retry-After", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/x", seen
    finally:
        server.shutdown()
        server.server_close()


def test_a_503_is_still_retried(flaky: tuple[str, list[str]]) -> None:
    url, seen = flaky
    assert _get(retry_policy_class()(retry_backoff_factor=0.01), url) == 200
    assert seen == ["/x", "/x"]
