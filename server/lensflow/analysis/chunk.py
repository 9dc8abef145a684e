"""One chunk of a script: a run of top-level statements that starts a line at column 0.

Its facts are kept relative to its own first line and byte, so a chunk an edit did not touch is
reused wherever it moves. What depends on other chunks stays open until the chunks are merged:
the names that imports bind (each chunk notes the ones it looked up, and is read again if they
change), and a `name = "literal"` assigned in an earlier chunk (a `Lookup`).
"""

from __future__ import annotations

import os
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TypeAlias

from tree_sitter import Node, QueryCursor, Tree

from .extract import _AZ_REGISTER, _LOG_MODEL, _arg, _Script, _string, log_calls, log_names
from .facts import ModelSite, Problem, RawLogCall, Span, TextEdit
from .fixes import (
    AzCall,
    AzImport,
    _joblib_problem,
    az_call_problem,
    az_records,
    log_model_problem,
)
from .parsing import _Doc, _engine, _statement, _text

_FILE_START = Span(0, 0, 0, 0)  # `import joblib` goes at the file's start, wherever the call is


@dataclass(frozen=True, slots=True)
class Lookup:
    """The literal `name` was last assigned before this chunk (None if never)."""

    name: str


Literal: TypeAlias = str | Lookup | None
# (site span, kind, first literal, second literal): a model site whose path is settled on merge
SiteRecipe: TypeAlias = tuple[Span, str, Literal, Literal]
# (first row, first byte) the chunk's problems and log calls were placed at, and those placed
Placed: TypeAlias = tuple[
    int,
    int,
    tuple[Problem, ...],
    tuple[RawLogCall, ...],
    tuple[AzCall, ...],
    tuple[AzImport, ...],
    tuple[Problem, ...],  # the azureml calls' problems, as when the file has several
]
ImportRecord: TypeAlias = tuple[str | None, tuple[tuple[str, str], ...]]  # module, (full, alias)


def moved(span: Span, rows: int) -> Span:
    if rows == 0 or (span.end_line == 0 and span.end_col == 0):  # only _FILE_START ends there
        return span
    return Span(span.start_line + rows, span.start_col, span.end_line + rows, span.end_col)


def moved_edit(edit: TextEdit, rows: int) -> TextEdit:
    return edit if rows == 0 else TextEdit(moved(edit.span, rows), edit.new_text)


def moved_problem(p: Problem, rows: int) -> Problem:
    fix = tuple(moved_edit(e, rows) for e in p.fix)
    return Problem(p.code, p.message, moved(p.span, rows), p.fix_title, fix)


class _Seen(Mapping[str, str]):
    """The script's names, noting each one looked up: a chunk depends on those only."""

    def __init__(self, names: Mapping[str, str], seen: dict[str, str | None]) -> None:
        self._names, self._seen = names, seen

    def __getitem__(self, key: str) -> str:
        self._seen[key] = self._names.get(key)
        return self._names[key]

    def get(self, key: str, default: object = None) -> object:  # type: ignore[override]
        self._seen[key] = value = self._names.get(key)
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


class _ChunkScript(_Script):
    def literal(self, node: Node | None, before: int) -> str | None:
        if node is not None and node.type == "parenthesized_expression" and node.named_children:
            node = node.named_children[0]
        if node is not None and node.type == "identifier":
            found = self.assigns.get(_text(node), [])
            if not found or found[0][0] >= before:
                return Lookup(_text(node))  # type: ignore[return-value]
        return super().literal(node, before)


