"""The up-check through an HTTP proxy, as MLflow's client would go: a real proxy on 127.0.0.1
(tests/e2e/forwarding_proxy.py), real servers, closed ports."""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from lensflow.workspaces.tracking.server_check import check_server
from lensflow_protocol.errors import Unreachable

from tests.e2e.forwarding_proxy import ForwardingProxy


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Ok(BaseHTTPRequestHandler):
    def do_HEAD(self) -> None:
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def web_server() -> Iterator[int]:
    """An HTTP server on 127.0.0.1 that answers HEAD with 200; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    with ForwardingProxy() as running:
        yield running


Environ = Callable[[dict[str, str]], None]


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> Environ:
    """Sets this process's proxy variables to exactly `env` (the check reads the environment)."""

    def use(env: dict[str, str]) -> None:
        for name in list(os.environ):
            if name.lower().endswith("_proxy"):
                monkeypatch.delenv(name)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return use


def via(proxy: str, **more: str) -> dict[str, str]:
    return {"http_proxy": proxy, "https_proxy": proxy, "no_proxy": "", **more}


async def test_a_stopped_server_behind_a_proxy_is_unreachable_at_once(
    proxy: ForwardingProxy, environ: Environ
) -> None:
    port = closed_port()
    began = time.monotonic()
    with pytest.raises(Unreachable) as raised:
        environ(via(proxy.url))
        await check_server(f"http://127.0.0.1:{port}")
    assert time.monotonic() - began < 2.0
    assert f"the proxy {proxy.url} answered 502" in str(raised.value), str(raised.value)
    assert proxy.seen == [f"HEAD http://127.0.0.1:{port}/"]


async def test_a_running_server_behind_a_proxy_passes_through_it(
    proxy: ForwardingProxy, environ: Environ
) -> None:
    with web_server() as port:
        environ(via(proxy.url))
        await check_server(f"http://127.0.0.1:{port}/mlflow?x=1")
    assert proxy.seen == [f"HEAD http://127.0.0.1:{port}/mlflow?x=1"]


async def test_the_server_environment_is_the_default(
    proxy: ForwardingProxy, monkeypatch: pytest.MonkeyPatch, environ: Environ
) -> None:
    for name in ("no_proxy", "NO_PROXY", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("http_proxy", proxy.url)
    with pytest.raises(Unreachable, match="answered 502"):
        await check_server(f"http://127.0.0.1:{closed_port()}")
    assert len(proxy.seen) == 1


async def test_https_goes_by_connect(proxy: ForwardingProxy, environ: Environ) -> None:
    port = closed_port()
    with pytest.raises(Unreachable, match="answered 502"):
        environ(via(proxy.url))
        await check_server(f"https://127.0.0.1:{port}")
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        up = listening.getsockname()[1]
        environ(via(proxy.url))
        await check_server(f"https://user:pw@127.0.0.1:{up}/")
    assert proxy.seen == [f"CONNECT 127.0.0.1:{port}", f"CONNECT 127.0.0.1:{up}"]


async def test_all_proxy_serves_when_the_scheme_has_none(
    proxy: ForwardingProxy, environ: Environ
) -> None:
    with pytest.raises(Unreachable, match="answered 502"):
        environ({"ALL_PROXY": proxy.url})
        await check_server(f"http://127.0.0.1:{closed_port()}")
    assert len(proxy.seen) == 1


async def test_a_stopped_proxy_is_unreachable_without_its_password(environ: Environ) -> None:
    proxy = f"http://bob:hunter2@127.0.0.1:{closed_port()}"
    began = time.monotonic()
    with pytest.raises(Unreachable) as raised:
        environ(via(proxy))
        await check_server("http://mlflow.example:5000")
    assert time.monotonic() - began < 2.0
    message = str(raised.value)
    assert "the proxy http://bob:***@127.0.0.1:" in message and "refused" in message.lower()
    assert "hunter2" not in message


async def test_the_proxy_gets_its_credentials(proxy: ForwardingProxy, environ: Environ) -> None:
    with_user = proxy.url.replace("http://", "http://bob:p%40ss@")
    with web_server() as port:
        environ(via(with_user))
        await check_server(f"http://127.0.0.1:{port}")
    assert proxy.auth == ["Basic Ym9iOnBAc3M="]  # bob:p@ss


async def test_a_silent_proxy_is_unreachable_within_the_timeout(environ: Environ) -> None:
    with socket.socket() as silent:  # takes the connection (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        proxy = f"http://127.0.0.1:{silent.getsockname()[1]}"
        began = time.monotonic()
        with pytest.raises(Unreachable, match=f"through the proxy {proxy} within 1 s"):
            environ(via(proxy))
            await check_server("http://mlflow.example:5000", timeout=1.0)
        assert time.monotonic() - began < 3.0


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "127.0.0.0/8", "*", " localhost , 127.0.0.1 "])
async def test_no_proxy_sends_the_check_straight_to_the_server(
    proxy: ForwardingProxy, no_proxy: str, environ: Environ
) -> None:
    port = closed_port()
    with pytest.raises(Unreachable, match="refused"):
        environ(via(proxy.url, no_proxy=no_proxy))
        await check_server(f"http://127.0.0.1:{port}")
    assert proxy.seen == []


async def test_a_socks_proxy_is_left_to_mlflow(environ: Environ) -> None:
    environ(via("socks5://127.0.0.1:1"))
    await check_server(f"http://127.0.0.1:{closed_port()}")
