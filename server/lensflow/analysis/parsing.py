"""The tree-sitter engine, an error-tolerant parse, and document helpers (bytes -> UTF-16)."""

from __future__ import annotations

import re
from functools import cache
from typing import NamedTuple

import tree_sitter_python
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree

from .facts import Span, TextEdit

_FIT_QUERY = '((call function: (attribute attribute: (identifier) @m)) @fit (#eq? @m "fit"))'
# Name filters run C-side so the Python loop never sees the thousands of other calls.
_QUERY = """
[(import_statement) (import_from_statement)] @imp
(with_statement (with_clause) @clause) @with
(call function: (attribute object: (_) @obj attribute: (identifier) @name)
  arguments: (argument_list) @args
  (#any-of? @name "set_experiment" "log_artifact" "dump" "register_model" "log_model")) @call
(call function: (identifier) @name arguments: (argument_list) @args
  (#any-of? @name "set_experiment" "log_artifact" "dump" "register_model" "log_model")) @call
(assignment left: (identifier) @lhs right: [(string) (concatenated_string)] @rhs)
"""
_P_IMPORT, _P_WITH, _P_ATTR_CALL, _P_NAME_CALL, _P_ASSIGN = range(5)  # patterns of _QUERY
_STMT_PARENTS = frozenset({"module", "block", "ERROR"})
_COMPOUND = frozenset(
    [f"{k}_statement" for k in ("if", "for", "while", "try", "with", "match")]
    + [f"{k}_definition" for k in ("function", "class", "decorated")]
)
_MAX_REPAIRS = 3
_OPEN_TAIL = re.compile(rb"[(\[{,][ \t\r]*(?:#[^\n]*)?$", re.M)
_NEXT_CODE = re.compile(rb"\n([ \t]*)([^\s#])")


class _Engine(NamedTuple):
    language: Language
    main: Query
    errors: Query
    fits: Query


@cache  # built on first use so that importing the package stays cheap
def _engine() -> _Engine:
    lang = Language(tree_sitter_python.language())
    return _Engine(lang, *(Query(lang, q) for q in (_QUERY, "(ERROR) @e", _FIT_QUERY)))


def _text(node: Node | None) -> str:
    return "" if node is None or node.text is None else node.text.decode("utf-8", "replace")


def _u16(raw: bytes) -> int:
    return len(raw.decode("utf-8", "surrogatepass").encode("utf-16-le", "surrogatepass")) // 2


def _error_bytes(errors: Query, tree: Tree) -> tuple[int, list[Node]]:
    found = QueryCursor(errors).captures(tree.root_node).get("e", [])
    return sum(e.end_byte - e.start_byte for e in found), found


def _suspects(data: bytes) -> list[tuple[int, int, int]]:
    """Lines that leave a bracket open while the next code line is not indented deeper: a call
    being typed. Tree-sitter recovers from those slowly (~0.2 s for 10k lines after one)."""
    found = []
    for m in _OPEN_TAIL.finditer(data):
        start = data.rfind(b"\n", 0, m.start()) + 1
        line = data[start : m.end()]
        opens = sum(line.count(c) for c in b"([{") - sum(line.count(c) for c in b")]}")
        nxt = _NEXT_CODE.search(data, m.end())
        indent = len(line) - len(line.lstrip())
        if opens > 0 and (nxt is None or (len(nxt[1]) <= indent and nxt[2] not in b")]}")):
            found.append((data.count(b"\n", 0, start), start, m.end()))
    return found


def _blank(buf: bytearray, start: int, end: int) -> None:
    buf[start:end] = b" " * (end - start)  # same length keeps every other position valid


def _parse(data: bytes) -> tuple[Tree, list[tuple[int, int, int]]]:
    """Parse, recovering from a bracket left open mid-edit: blank the line that opens it so the
    statements after it are recognised again. Returns the tree and the blanked lines as
    (row, start_byte, end_byte)."""
    errors, parser = _engine().errors, Parser(_engine().language)
    if suspects := _suspects(data):
        buf = bytearray(data)
        for _, start, end in suspects:
            _blank(buf, start, end)
        if not (tree := parser.parse(bytes(buf))).root_node.has_error:
            return tree, suspects
    # slow path: the guess was wrong or there are other errors; repair from the parse errors
    tree, buf, blanked = parser.parse(data), bytearray(data), []
    for _ in range(_MAX_REPAIRS if tree.root_node.has_error else 0):
        size, errs = _error_bytes(errors, tree)
        multi = [e for e in errs if e.end_point.row > e.start_point.row]
        if not multi:
            break
        first = min(multi, key=lambda e: e.start_byte)
        row, start = first.start_point.row, first.start_byte - first.start_point.column
        end = len(buf) if (nl := buf.find(b"\n", start)) < 0 else nl
        _blank(buf, start, end)
        base = tree.copy()  # an edited tree loses node text, and we may keep `tree`
        base.edit(start, end, end, (row, 0), (row, end - start), (row, end - start))
        candidate = parser.parse(bytes(buf), base)
        if _error_bytes(errors, candidate)[0] >= size:
            break
        tree = candidate
        blanked.append((row, start, end))
    return tree, blanked


class _Doc:
    """Position conversion (tree-sitter bytes -> LSP UTF-16) against the original bytes."""

    def __init__(self, data: bytes) -> None:
        self.data, self.ascii = data, data.isascii()

    def col(self, byte: int, col: int) -> int:
        prefix = b"" if self.ascii else self.data[byte - col : byte]
        return col if prefix.isascii() else _u16(prefix)

    def span(self, node: Node, end: Node | None = None) -> Span:
        sp, last = node.start_point, end or node
        ep = last.end_point
        sc, ec = self.col(node.start_byte, sp.column), self.col(last.end_byte, ep.column)
        return Span(sp.row, sc, ep.row, ec)

    def delete_lines(self, stmt: Node) -> TextEdit:
        data, sp, ep = self.data, stmt.start_point, stmt.end_point
        block = stmt.parent or stmt
        if block.type == "block" and all(c == stmt or c.type == "comment" for c in block.children):
            return TextEdit(self.span(stmt), "pass")  # an empty block would not parse
        line_end = len(data) if (nl := data.find(b"\n", stmt.end_byte)) < 0 else nl
        rest = data[stmt.end_byte : line_end].strip()
        if data[stmt.start_byte - sp.column : stmt.start_byte].strip() or (
            rest and not rest.startswith(b"#")
        ):
            return TextEdit(self.span(stmt), "")  # shares its line with other code
        if nl < 0:  # last line of the file: there is no next line to end on
            end_col = _u16(data[stmt.end_byte - ep.column : line_end])
            return TextEdit(Span(sp.row, 0, ep.row, end_col), "")
        return TextEdit(Span(sp.row, 0, ep.row + 1, 0), "")


def _statement(node: Node) -> Node:
    cur = node
    while cur.parent is not None and cur.parent.type not in _STMT_PARENTS:
        cur = cur.parent
    return node if cur.type in _COMPOUND else cur  # never delete a compound statement
