"""LSP helpers in one place (jedi-language-server's pygls_utils): ranges, and asking the client
to re-query lenses and inlay hints where it can.

LSP methods: workspace/codeLens/refresh, workspace/inlayHint/refresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from lsprotocol import types

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from ..analysis import Span

log = logging.getLogger(__name__)


def to_range(span: Span) -> types.Range:
    return types.Range(
        start=types.Position(line=span.start_line, character=span.start_col),
        end=types.Position(line=span.end_line, character=span.end_col),
    )


def in_background(work: Coroutine[Any, Any, None]) -> None:
    """Runs `work` aside; its failure is logged by the coroutine itself, never raised here."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(lambda t: t.cancelled() or t.exception())


async def refresh_lenses(ls: LanguageServer) -> None:
    """Ask the client to re-query lenses, where it can (workspace/codeLens/refresh)."""
    caps = ls.client_capabilities.workspace
    if caps and caps.code_lens and caps.code_lens.refresh_support:
        try:
            await ls.workspace_code_lens_refresh_async(None)
        except Exception:  # the client may be gone; what changed is safe
            log.info("codeLens refresh failed", exc_info=True)


async def refresh_inlay_hints(ls: LanguageServer) -> None:
    """Ask the client to re-query inlay hints, where it can (workspace/inlayHint/refresh)."""
    caps = ls.client_capabilities.workspace
    if caps and caps.inlay_hint and caps.inlay_hint.refresh_support:
        try:
            await ls.workspace_inlay_hint_refresh_async(None)
        except Exception:  # the client may be gone
            log.info("inlayHint refresh failed", exc_info=True)


def markdown_ok(ls: LanguageServer) -> bool:
    """Whether the client renders markdown in hovers (it may name only plain text)."""
    text = ls.client_capabilities.text_document
    formats = text.hover.content_format if text and text.hover else None
    return not formats or types.MarkupKind.Markdown in formats