class Chunk:
    """Facts of data[lo:hi] of a parsed tree, relative to the chunk's first row and byte."""

    def __init__(
        self, tree: Tree, data: bytes, lo: int, hi: int, row: int, matches: _ChunkScript
    ) -> None:
        self.size, self.rows = hi - lo, data.count(b"\n", lo, hi)
        self._tree, self._data, self._lo, self._hi, self._row = tree, data, lo, hi, row
        self._script, doc = matches, _Doc(data)
        self.imports: list[ImportRecord] = []
        joblib: list[Problem] = []
        az_imports: list[tuple[Node, list[Node]]] = []
        for imp in sorted(matches.imports, key=lambda n: n.start_byte):
            module_node = imp.child_by_field_name("module_name")
            module, items = _text(module_node), imp.children_by_field_name("name")
            bare = [_text(i).split(" ")[0] for i in items]
            aliases = [_text(i.child_by_field_name("alias")) for i in items]
            self.imports.append(
                (None if module_node is None else module, tuple(zip(bare, aliases, strict=True)))
            )
            if module == "sklearn.externals" and "joblib" in bare:
                joblib.append(_joblib_problem(doc, imp, module, items, bare))
            elif module == "azureml.mlflow" and "register_model" in bare:
                rest = [i for i, b in zip(items, bare, strict=True) if b != "register_model"]
                az_imports.append((imp, rest))
        self._joblib = joblib
        # azureml's register_model: its fixes span the whole file, so they are made on merge
        self.az_imports = [
            (moved(span, -row), moved_edit(edit, -row))
            for span, edit in az_records(doc, [], az_imports)[1]
        ]
        self.az_calls: list[AzCall] = []
        self.last_assign = {k: _string(v[-1][1]) for k, v in matches.assigns.items()}
        fit = min(_fit_nodes(tree, lo, hi), key=lambda n: n.start_byte, default=None)
        self.first_fit = None if fit is None else moved(doc.span(_statement(fit)), -row)
        self.seen: dict[str, str | None] = {}
        self.aliases = b""
        self.anchor: Span | None = None
        self.experiments: list[Literal] = []
        self.registered: list[Literal] = []
        self.sites: list[SiteRecipe] = []
        self.problems: tuple[Problem, ...] = ()
        self.log_raw: list[RawLogCall] = []
        self.lookups = False  # a literal waits for earlier chunks: its paths settle each merge
        self.placed: Placed | None = None
        self.paths: list[str | None] | None = None  # the sites' paths, once settled

    def settle(self, names: Mapping[str, str]) -> None:
        """The facts that depend on the script's names; drops the tree afterwards."""
        script, data, row, doc = self._script, self._data, self._row, _Doc(self._data)
        self.seen = {}
        script.names = _Seen(names, self.seen)
        for stmt, clause in script.withs:
            if script.starts_run(_text(clause)):
                colon = next((c for c in stmt.children if c.type == ":"), clause)
                self.anchor = moved(doc.span(stmt, colon), -row)
                break
        problems, az_calls = list(self._joblib), list[Node]()
        for owner, name, call, args in sorted(script.calls, key=lambda c: c[2].start_byte):
            qual, at, literal = script.qualify(owner, name), call.start_byte, script.literal
            if qual == "mlflow.set_experiment":
                self.experiments.append(literal(_arg(args, 0, "experiment_name"), at))
            elif qual == "mlflow.log_artifact":
                path = literal(_arg(args, 0, "local_path"), at)
                sub = _arg(args, 1, "artifact_path")
                span = moved(doc.span(_statement(call)), -row)
                if sub is not None and sub.type != "none":
                    self.sites.append((span, "artifact_in", path, literal(sub, at)))
                else:
                    self.sites.append((span, "artifact", path, None))
            elif qual in ("joblib.dump", "sklearn.externals.joblib.dump"):
                path = literal(_arg(args, 1, "filename"), at)
                self.sites.append((moved(doc.span(_statement(call)), -row), "dump", path, None))
            elif qual == "mlflow.register_model":
                self.registered.append(literal(_arg(args, 1, "name"), at))
            elif qual == _AZ_REGISTER:
                self.registered.append(literal(_arg(args, 1, "model_name"), at))
                az_calls.append(call)
            elif _LOG_MODEL.fullmatch(qual):
                model = _arg(args, 0, "sk_model")
                has_joblib = "joblib" in script.names
                problems.append(log_model_problem(doc, call, qual, model, has_joblib))
        problems.sort(key=lambda p: (p.span.start_line, p.span.start_col))
        self.problems = tuple(moved_problem(p, -row) for p in problems)
        self.az_calls = [
            (moved(span, -row), None if edit is None else moved_edit(edit, -row))
            for span, edit in az_records(doc, az_calls, [])[0]
        ]
        pattern = log_names(names)
        self.aliases = pattern.pattern
        lo = self._lo
        self.log_raw = [
            (kind, s - lo, e - lo, ks - lo if ks >= 0 else -1, ke - lo if ke >= 0 else -1)
            for kind, s, e, ks, ke in log_calls(self._tree, data, script, pattern, lo, self._hi)
        ]
        self.lookups = any(
            isinstance(lit, Lookup)
            for lit in [*self.experiments, *self.registered]
            + [x for s in self.sites for x in s[2:]]
        )
        del self._tree, self._data, self._script, self._joblib

    def place_sites(self, row: int, value: Callable[[Literal], str | None]) -> list[ModelSite]:
        """The chunk's model sites moved to its first row (their paths settled): lenses."""
        sites = zip(self.sites, self._paths(value), strict=True)
        return [ModelSite(moved(span, row), path) for (span, *_), path in sites]

    def place(self, row: int, byte: int) -> Placed:
        """The chunk's problems and log calls moved to its first row and byte (cached there):
        asked for only when diagnostics, hovers or hints want them."""
        if self.placed is not None and self.placed[:2] == (row, byte):
            return self.placed

        def at(raw: RawLogCall) -> RawLogCall:
            kind, start, end, key_start, key_end = raw
            key = (key_start + byte, key_end + byte) if key_start >= 0 else (-1, -1)
            return (kind, start + byte, end + byte, *key)

        self.placed = (
            row,
            byte,
            tuple(moved_problem(p, row) for p in self.problems),
            tuple(at(raw) for raw in self.log_raw),
            az_calls := tuple((moved(s, row), e and moved_edit(e, row)) for s, e in self.az_calls),
            tuple((moved(s, row), moved_edit(e, row)) for s, e in self.az_imports),
            tuple(az_call_problem(s, e, []) for s, e in az_calls),
        )
        return self.placed

    def _paths(self, value: Callable[[Literal], str | None]) -> list[str | None]:
        if self.paths is None or self.lookups:  # a literal of an earlier chunk: each merge
            paths = [site_path(kind, value(a), value(b)) for _, kind, a, b in self.sites]
            self.paths = None if self.lookups else paths
            return paths
        return self.paths

    def still_valid(self, names: Mapping[str, str], aliases: bytes) -> bool:
        return aliases == self.aliases and all(names.get(k) == v for k, v in self.seen.items())


