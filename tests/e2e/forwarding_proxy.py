"""A real HTTP proxy on 127.0.0.1 for the tests, in a thread: requests in absolute form are
forwarded (502 Bad Gateway when the server refuses), CONNECT opens a tunnel (502 likewise).
`seen` keeps each request line and `auth` each Proxy-Authorization header, in order."""

from __future__ import annotations

import http.client
import selectors
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "te",
              "trailer", "transfer-encoding", "upgrade", "content-length"}  # fmt: skip


class ForwardingProxy:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.auth: list[str | None] = []
        proxy = self

        class Handler(_Handler):
            owner = proxy

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    def __enter__(self) -> ForwardingProxy:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    owner: ForwardingProxy

    def log_message(self, format: str, *args: object) -> None:
        pass  # the tests read `seen`

    def _note(self) -> None:
        self.owner.seen.append(f"{self.command} {self.path}")
        self.owner.auth.append(self.headers.get("Proxy-Authorization"))

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            body = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                body += self.rfile.read(size)
                self.rfile.readline()
            self.rfile.readline()
            return body
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _forward(self) -> None:
        self._note()
        url = urlsplit(self.path)
        body = self._body()
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(url.hostname or "", url.port or 80, timeout=60)
        try:
            target = (url.path or "/") + (f"?{url.query}" if url.query else "")
            upstream.request(self.command, target, body, headers)
            answer = upstream.getresponse()
            data = answer.read()
        except OSError as exc:
            self.send_error(502, explain=str(exc))
            return
        finally:
            upstream.close()
        self.send_response(answer.status, answer.reason)
        for key, value in answer.getheaders():
            if key.lower() not in HOP_BY_HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _forward

    def do_CONNECT(self) -> None:
        self._note()
        host, _, port = self.path.rpartition(":")
        try:
            upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=10)
        except OSError as exc:
            self.send_error(502, explain=str(exc))
            return
        self.send_response(200, "Connection established")
        self.end_headers()
        with upstream, selectors.DefaultSelector() as pipes:
            pipes.register(self.connection, selectors.EVENT_READ, upstream)
            pipes.register(upstream, selectors.EVENT_READ, self.connection)
            while events := pipes.select(timeout=60):
                for key, _ in events:
                    chunk = key.fileobj.recv(65536)  # type: ignore[union-attr]
                    if not chunk:
                        return
                    key.data.sendall(chunk)
