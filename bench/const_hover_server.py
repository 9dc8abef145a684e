"""The hover / inlay-hint peer: a bare pygls 2 server answering constants, served over stdio.

`textDocument/hover` answers one fixed markdown table (about the size of Lensflow's) and
`textDocument/inlayHint` two fixed hints, whatever the document: the floor that pygls, lsprotocol
and JSON-RPC over stdio set for these requests, with no work behind them.
"""

from __future__ import annotations

from lsprotocol import types
from pygls.lsp.server import LanguageServer

server = LanguageServer(
    "const-hover", "0", text_document_sync_kind=types.TextDocumentSyncKind.Incremental
)
_ROW = "| `0123abcd` bench-999 | 3 min ago | 3463 | FINISHED |"
HOVER = "\n".join(
    [
        "**mse** · metric · 1000+ runs of `train.py` · ★ best: lowest mse",
        "",
        "| run | when | mse | status |",
        "|:--|:--|--:|:--|",
        *[_ROW] * 12,
        "",
        "10 newest of 1000+ runs",
    ]
)


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: LanguageServer, params: types.HoverParams) -> types.Hover:
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=HOVER),
        range=types.Range(start=params.position, end=params.position),
    )


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
def inlay_hint(ls: LanguageServer, params: types.InlayHintParams) -> list[types.InlayHint]:
    return [
        types.InlayHint(
            position=types.Position(line=line, character=40),
            label=label,
            padding_left=True,
            tooltip="Last logged by run 0123abcd (bench-999), 3 min ago, FINISHED",
        )
        for line, label in ((27, "alpha = 10.0"), (36, "mse = 3463"))
    ]


if __name__ == "__main__":
    server.start_io()
