"""The codeLens peer: a bare pygls 2 server doing lenses the naive way, served over stdio.

Every `textDocument/codeLens` runs CPython's `ast.parse` on the whole document source (no
cache: a new parse per request, edited or not) and returns one lens per `with` statement.
pygls's own handlers keep the document up to date (incremental sync), as in Lensflow.
"""

from __future__ import annotations

import ast

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer(
    "ast-lens", "0", text_document_sync_kind=types.TextDocumentSyncKind.Incremental
)


@server.feature(types.TEXT_DOCUMENT_CODE_LENS)
def code_lens(ls: LanguageServer, params: types.CodeLensParams) -> list[types.CodeLens]:
    doc = ls.workspace.get_text_document(params.text_document.uri)
    try:
        tree = ast.parse(doc.source)
    except SyntaxError:
        return []
    lenses: list[types.CodeLens] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.With | ast.AsyncWith):
            start = types.Position(line=node.lineno - 1, character=node.col_offset)
            lenses.append(
                types.CodeLens(
                    range=types.Range(start=start, end=start),
                    command=types.Command(title="▶ Run", command="astLens.run"),
                )
            )
    return lenses


if __name__ == "__main__":
    server.start_io()
