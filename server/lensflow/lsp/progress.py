"""Work-done progress (`$/progress`) for long commands, when the client supports it.

LSP methods: window/workDoneProgress/create, $/progress, window/workDoneProgress/cancel.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)


class Progress:
    """One progress bar; a client's cancel sets `cancel` (no cancel: the work cannot be
    cancelled, and the client shows no Cancel). A no-op where the client has none."""

    def __init__(self, ls: LanguageServer, title: str, cancel: asyncio.Event | None) -> None:
        self._ls = ls
        self._title = title
        self._cancel = cancel
        self._token: str | None = None

    async def __aenter__(self) -> Progress:
        window = self._ls.client_capabilities.window
        if not (window and window.work_done_progress):
            return self
        token = str(uuid.uuid4())  # pygls never forgets a token: always a fresh one
        try:
            await self._ls.work_done_progress.create_async(token)
        except Exception:  # a client that refuses progress still gets the command done
            log.info("client refused a progress token", exc_info=True)
            return self
        self._token = token
        if (cancel := self._cancel) is not None:
            loop = asyncio.get_running_loop()
            future = self._ls.work_done_progress.tokens[token]
            future.add_done_callback(
                lambda f: loop.call_soon_threadsafe(cancel.set) if f.cancelled() else None
            )
        begin = types.WorkDoneProgressBegin(
            title=self._title, cancellable=cancel is not None, message=""
        )
        self._ls.work_done_progress.begin(token, begin)
        return self

    def report(self, message: str, percentage: int | None = None) -> None:
        if self._token is not None:
            self._ls.work_done_progress.report(
                self._token,
                types.WorkDoneProgressReport(message=message[:200], percentage=percentage),
            )

    def end(self, message: str) -> None:
        if self._token is not None:
            self._ls.work_done_progress.end(self._token, types.WorkDoneProgressEnd(message=message))
            self._token = None

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if self._cancel is not None and self._cancel.is_set():
            self.end("cancelled")
        else:
            self.end("failed" if exc_type is not None else "done")
