"""A tiny JSON-RPC 2.0 client over a child's stdio (LSP `Content-Length` framing).

Deliberately independent of pygls and pytest-lsp, so that Lensflow and its peers are driven by
the very same code. Server-to-client requests (progress tokens, codeLens refresh,
configuration) get an immediate empty answer; notifications are kept in `notifications`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

_MAX_STDERR = 64 * 1024


class RpcError(Exception):
    def __init__(self, method: str, error: Mapping[str, Any]) -> None:
        self.code: int = int(error.get("code", 0))
        self.message: str = str(error.get("message", ""))
        self.data: Any = error.get("data")
        super().__init__(f"{method}: {self.code} {self.message}")


class RpcClient:
    """One server process and its stdio; use `spawn()` to make one."""

    def __init__(self, proc: asyncio.subprocess.Process, spawned_at: float) -> None:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        self.proc = proc
        self.spawned_at = spawned_at
        self.notifications: list[tuple[str, Any]] = []
        self.server_requests: list[str] = []
        self.shutdown_answered: bool | None = None  # set by close()
        self._stdin = proc.stdin
        self._next_id = 0
        self._pending: dict[int, tuple[str, asyncio.Future[Any]]] = {}
        self._stderr: deque[bytes] = deque()
        self._stderr_size = 0
        self._reader = asyncio.ensure_future(self._read_messages(proc.stdout))
        self._stderr_reader = asyncio.ensure_future(self._drain_stderr(proc.stderr))

    @classmethod
    async def spawn(
        cls,
        argv: Sequence[str],
        cwd: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> RpcClient:
        """Starts the server; `spawned_at` is `time.perf_counter()` just before the fork."""
        spawned_at = time.perf_counter()
        proc = await asyncio.create_subprocess_exec(
            *argv,
            cwd=None if cwd is None else str(cwd),
            env=dict(os.environ if env is None else env),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(proc, spawned_at)

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def stderr_tail(self) -> str:
        return b"".join(self._stderr).decode("utf-8", errors="replace")

    # --- sending -----------------------------------------------------------------------
    def _write(self, message: Mapping[str, Any]) -> None:
        body = json.dumps(message, separators=(",", ":")).encode("utf-8")
        self._stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self._write(message)

    def send_request(self, method: str, params: Any = None) -> asyncio.Future[Any]:
        """Writes the request now; the future resolves with its result (or RpcError)."""
        self._next_id += 1
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[self._next_id] = (method, future)
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            message["params"] = params
        self._write(message)
        return future

    async def request(self, method: str, params: Any = None, timeout: float = 60.0) -> Any:
        future = self.send_request(method, params)
        await self._stdin.drain()
        return await asyncio.wait_for(future, timeout)

    # --- receiving ---------------------------------------------------------------------
    async def _read_messages(self, stdout: asyncio.StreamReader) -> None:
        try:
            while True:
                length = -1
                while True:
                    line = await stdout.readline()
                    if not line:
                        raise EOFError("the server closed its stdout")
                    line = line.strip()
                    if not line:
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                if length < 0:
                    raise ValueError("a message without Content-Length")
                self._dispatch(json.loads(await stdout.readexactly(length)))
        except (EOFError, asyncio.IncompleteReadError, ValueError) as exc:
            for method, future in self._pending.values():
                if not future.done():
                    future.set_exception(
                        ConnectionError(f"{method}: no reply ({exc}); stderr:\n{self.stderr_tail}")
                    )
            self._pending.clear()

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "method" not in message:  # a response to one of ours
            method, future = self._pending.pop(int(message["id"]), ("?", None))
            if future is None or future.done():
                return
            if "error" in message:
                future.set_exception(RpcError(method, message["error"]))
            else:
                future.set_result(message.get("result"))
        elif "id" in message:  # the server asks us something: answer at once, emptily
            method = str(message["method"])
            self.server_requests.append(method)
            result: Any = None
            if method == "workspace/configuration":
                result = [None for _ in message.get("params", {}).get("items", [])]
            self._write({"jsonrpc": "2.0", "id": message["id"], "result": result})
        else:
            self.notifications.append((str(message["method"]), message.get("params")))

    async def _drain_stderr(self, stderr: asyncio.StreamReader) -> None:
        while chunk := await stderr.read(65536):
            self._stderr.append(chunk)
            self._stderr_size += len(chunk)
            while self._stderr_size > _MAX_STDERR and len(self._stderr) > 1:
                self._stderr_size -= len(self._stderr.popleft())

    # --- ending ------------------------------------------------------------------------
    async def close(self, shutdown_timeout: float = 3.0, exit_timeout: float = 10.0) -> int | None:
        """`shutdown` + `exit`, then waits; kills the server if it does not go.

        `shutdown_answered` records whether `shutdown` got its (successful) reply in time; the
        server is told `exit` and loses its stdin either way.
        """
        if self.proc.returncode is None:
            try:
                await self.request("shutdown", None, timeout=shutdown_timeout)
                self.shutdown_answered = True
            except (TimeoutError, RpcError, ConnectionError):
                self.shutdown_answered = False
            with contextlib.suppress(ConnectionError, RuntimeError):
                self.notify("exit")
                await self._stdin.drain()
            with contextlib.suppress(ConnectionError, RuntimeError):
                self._stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), exit_timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        for task in (self._reader, self._stderr_reader):
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(task, 2.0)
        return self.proc.returncode


def rss_mib(pid: int) -> float:
    """Resident set size of a live process, from /proc/<pid>/status (VmRSS, in KiB)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def initialize_params(root: Path | None, progress: bool = True) -> dict[str, Any]:
    """An editor-like `initialize`: progress, codeLens refresh, no `workspace/configuration`."""
    params: dict[str, Any] = {
        "processId": os.getpid(),
        "clientInfo": {"name": "lensflow-bench", "version": "0"},
        "capabilities": {
            "window": {"workDoneProgress": progress},
            "workspace": {"codeLens": {"refreshSupport": True}, "configuration": False},
            "textDocument": {
                "codeLens": {"dynamicRegistration": False},
                "synchronization": {"dynamicRegistration": False},
            },
        },
        "rootUri": None,
        "workspaceFolders": None,
    }
    if root is not None:
        params["rootUri"] = root.as_uri()
        params["workspaceFolders"] = [{"uri": root.as_uri(), "name": root.name}]
    return params
