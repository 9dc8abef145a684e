"""Jupyter notebooks opened through LSP 3.17's notebook document sync.

LSP methods: notebookDocument/didOpen, notebookDocument/didChange, notebookDocument/didClose
(pygls keeps the notebooks and their cells' text documents); textDocument/publishDiagnostics for
cells. Lenses, code actions, hovers and inlay hints in cells find their facts through
`Documents.facts_and_target`, which reads the code cells as one script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..lsp.feature import Feature, on
from ..views.problems import to_diagnostics

if TYPE_CHECKING:
    from ..server import LensflowServer

SYNC_OPTIONS = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithCells(
            notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")]
        )
    ]
)


class Notebooks(Feature):
    def __init__(self, server: LensflowServer) -> None:
        super().__init__(server)
        # pygls reads this at `initialize` and advertises it when the client can sync notebooks.
        server._notebook_document_sync = SYNC_OPTIONS

    @on(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def did_open(self, params: types.DidOpenNotebookDocumentParams) -> None:
        docs = self.server.documents
        notebook = docs.notebook(params.notebook_document.uri)
        self._publish(notebook)
        if notebook is not None and any(f.uses_mlflow for _, f in docs.notebook_cells(notebook)):
            self.server.warm()  # lenses will want the store next

    @on(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def did_change(self, params: types.DidChangeNotebookDocumentParams) -> None:
        self._publish(self.server.documents.notebook(params.notebook_document.uri))
        structure = params.change.cells.structure if params.change.cells else None
        for cell in structure.did_close or [] if structure else []:
            self._clear(cell.uri)

    @on(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def did_close(self, params: types.DidCloseNotebookDocumentParams) -> None:
        self.server.documents.forget(params.notebook_document.uri)
        for cell in params.cell_text_documents:
            self._clear(cell.uri)

    def _publish(self, notebook: types.NotebookDocument | None) -> None:
        if notebook is None:
            return
        docs, settings = self.server.documents, self.server.settings
        for uri, facts in docs.notebook_cells(notebook):
            self.server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=uri,
                    diagnostics=to_diagnostics(settings, facts),
                    version=docs.cell_version(uri),
                )
            )

    def _clear(self, cell_uri: str) -> None:
        self.server.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=cell_uri, diagnostics=[])
        )
