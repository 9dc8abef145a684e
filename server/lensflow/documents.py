"""The open scripts and notebooks as syntax facts: one analysis per document version.

Owns the analysis cache. A notebook's code cells are read as one script (imports and
`set_experiment` may sit in another cell); each cell gets the facts on its own lines, and its
commands and run history name the notebook's file, which `lensflow.trackRun` executes.
Knows pygls's open documents (its `Workspace`), not the protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import unquote

from lsprotocol import types

from .analysis import AnalysisCache, ScriptFacts
from .analysis.notebook import cell_facts, join_cells
from .idle_gc import IdleCollector

if TYPE_CHECKING:
    from pygls.workspace import Workspace


class Documents:
    def __init__(self, open_documents: Callable[[], Workspace]) -> None:
        self._open = open_documents
        self._analyses = AnalysisCache()
        self.collector = IdleCollector()  # a new version's objects: frozen once edits stop

    def _analysed(self, count_before: int) -> None:
        if self._analyses.analysed != count_before:
            self.collector.poke()

    def facts(self, uri: str) -> ScriptFacts | None:
        """The syntax facts of an open Python script, one parse per version."""
        if not uri.endswith(".py"):
            return None
        doc = self._open().get_text_document(uri)
        before = self._analyses.analysed
        facts = self._analyses.get(uri, doc.version, doc.source)
        self._analysed(before)
        return facts

    def facts_and_target(self, uri: str) -> tuple[ScriptFacts, str] | None:
        """The facts of an open script or notebook cell, and the uri its commands and run
        history name: the script itself, or the cell's notebook."""
        facts = self.facts(uri)
        return (facts, uri) if facts is not None else self._facts_for_cell(uri)

    def notebook(self, uri: str) -> types.NotebookDocument | None:
        return self._open().get_notebook_document(notebook_uri=uri)

    def notebook_cells(self, notebook: types.NotebookDocument) -> list[tuple[str, ScriptFacts]]:
        """Each code cell's uri and facts; one analysis per notebook text."""
        cells = self._code_cells(notebook)
        source, ranges = join_cells([text for _, text in cells])
        before = self._analyses.analysed
        facts = self._analyses.get(notebook.uri, None, source)
        self._analysed(before)
        return [
            (uri, cell_facts(facts, *lines)) for (uri, _), lines in zip(cells, ranges, strict=True)
        ]

    def version(self, uri: str) -> int | None:
        version = self._open().get_text_document(uri).version
        return None if version is None else int(version)

    def cell_version(self, cell_uri: str) -> int | None:
        version = self._open().text_documents[unquote(cell_uri)].version
        return None if version is None else int(version)

    def open_uris(self) -> list[str]:
        return list(self._open().text_documents)

    def forget(self, uri: str) -> None:
        self._analyses.forget(uri)

    def _facts_for_cell(self, uri: str) -> tuple[ScriptFacts, str] | None:
        notebook = self._open().get_notebook_document(cell_uri=uri)
        if notebook is None:
            return None
        for cell_uri, facts in self.notebook_cells(notebook):
            if unquote(cell_uri) == unquote(uri):
                return facts, notebook.uri
        return None

    def _code_cells(self, notebook: types.NotebookDocument) -> list[tuple[str, str]]:
        """(uri, text) of the notebook's Python code cells, in order."""
        docs = self._open().text_documents
        cells = []
        for cell in notebook.cells:
            doc = docs.get(unquote(cell.document))
            code = cell.kind == types.NotebookCellKind.Code
            if code and doc is not None and doc.language_id in (None, "python"):
                cells.append((cell.document, doc.source))
        return cells
