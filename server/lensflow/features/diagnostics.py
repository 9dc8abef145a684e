"""The seed's pitfalls as diagnostics on open scripts (`views.problems` says which); their
quick fixes are in `code_actions`. Published again when the settings change.

After an edit they wait until edits stop for DEBOUNCE_S: the codeLens request an editor sends
with each change is answered first, and a burst of keystrokes publishes once.

LSP methods: textDocument/didOpen, textDocument/didChange, textDocument/didClose,
textDocument/publishDiagnostics.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from lsprotocol import types

from ..lsp.feature import Feature, on
from ..paths import script_key
from ..views.problems import to_diagnostics

if TYPE_CHECKING:
    from ..server import LensflowServer


DEBOUNCE_S = 0.2


class Diagnostics(Feature):
    def __init__(self, server: LensflowServer) -> None:
        super().__init__(server)
        server.after_configuration.append(self.publish_all)
        self._pending: dict[str, asyncio.TimerHandle] = {}

    @on(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(self, params: types.DidOpenTextDocumentParams) -> None:
        uri = params.text_document.uri
        self.publish(uri)
        facts = self.server.documents.facts(uri)
        if facts is not None and facts.uses_mlflow:
            self.server.warm()  # lenses will want the store next
            script = script_key(uri)
            if facts.log_calls and script is not None:
                self.server.history.ensure(script)  # and inlay hints and hovers its runs

    @on(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(self, params: types.DidChangeTextDocumentParams) -> None:
        uri = params.text_document.uri
        self._cancel(uri)
        self._pending[uri] = asyncio.get_running_loop().call_later(
            DEBOUNCE_S, self._publish_pending, uri
        )

    @on(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(self, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        self._cancel(uri)
        self.server.documents.forget(uri)
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    def publish(self, uri: str) -> None:
        facts = self.server.documents.facts(uri)
        if facts is None:
            return
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(
                uri=uri,
                diagnostics=to_diagnostics(self.server.settings, facts),
                version=self.server.documents.version(uri),
            )
        )

    def _cancel(self, uri: str) -> None:
        if (handle := self._pending.pop(uri, None)) is not None:
            handle.cancel()

    def _publish_pending(self, uri: str) -> None:
        self._pending.pop(uri, None)
        if uri in self.server.workspace.text_documents:  # closed since: nothing to say
            self.publish(uri)

    def publish_all(self) -> None:
        for uri in self.server.documents.open_uris():
            self.publish(uri)
