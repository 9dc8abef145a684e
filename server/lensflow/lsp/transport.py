"""stdin as pygls's reader loop should see it: frames found again after a broken one, and no
Content-Length that could kill the server.

pygls reads a header only when it starts a line. Bytes left over from a broken frame (a body
longer or shorter than its Content-Length, garbage between frames) glue onto the next header
line, and since a body ends without a newline, every later frame was lost that way: the server
stayed alive and never answered again. And `read(n)` allocates its n bytes at once, so one
header announcing 100 GB raised MemoryError in the loop, which ended the server.
"""

from __future__ import annotations

import asyncio
import logging
from typing import BinaryIO

log = logging.getLogger(__name__)

HEADER = b"Content-Length: "
MAX_BODY_BYTES = 1 << 30
"""A frame announcing more is skipped (a whole training notebook is far less)."""
LINE_LIMIT = 1 << 16
"""asyncio's StreamReader limit, and so the longest header line over TCP."""
RECURSION_LIMIT = 3000
"""For the server process: json.loads takes one level of it per level of nesting, and under the
default (1,000) a request nested 1,000 deep was dropped unanswered, as unparseable. Deeper than
~2,900 levels a message still is (logged; the server goes on)."""


def frame_line(line: bytes) -> bytes:
    """A header line as pygls's loop should see it: a Content-Length found again after bytes
    of a broken frame, and none where it announces more than MAX_BODY_BYTES."""
    at = line.rfind(HEADER)
    if at > 0:
        log.warning("skipped %d bytes that belong to no frame", at)
        line = line[at:]
    if line.startswith(HEADER):
        value = line[len(HEADER) :].strip()
        if value.isdigit() and int(value) > MAX_BODY_BYTES:
            log.warning("skipped a frame announcing %s bytes", value[:20].decode())
            return b"X-Skipped-" + line  # no Content-Length now: its body reads as junk
    return line


class FrameReader:
    """What pygls's StdinAsyncReader calls (stdio): `readline()` and `read(n)`."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream

    def readline(self) -> bytes:
        return frame_line(self.stream.readline())

    def read(self, n: int) -> bytes:
        return self.stream.read(n)


class AsyncFrameReader:
    """The same for a TCP connection, as pygls's `run_async` reads it."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream

    async def readline(self) -> bytes:
        try:
            return frame_line(await self.stream.readline())
        except ValueError:  # a line past the stream's limit: asyncio dropped it
            log.warning("skipped a line longer than %d bytes", LINE_LIMIT)
            return b"X-Skipped: line too long\r\n"

    async def readexactly(self, n: int) -> bytes:
        return await self.stream.readexactly(n)
