"""Jupyter notebooks opened through LSP 3.17's notebook document sync.

LSP methods: notebookDocument/didOpen, notebookDocument/didChange, notebookDocument/didClose
(pygls keeps the notebooks and their cells' text documents); textDocument/publishDiagnostics for
cells. Lenses, code actions, hovers and inlay hints in cells find their facts through
`facts_and_target`: the code cells are read as one script (imports and `set_experiment` may sit
in another cell), each cell gets the facts on its own lines, and commands and run history name
the notebook's file, which `lensflow.trackRun` executes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from lsprotocol import types

from ..analysis import ScriptFacts
from ..analysis.notebook import cell_facts, join_cells

if TYPE_CHECKING:
    from ..server import LensflowServer

SYNC_OPTIONS = types.NotebookDocumentSyncOptions(
    notebook_selector=[
        types.NotebookDocumentFilterWithCells(
            notebook="jupyter-notebook", cells=[types.NotebookCellLanguage(language="python")]
        )
    ]
)


def _code_cells(ls: LensflowServer, notebook: types.NotebookDocument) -> list[tuple[str, str]]:
    """(uri, text) of the notebook's Python code cells, in order."""
    docs = ls.workspace.text_documents
    cells = []
    for cell in notebook.cells:
        doc = docs.get(unquote(cell.document))
        code = cell.kind == types.NotebookCellKind.Code
        if code and doc is not None and doc.language_id in (None, "python"):
            cells.append((cell.document, doc.source))
    return cells


def _notebook_cells(
    ls: LensflowServer, notebook: types.NotebookDocument
) -> list[tuple[str, ScriptFacts]]:
    """Each code cell's uri and facts; one analysis per notebook text."""
    cells = _code_cells(ls, notebook)
    source, ranges = join_cells([text for _, text in cells])
    facts = ls.analyses.get(notebook.uri, None, source)
    return [(uri, cell_facts(facts, *lines)) for (uri, _), lines in zip(cells, ranges, strict=True)]


def facts_for_cell(ls: LensflowServer, uri: str) -> tuple[ScriptFacts, str] | None:
    """The facts of a notebook cell, and the notebook's uri (what its commands run)."""
    notebook = ls.workspace.get_notebook_document(cell_uri=uri)
    if notebook is None:
        return None
    for cell_uri, facts in _notebook_cells(ls, notebook):
        if unquote(cell_uri) == unquote(uri):
            return facts, notebook.uri
    return None


def facts_and_target(ls: LensflowServer, uri: str) -> tuple[ScriptFacts, str] | None:
    """The facts of an open script or notebook cell, and the uri its commands and run history
    name: the script itself, or the cell's notebook."""
    facts = ls.facts(uri)
    return (facts, uri) if facts is not None else facts_for_cell(ls, uri)


def _publish(ls: LensflowServer, notebook: types.NotebookDocument | None) -> None:
    from .diagnostics import to_diagnostics

    if notebook is None:
        return
    for uri, facts in _notebook_cells(ls, notebook):
        diagnostics = to_diagnostics(ls, facts)
        version = ls.workspace.text_documents[unquote(uri)].version
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
        )


def _clear(ls: LensflowServer, cell_uri: str) -> None:
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(uri=cell_uri, diagnostics=[])
    )


def register(server: LensflowServer) -> None:
    # pygls reads this at `initialize` and advertises it when the client can sync notebooks.
    server._notebook_document_sync = SYNC_OPTIONS

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_OPEN)
    def did_open(ls: LensflowServer, params: types.DidOpenNotebookDocumentParams) -> None:
        notebook = ls.workspace.get_notebook_document(notebook_uri=params.notebook_document.uri)
        _publish(ls, notebook)
        if notebook is not None and any(f.uses_mlflow for _, f in _notebook_cells(ls, notebook)):
            ls.warm()  # lenses will want the store next

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CHANGE)
    def did_change(ls: LensflowServer, params: types.DidChangeNotebookDocumentParams) -> None:
        uri = params.notebook_document.uri
        _publish(ls, ls.workspace.get_notebook_document(notebook_uri=uri))
        structure = params.change.cells.structure if params.change.cells else None
        for cell in structure.did_close or [] if structure else []:
            _clear(ls, cell.uri)

    @server.feature(types.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def did_close(ls: LensflowServer, params: types.DidCloseNotebookDocumentParams) -> None:
        ls.analyses.forget(params.notebook_document.uri)
        for cell in params.cell_text_documents:
            _clear(ls, cell.uri)
