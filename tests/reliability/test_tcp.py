"""LSP over TCP: loopback only unless asked, and only for a client that sends the token.

Each test starts the real server (`python -m lensflow --tcp 127.0.0.1:PORT`) with its token
file in the test's own folder, and speaks raw frames to it over a socket. A refused client
gets one error answer and the end of the stream, nothing it sent after runs, and the server
goes on serving the next client; the client with the token is served end to end.
"""

from __future__ import annotations

import base64
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fuzz.rawlsp import message_frame, read_frame

RUNS_A_FILE = 'open("ran.txt", "w").write("it ran")\n'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lensflow(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The command line alone, for what it refuses before it serves."""
    command = [sys.executable, "-m", "lensflow", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=60)


class Server:
    """`lensflow --tcp` on 127.0.0.1, its stderr (DEBUG) in `log` (beside `root` by default)."""

    def __init__(self, root: Path, token_file: Path, log: Path | None = None) -> None:
        self.port = free_port()
        self.log = log or root.parent / "server.log"
        command = [sys.executable, "-m", "lensflow", "--tcp", f"127.0.0.1:{self.port}",
                   "--token-file", str(token_file), "--log-level", "DEBUG"]  # fmt: skip
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(command, cwd=root, stderr=log)
        deadline = time.monotonic() + 60
        while not self.log.read_text().count("serving LSP over TCP"):
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < deadline, "the TCP server never listened"
            time.sleep(0.1)

    def connect(self) -> Client:
        return Client(socket.create_connection(("127.0.0.1", self.port), timeout=60))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


class Client:
    """Raw frames over one socket; answers the server's own requests as an editor does."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.stream = sock.makefile("rb")
        self.notifications: list[dict[str, Any]] = []

    def send(self, *messages: dict[str, Any]) -> None:
        self.sock.sendall(b"".join(message_frame(m) for m in messages))

    def read_all(self) -> list[dict[str, Any]]:
        """Every message until the server closes the stream."""
        return list(iter(lambda: read_frame(self.stream), None))

    def answer(self, msg_id: int) -> dict[str, Any]:
        while (message := read_frame(self.stream)) is not None:
            if "method" in message and "id" in message:
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            elif "method" in message:
                self.notifications.append(message)
            elif message.get("id") == msg_id:
                return message
        raise AssertionError(f"the server closed the stream before answering {msg_id}")

    def request(self, msg_id: int, method: str, params: Any = None) -> dict[str, Any]:
        self.send(request(msg_id, method, params))
        return self.answer(msg_id)

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


def request(msg_id: int, method: str, params: Any = None) -> dict[str, Any]:
    message = {"jsonrpc": "2.0", "id": msg_id, "method": method}
    return message if params is None else {**message, "params": params}


def initialize(root: Path, msg_id: int = 1, **options: Any) -> dict[str, Any]:
    params = {"processId": None, "rootUri": root.as_uri(), "capabilities": {}}
    return request(msg_id, "initialize", {**params, "initializationOptions": options})


def track_run(msg_id: int) -> dict[str, Any]:
    params = {"command": "lensflow.trackRun", "arguments": [{"script": "train.py"}]}
    return request(msg_id, "workspace/executeCommand", params)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text(RUNS_A_FILE)
    return project


@pytest.fixture
def server(root: Path) -> Iterator[Server]:
    running = Server(root, root.parent / "state" / "tcp-token")
    try:
        yield running
    finally:
        running.stop()


def token_of(root: Path) -> str:
    return (root.parent / "state" / "tcp-token").read_text().strip()


@pytest.mark.parametrize("address", ["0.0.0.0", "[::]", "192.0.2.7", "example.com"])
def test_an_address_that_is_not_loopback_is_refused(root: Path, address: str) -> None:
    port = free_port()
    done = lensflow("--tcp", f"{address}:{port}", "--token-file", "token", cwd=root)
    assert done.returncode == 2, done
    assert "no loopback address" in done.stderr and "--allow-remote" in done.stderr
    assert not (root / "token").exists()  # refused before anything was made


def test_the_token_options_go_with_tcp_only(root: Path) -> None:
    done = lensflow("--allow-remote", cwd=root)
    assert done.returncode == 2 and "go with --tcp" in done.stderr, done


def test_the_token_file_is_made_private_with_256_random_bits(server: Server, root: Path) -> None:
    path = root.parent / "state" / "tcp-token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    token = token_of(root)
    assert len(base64.urlsafe_b64decode(token + "=")) == 32
    # The next server reads the same token back; a file others can read is refused.
    server.stop()
    again = Server(root, path)
    again.stop()
    assert token_of(root) == token
    path.chmod(0o640)
    done = lensflow("--tcp", f"127.0.0.1:{free_port()}", "--token-file", str(path), cwd=root)
    assert done.returncode == 2 and "chmod 600" in done.stderr, done
    assert token not in done.stderr


@pytest.mark.parametrize(
    "first",
    [
        pytest.param({"token": "not-the-token"}, id="wrong token"),
        pytest.param({}, id="no token"),
        pytest.param({"token": ["not", "a", "string"]}, id="token no string"),
        pytest.param(None, id="a command before initialize"),
    ],
)
def test_a_client_without_the_token_is_answered_and_closed(
    server: Server, root: Path, first: dict[str, Any] | None
) -> None:
    """What it sent after the refused request never runs; the next client is served."""
    refused = server.connect()
    opening = track_run(1) if first is None else initialize(root, **first)
    refused.send(opening, {"jsonrpc": "2.0", "method": "initialized", "params": {}}, track_run(2))
    answers = refused.read_all()  # ends: the server closed the stream
    assert [a["id"] for a in answers] == [1], answers
    code = -32002 if first is None else -32600
    assert answers[0]["error"]["code"] == code, answers
    assert "initializationOptions.token" in answers[0]["error"]["message"]
    refused.close()
    # Served after that: the refused run never ran, and a run by this client does.
    client = server.connect()
    hello = client.request(1, "initialize", initialize(root, token=token_of(root))["params"])
    assert "result" in hello, hello
    time.sleep(1)
    assert not (root / "ran.txt").exists(), "a command from the refused client ran"
    run = client.request(2, "workspace/executeCommand", track_run(2)["params"])
    assert run["result"]["status"] == "FINISHED", run
    assert (root / "ran.txt").read_text() == "it ran"
    client.close()


def test_junk_before_initialize_is_closed_unanswered(server: Server, root: Path) -> None:
    """An HTTP request (a browser's, say), a frame too big to read, JSON that is no message."""
    junk = [b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", b"Content-Length: 2000000000\r\n\r\n{",
            b"Content-Length: 2\r\n\r\n[]", b"Content-Length: 3\r\n\r\n{x}"]  # fmt: skip
    for data in junk:
        client = server.connect()
        client.sock.sendall(data)
        assert client.read_all() == [], data
        client.close()
    assert server.log.read_text().count("closed a TCP client") == len(junk)
    client = server.connect()
    hello = client.request(1, "initialize", initialize(root, token=token_of(root))["params"])
    assert "result" in hello, hello


def test_a_refused_client_that_sent_more_still_reads_its_answer(server: Server, root: Path) -> None:
    """Closing a socket over unread bytes resets it, which can destroy the answer unread."""
    refused = server.connect()
    padding = {"jsonrpc": "2.0", "method": "x/padding", "params": "x" * (3 << 20)}
    refused.send(initialize(root, token="wrong"), padding)
    answers = refused.read_all()
    assert [a["error"]["code"] for a in answers] == [-32600], answers


def test_the_client_with_the_token_is_served_end_to_end(server: Server, root: Path) -> None:
    token = token_of(root)
    client = server.connect()
    hello = client.request(1, "initialize", initialize(root, token=token)["params"])
    assert hello["result"]["serverInfo"]["name"] == "lensflow"
    commands = hello["result"]["capabilities"]["executeCommandProvider"]["commands"]
    assert "lensflow.trackRun" in commands
    client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    params = {"command": "lensflow.getWorkspace", "arguments": []}
    workspace = client.request(2, "workspace/executeCommand", params)["result"]
    assert (workspace["kind"], Path(workspace["home"])) == ("local", root / ".lensflow")
    # A second client, even with the token, is refused while this one is served.
    other = server.connect()
    other.send(initialize(root, token=token))
    answers = other.read_all()
    assert [a["error"]["code"] for a in answers] == [-32600]
    assert "already serves a client" in answers[0]["error"]["message"]
    # The first client is still served; its exit ends the server, as over stdio.
    assert "result" in client.request(3, "workspace/executeCommand", params)
    assert client.request(4, "shutdown") == {"jsonrpc": "2.0", "id": 4, "result": None}
    client.send({"jsonrpc": "2.0", "method": "exit"})
    assert server.proc.wait(30) == 0
    log = server.log.read_text()
    assert token not in log, "the token was logged"
    assert "refused a TCP client" in log


def test_broken_frames_after_the_token_are_skipped_as_over_stdio(
    server: Server, root: Path
) -> None:
    # After the greeting the session read with pygls's own loop: a frame announcing 100 GB,
    # garbage glued before a header, or a 100 KB line went unguarded (stdio has FrameReader).
    client = server.connect()
    client.request(1, "initialize", initialize(root, token=token_of(root))["params"])
    client.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
    params = {"command": "lensflow.getWorkspace", "arguments": []}
    client.sock.sendall(b"Content-Length: 100000000000\r\n\r\n{}")
    client.sock.sendall(b"x" * 100_000 + b"\r\n")
    client.sock.sendall(b"garbage" + message_frame(request(2, "workspace/executeCommand", params)))
    answer = client.answer(2)
    assert answer["result"]["kind"] == "local"
    assert server.proc.poll() is None
    client.close()
