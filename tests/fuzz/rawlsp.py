"""A raw LSP client over stdio for the fuzz tests: it writes any bytes, broken frames included,
and reads the server's frames as strictly as vscode-jsonrpc does.

pytest-lsp's client cannot send a broken frame (it serialises every message itself), so the
fuzz tests talk to the real server through this one: a `python -m lensflow` child process,
a reader thread that files answers by id, and plain blocking calls with a time bound.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

SERVER_COMMAND = [sys.executable, "-m", "lensflow", "--log-level", "WARNING"]
ANSWER_TIMEOUT_S = 30.0


def frame(body: bytes, length: int | None = None) -> bytes:
    """One LSP frame; `length` lies about the body's size when given."""
    size = len(body) if length is None else length
    return f"Content-Length: {size}\r\n\r\n".encode() + body


def message_frame(message: Any) -> bytes:
    return frame(json.dumps(message).encode())


def read_frame(stream: IO[bytes]) -> dict[str, Any] | None:
    """One message, read as strictly as vscode-jsonrpc does; None at the end of the stream."""
    fields: dict[bytes, bytes] = {}
    while (line := stream.readline()) not in (b"\r\n", b""):
        key, sep, value = line.rstrip(b"\r\n").partition(b": ")
        if not (sep and line.endswith(b"\r\n")):
            raise ValueError(f"not a header line: {line[:200]!r}")
        fields[key] = value
    if not fields:
        return None
    body = stream.read(int(fields[b"Content-Length"]))
    message: dict[str, Any] = json.loads(body)
    return message


def shorten(value: Any, limit: int = 600) -> str:
    """An input or answer for a failure message: whole when short, else its ends."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit // 2]} … {text[-limit // 2 :]}"


class NoAnswer(AssertionError):
    pass


class RawLsp:
    """The real server as a child process, spoken to in raw frames."""

    def __init__(self, root: Path, log: Path) -> None:
        self.root = root
        self._log = log.open("wb")
        self.proc = subprocess.Popen(
            SERVER_COMMAND,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            cwd=root,
        )
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._write_lock = threading.Lock()
        self.answers: dict[Any, dict[str, Any]] = {}
        self.unmatched: list[dict[str, Any]] = []  # answers with id null (parse errors, …)
        self.notifications: list[dict[str, Any]] = []
        self.stream_error: str | None = None
        self.closed = False
        self._reader = threading.Thread(target=self._read, name="rawlsp-reader", daemon=True)
        self._reader.start()

    # ------------------------------------------------------------------ reading
    def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            while (message := read_frame(self.proc.stdout)) is not None:
                self._file(message)
        except (ValueError, KeyError, OSError, AttributeError) as exc:
            self.stream_error = f"the server wrote a broken frame: {exc!r}"
        with self._lock:
            self.closed = True
            self._lock.notify_all()

    def _file(self, message: dict[str, Any]) -> None:
        if "method" in message and "id" in message:
            # A server → client request (progress, lens refresh): answer it, as an editor does.
            with contextlib.suppress(OSError):
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
            return
        with self._lock:
            if "method" in message:
                self.notifications.append(message)
            elif not isinstance(message.get("id"), int | str):
                self.unmatched.append(message)  # id null (a parse error), or one we never sent
            else:
                self.answers[message["id"]] = message
            self._lock.notify_all()

    def answer(self, msg_id: Any, timeout: float = ANSWER_TIMEOUT_S) -> dict[str, Any]:
        """The server's answer to request `msg_id`; fails when none comes within `timeout`."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while msg_id not in self.answers:
                left = deadline - time.monotonic()
                if self.closed or left <= 0:
                    why = "closed the stream" if self.closed else f"gave none in {timeout:.0f} s"
                    raise NoAnswer(f"no answer to request {msg_id!r}: the server {why}")
                self._lock.wait(left)
            return self.answers.pop(msg_id)

    # ------------------------------------------------------------------ writing
    def send_bytes(self, data: bytes) -> None:
        assert self.proc.stdin is not None
        with self._write_lock:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def send(self, message: Any) -> None:
        self.send_bytes(message_frame(message))

    def next_id(self) -> int:
        return next(self._ids)

    def request(
        self, method: str, params: Any = None, timeout: float = ANSWER_TIMEOUT_S
    ) -> dict[str, Any]:
        msg_id = self.next_id()
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return self.answer(msg_id, timeout)

    def execute(self, command: str, arguments: list[Any]) -> dict[str, Any]:
        """workspace/executeCommand; the whole answer message (result or error)."""
        return self.request(
            "workspace/executeCommand", {"command": command, "arguments": arguments}
        )

    def execute_text(self, command: str, arguments: str) -> dict[str, Any]:
        """workspace/executeCommand, `arguments` as JSON text (too deep for json.dumps)."""
        msg_id = self.next_id()
        head = {"jsonrpc": "2.0", "id": msg_id, "method": "workspace/executeCommand"}
        params = f'{{"command": {json.dumps(command)}, "arguments": {arguments}}}'
        self.send_bytes(frame(f'{json.dumps(head)[:-1]}, "params": {params}}}'.encode()))
        return self.answer(msg_id)

    # ------------------------------------------------------------------ life cycle
    def alive(self) -> bool:
        return self.proc.poll() is None and not self.closed

    def initialize(self) -> dict[str, Any]:
        params = {
            "processId": None,
            "rootUri": self.root.as_uri(),
            "workspaceFolders": [{"uri": self.root.as_uri(), "name": self.root.name}],
            "capabilities": {},
        }
        answer = self.request("initialize", params)
        self.send({"jsonrpc": "2.0", "method": "initialized", "params": {}})
        return answer

    def close(self) -> None:
        """shutdown + exit; killed when it does not go in time. Leaves no process behind."""
        try:
            if self.alive():
                self.request("shutdown", timeout=15)
                self.send({"jsonrpc": "2.0", "method": "exit"})
            self.proc.wait(15)
        except (NoAnswer, OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait(10)
        finally:
            self._reader.join(5)
            for stream in (self.proc.stdin, self.proc.stdout):
                if stream is not None:
                    stream.close()
            self._log.close()
