"""Facts about a Python training script for lenses, code actions and diagnostics.

Tree-sitter (not ``ast``) so half-typed, broken code still yields facts for its well-formed
parts; matching runs C-side in one compiled query and Python only sees the matched nodes.
"""

from __future__ import annotations

import ast
import os
import re
from bisect import bisect_left
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

import tree_sitter_python
from tree_sitter import Language, Node, Parser, Query, QueryCursor, Tree


@dataclass(frozen=True, slots=True)
class Span:
    """LSP-style range: 0-based lines, columns in UTF-16 code units."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int


@dataclass(frozen=True, slots=True)
class TextEdit:
    span: Span
    new_text: str


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    span: Span
    fix_title: str
    fix: tuple[TextEdit, ...]


@dataclass(frozen=True, slots=True)
class ModelSite:
    span: Span
    model_path: str | None


@dataclass(frozen=True, slots=True)
class ScriptFacts:
    uses_mlflow: bool
    track_anchor: Span | None
    experiment_name: str | None
    model_sites: tuple[ModelSite, ...]
    registered_model_name: str | None
    problems: tuple[Problem, ...]


_JOBLIB, _AZURE = "sklearn-externals-joblib", "azureml-register-model"
_AZ_REGISTER = "azureml.mlflow.register_model"
_JOBLIB_MSG = "sklearn.externals.joblib was removed in scikit-learn 0.23; import joblib directly."
_JOBLIB_FIX = "Replace with `import joblib`"
_AZURE_MSG = (
    "azureml.mlflow.register_model is deprecated and fails against a local MLflow store "
    "(AttributeError: 'aml_store'); use Lensflow's Register model lens or mlflow.register_model."
)
_AZURE_FIX = "Remove the azureml.mlflow.register_model call"

_FIT_QUERY = '((call function: (attribute attribute: (identifier) @m)) @fit (#eq? @m "fit"))'
# Name filters run C-side so the Python loop never sees the thousands of other calls.
_QUERY = """
[(import_statement) (import_from_statement)] @imp
(with_statement (with_clause) @clause) @with
(call function: (attribute object: (_) @obj attribute: (identifier) @name)
  arguments: (argument_list) @args
  (#any-of? @name "set_experiment" "log_artifact" "dump" "register_model")) @call
(call function: (identifier) @name arguments: (argument_list) @args
  (#any-of? @name "set_experiment" "log_artifact" "dump" "register_model")) @call
(assignment left: (identifier) @lhs right: [(string) (concatenated_string)] @rhs)
"""
_P_IMPORT, _P_WITH, _P_ATTR_CALL, _P_NAME_CALL, _P_ASSIGN = range(5)
_STMT_PARENTS = frozenset({"module", "block", "ERROR"})
_COMPOUND = frozenset(
    [f"{k}_statement" for k in ("if", "for", "while", "try", "with", "match")]
    + [f"{k}_definition" for k in ("function", "class", "decorated")]
)
_START_RUN = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*\.)?start_run\b")
_MAX_REPAIRS = 3
_OPEN_TAIL = re.compile(rb"[(\[{,][ \t\r]*(?:#[^\n]*)?$", re.M)
_NEXT_CODE = re.compile(rb"\n([ \t]*)([^\s#])")


class _Engine(NamedTuple):
    language: Language
    main: Query
    errors: Query
    fits: Query


@cache  # built on first use so that importing this module stays cheap
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


def _string(node: Node) -> str | None:
    parts = node.named_children if node.type == "concatenated_string" else [node]
    for part in parts:
        if part.type != "string" or any(c.type == "interpolation" for c in part.named_children):
            return None
        if {"f", "b"} & set(_text(part.child(0)).lower()):
            return None
    kids = parts[0].children
    plain = len(parts) == 1 and len(kids) == 3 and kids[1].type == "string_content"
    if plain and "\\" not in (content := _text(kids[1])):
        return content  # no escapes: skip literal_eval (a compile) on the hot path
    try:
        value = ast.literal_eval(_text(node))
    except (ValueError, SyntaxError):
        return None
    return value if isinstance(value, str) else None


def _arg(args: Node, index: int, name: str) -> Node | None:
    """The argument bound to parameter `name` at position `index`, if visible."""
    pos = 0
    for arg in args.named_children:
        if arg.type == "keyword_argument":
            if _text(arg.child_by_field_name("name")) == name:
                return arg.child_by_field_name("value")
        elif arg.type in ("list_splat", "dictionary_splat"):
            pos = -(10**9)  # positions after *args are unknowable
        elif arg.type not in ("comment", "ERROR"):
            if pos == index:
                return arg
            pos += 1
    return None


def _owner(obj: Node) -> str:
    if obj.type == "identifier":
        return _text(obj)
    owner = re.sub(r"\s+", "", _text(obj))
    if re.fullmatch(r"[A-Za-z_][\w.]*", owner):
        return owner
    m = re.search(r"[A-Za-z_][\w.]*$", owner)  # recovered trees glue junk onto the owner
    return m.group(0) if m else "?"


class _Script:
    """What the query found, plus name resolution over it."""

    def __init__(self, tree: Tree) -> None:
        self.imports: list[Node] = []
        self.withs: list[tuple[Node, Node]] = []
        self.calls: list[tuple[str | None, str, Node, Node]] = []
        # assignments never nest, so their matches arrive in document order (for bisect)
        self.assigns: dict[str, list[tuple[int, Node]]] = {}
        self.names: dict[str, str] = {}  # local name -> qualified name it is bound to
        for pattern, caps in QueryCursor(_engine().main).matches(tree.root_node):
            if pattern == _P_IMPORT:
                self.imports.append(caps["imp"][0])
            elif pattern == _P_WITH:
                self.withs.append((caps["with"][0], caps["clause"][0]))
            elif pattern == _P_ASSIGN:
                rhs = caps["rhs"][0]
                self.assigns.setdefault(_text(caps["lhs"][0]), []).append((rhs.start_byte, rhs))
            else:
                owner = _owner(caps["obj"][0]) if pattern == _P_ATTR_CALL else None
                self.calls.append((owner, _text(caps["name"][0]), caps["call"][0], caps["args"][0]))

    def literal(self, node: Node | None, before: int) -> str | None:
        """A string literal, or the last `name = "literal"` before `before` for a name."""
        if node is not None and node.type == "parenthesized_expression" and node.named_children:
            node = node.named_children[0]
        if node is None or node.type != "identifier":
            return None if node is None else _string(node)
        found = self.assigns.get(_text(node), [])
        i = bisect_left(found, before, key=lambda a: a[0])
        return _string(found[i - 1][1]) if i else None

    def qualify(self, owner: str | None, name: str) -> str:
        if owner is None:
            return self.names.get(name, name)
        head, _, rest = owner.partition(".")
        return ".".join(p for p in (self.names.get(head, head), rest, name) if p)

    def starts_run(self, text: str) -> bool:
        for m in _START_RUN.finditer(re.sub(r"\s+", "", text)):
            owner = m.group(1)[:-1] if m.group(1) else None
            if self.qualify(owner, "start_run") == "mlflow.start_run":
                return True
        return False


def _read_imports(
    doc: _Doc, script: _Script
) -> tuple[bool, list[Problem], list[tuple[Node, list[Node]]]]:
    """Fill script.names; return (uses_mlflow, joblib problems, azureml imports + other names)."""
    uses_mlflow, problems, az_imports = False, [], []
    for imp in sorted(script.imports, key=lambda n: n.start_byte):
        module_node = imp.child_by_field_name("module_name")
        module, items = _text(module_node), imp.children_by_field_name("name")
        bare = [_text(i).split(" ")[0] for i in items]  # "x as y" -> "x"
        for item, full in zip(items, bare, strict=True):
            top = full.split(".")[0]
            alias = _text(item.child_by_field_name("alias"))
            if module_node is None:  # import a.b [as c]
                script.names[alias or top] = full if alias else top
                uses_mlflow |= top == "mlflow"
            else:
                script.names[alias or full] = f"{module}.{full}"
        uses_mlflow |= module.split(".")[0] == "mlflow"
        if module == "sklearn.externals" and "joblib" in bare:
            hit = items[bare.index("joblib")]
            alias = _text(hit.child_by_field_name("alias"))
            new = "import joblib" + (f" as {alias}" if alias else "")
            if others := [_text(i) for i in items if i != hit]:
                new += f"\n{' ' * imp.start_point.column}from {module} import {', '.join(others)}"
            fix = (TextEdit(doc.span(imp), new),)
            problems.append(Problem(_JOBLIB, _JOBLIB_MSG, doc.span(imp), _JOBLIB_FIX, fix))
        elif module == "azureml.mlflow" and "register_model" in bare:
            rest = [i for i, b in zip(items, bare, strict=True) if b != "register_model"]
            az_imports.append((imp, rest))
    return uses_mlflow, problems, az_imports


def _azure_problems(
    doc: _Doc, calls: list[Node], imports: list[tuple[Node, list[Node]]]
) -> list[Problem]:
    def fix(edits: list[TextEdit], with_imports: bool) -> tuple[TextEdit, ...]:
        for imp, keep in imports if with_imports else []:
            kept = f"from azureml.mlflow import {', '.join(_text(k) for k in keep)}"
            edits.append(TextEdit(doc.span(imp), kept) if keep else doc.delete_lines(imp))
        out: list[TextEdit] = []
        for e in sorted(edits, key=lambda e: (e.span.start_line, e.span.start_col)):
            last = out[-1].span if out else Span(0, 0, 0, 0)
            if (e.span.start_line, e.span.start_col) >= (last.end_line, last.end_col):
                out.append(e)  # LSP forbids overlapping edits in one change
        return tuple(out)

    # A call inside a compound header (`if register_model(...):`) has no safe deletion, and
    # the import may only go once no remaining call needs it.
    stmts = [_statement(c) for c in calls]
    deletions = {s.start_byte: doc.delete_lines(s) for s in stmts if s.type != "call"}
    problems = []
    for stmt in stmts:
        edit = deletions.get(stmt.start_byte)
        edits = fix([edit], len(stmts) == 1) if edit else ()
        problems.append(Problem(_AZURE, _AZURE_MSG, doc.span(stmt), _AZURE_FIX, edits))
    for imp, _ in imports:
        edits = fix(list(deletions.values()), True)
        problems.append(Problem(_AZURE, _AZURE_MSG, doc.span(imp), _AZURE_FIX, edits))
    return problems


def analyze(source: str) -> ScriptFacts:
    data = source.encode("utf-8", "surrogatepass")
    doc = _Doc(data)
    tree, blanked = _parse(data)
    script = _Script(tree)
    uses_mlflow, problems, az_imports = _read_imports(doc, script)

    anchors: list[Span] = []
    for stmt, clause in script.withs:
        if script.starts_run(_text(clause)):
            colon = next((c for c in stmt.children if c.type == ":"), clause)
            anchors.append(doc.span(stmt, colon))  # the header line(s), not the whole body
            break
    for row, start, end in blanked:  # a with-header being typed got blanked; keep its lens
        line = data[start:end].decode("utf-8", "surrogatepass")
        if (m := re.match(r"\s*(async\s+)?with\b", line)) and script.starts_run(line[m.end() :]):
            anchors.append(Span(row, len(line) - len(line.lstrip()), row, _u16(data[start:end])))

    experiment: str | None = None
    registered: str | None = None
    sites: list[ModelSite] = []
    az_calls: list[Node] = []
    for owner, name, call, args in sorted(script.calls, key=lambda c: c[2].start_byte):
        qual, at, literal = script.qualify(owner, name), call.start_byte, script.literal
        if qual == "mlflow.set_experiment":
            experiment = experiment or literal(_arg(args, 0, "experiment_name"), at)
        elif qual == "mlflow.log_artifact":
            # log_artifact stores the file under its basename, inside artifact_path if given
            path = literal(_arg(args, 0, "local_path"), at)
            path = path and os.path.basename(path)
            if path and (sub := _arg(args, 1, "artifact_path")) and sub.type != "none":
                folder = literal(sub, at)
                path = folder and "/".join(p for p in (folder.strip("/"), path) if p)
            sites.append(ModelSite(doc.span(_statement(call)), path))
        elif qual in ("joblib.dump", "sklearn.externals.joblib.dump"):
            path = literal(_arg(args, 1, "filename"), at)
            sites.append(ModelSite(doc.span(_statement(call)), path and os.path.basename(path)))
        elif qual == "mlflow.register_model":
            registered = registered or literal(_arg(args, 1, "name"), at)
        elif qual == _AZ_REGISTER:
            registered = registered or literal(_arg(args, 1, "model_name"), at)
            az_calls.append(call)
    if not anchors:  # rare fallback, so its query only runs when needed
        fits = QueryCursor(_engine().fits).captures(tree.root_node).get("fit", [])
        if fits:
            anchors.append(doc.span(_statement(min(fits, key=lambda n: n.start_byte))))

    problems += _azure_problems(doc, az_calls, az_imports)
    problems.sort(key=lambda p: (p.span.start_line, p.span.start_col))
    anchor = min(anchors, key=lambda a: (a.start_line, a.start_col), default=None)
    return ScriptFacts(uses_mlflow, anchor, experiment, tuple(sites), registered, tuple(problems))


class AnalysisCache:
    """Per-document cache keyed by (uri, version): one parse per document version."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int | None, str, ScriptFacts]] = {}

    def get(self, uri: str, version: int | None, source: str) -> ScriptFacts:
        hit = self._entries.get(uri)
        if hit and (hit[0] == version if version is not None else hit[1] == source):
            return hit[2]
        facts = analyze(source)
        self._entries[uri] = (version, source, facts)
        return facts

    def forget(self, uri: str) -> None:
        self._entries.pop(uri, None)
