"""A small HTTP/1.1 load generator: N keep-alive connections on 127.0.0.1, each sending the same
request back to back for a fixed time, counting every status and checking every body.

Python, not wrk, so that it runs wherever the tests run and checks each answer's body against
the expected one (wrk counts statuses only).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    wrong_bodies: int = 0
    errors: list[str] = field(default_factory=list)
    reconnects: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def percentile(self, share: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


def request_bytes(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """(status, body, the server keeps the connection) of one response with Content-Length."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return status, body, headers.get("connection", "").lower() != "close"


async def _connection(
    port: int, payload: bytes, expected: bytes, deadline: float, result: LoadResult
) -> None:
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    try:
        while time.monotonic() < deadline:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            assert reader is not None
            sent = time.perf_counter()
            writer.write(payload)
            await writer.drain()
            status, body, keep = await _read_response(reader)
            result.latencies_ms.append((time.perf_counter() - sent) * 1000)
            result.statuses[status] += 1
            if status == 200 and body != expected:
                result.wrong_bodies += 1
            if not keep:
                writer.close()
                writer, reader = None, None
                result.reconnects += 1
    except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        if writer is not None:
            writer.close()


async def hammer(
    port: int,
    path: str,
    body: bytes,
    headers: dict[str, str],
    expected: bytes,
    connections: int,
    seconds: float,
    every: Callable[[float], None] | None = None,
    every_s: float = 5.0,
) -> LoadResult:
    """Load for `seconds`; `every(elapsed)` is called each `every_s` seconds meanwhile."""
    result = LoadResult()
    payload = request_bytes(path, body, {"Content-Type": "application/json", **headers})
    started = time.monotonic()
    deadline = started + seconds
    tasks = [
        asyncio.ensure_future(_connection(port, payload, expected, deadline, result))
        for _ in range(connections)
    ]
    if every is not None:
        mark = started + every_s
        while mark < deadline - 0.5:
            await asyncio.sleep(mark - time.monotonic())
            every(time.monotonic() - started)
            mark += every_s
    await asyncio.gather(*tasks)
    result.seconds = time.monotonic() - started
    return result