def site_path(kind: str, path: str | None, folder: str | None) -> str | None:
    """A model site's path from its literals, as `analyze` makes it."""
    path = path and os.path.basename(path)
    if kind == "artifact_in" and path:
        return folder and "/".join(p for p in (folder.strip("/"), path) if p)
    return path


def _fit_nodes(tree: Tree, lo: int, hi: int) -> list[Node]:
    cursor = QueryCursor(_engine().fits)
    cursor.set_byte_range(lo, hi)
    return [n for n in cursor.captures(tree.root_node).get("fit", []) if lo <= n.start_byte < hi]


def read_chunks(tree: Tree, data: bytes) -> list[Chunk]:
    """The tree's chunks, unsettled: a chunk starts at a top-level statement that begins a
    line at column 0 and shares no line with the statement before it."""
    bounds, last_row = [0], -1
    for child in tree.root_node.children:
        sp = child.start_point
        if child.type != "comment" and sp.column == 0 and sp.row > last_row and child.start_byte:
            bounds.append(child.start_byte)
        last_row = max(last_row, child.end_point.row)
    bounds.append(len(data))
    scripts = [_ChunkScript(()) for _ in bounds[:-1]]
    for pattern, caps in QueryCursor(_engine().main).matches(tree.root_node):
        head = (caps.get("rhs") or caps.get("imp") or caps.get("with") or caps["call"])[0]
        i = bisect_right(bounds, head.start_byte) - 1
        scripts[min(i, len(scripts) - 1)].add(pattern, caps)
    chunks, row = [], 0
    for i, script in enumerate(scripts):
        chunk = Chunk(tree, data, bounds[i], bounds[i + 1], row, script)
        chunks.append(chunk)
        row += chunk.rows
    return chunks
