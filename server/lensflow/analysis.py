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

# Name filters run C-side so the Python loop never sees the thousands of other calls.
_QUERY = """
(import_statement) @imp
(import_from_statement) @imp
(with_statement (with_clause) @clause) @with
(call function: (attribute object: (_) @obj attribute: (identifier) @name)
  arguments: (argument_list) @args
  (#any-of? @name "set_experiment" "log_artifact" "dump" "register_model" "fit")) @call
(call function: (identifier) @name arguments: (argument_list) @args
  (#any-of? @name "set_experiment" "log_artifact" "dump" "register_model")) @call
(assignment left: (identifier) @lhs right: [(string) (concatenated_string)] @rhs)
"""
_P_IMPORT, _P_IMPORT_FROM, _P_WITH, _P_ATTR_CALL, _P_NAME_CALL, _P_ASSIGN = range(6)
_STMT_PARENTS = frozenset({"module", "block", "ERROR"})
_COMPOUND = frozenset(
    "if_statement for_statement while_statement try_statement with_statement match_statement"
    " function_definition class_definition decorated_definition".split()
)
_START_RUN = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*\.)?start_run\b")
_TRAILING_NAME = re.compile(r"[A-Za-z_][\w.]*$")
_MAX_REPAIRS = 3


@cache  # built on first use so that importing this module stays cheap
def _engine() -> tuple[Language, Query, Query]:
    language = Language(tree_sitter_python.language())
    return language, Query(language, _QUERY), Query(language, "(ERROR) @e")


def _text(node: Node | None) -> str:
    return "" if node is None or node.text is None else node.text.decode("utf-8", "replace")


def _u16(raw: bytes) -> int:
    return len(raw.decode("utf-8", "surrogatepass").encode("utf-16-le", "surrogatepass")) // 2


def _error_bytes(errors: Query, tree: Tree) -> tuple[int, list[Node]]:
    found = QueryCursor(errors).captures(tree.root_node).get("e", [])
    return sum(e.end_byte - e.start_byte for e in found), found


def _parse(data: bytes) -> tuple[Tree, list[tuple[int, int, int]]]:
    """Parse; when an error swallows the lines after it (an unclosed bracket mid-edit), blank
    the line it starts on and re-parse, so the statements that follow are recognised again.
    Returns the tree and the blanked lines as (row, start_byte, end_byte)."""
    language, _, errors = _engine()
    parser = Parser(language)
    tree, buf, blanked = parser.parse(data), bytearray(data), []
    for _ in range(_MAX_REPAIRS):
        size, errs = _error_bytes(errors, tree)
        multi = [e for e in errs if e.end_point.row > e.start_point.row]
        if not multi:
            break
        first = min(multi, key=lambda e: e.start_byte)
        row, start = first.start_point.row, first.start_byte - first.start_point.column
        end = len(buf) if (nl := buf.find(b"\n", start)) < 0 else nl
        buf[start:end] = b" " * (end - start)  # same length keeps every other position valid
        tree.edit(start, end, end, (row, 0), (row, end - start), (row, end - start))
        candidate = parser.parse(bytes(buf), tree)
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
        block = stmt.parent
        if block and block.type == "block" and [c for c in block.named_children if c.type != "comment"] == [stmt]:
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
    for part in node.named_children if node.type == "concatenated_string" else [node]:
        if part.type != "string" or any(c.type == "interpolation" for c in part.named_children):
            return None
        if {"f", "b"} & set(_text(part.child(0)).lower()):
            return None
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
    owner = re.sub(r"\s+", "", _text(obj))
    if re.fullmatch(r"[A-Za-z_][\w.]*", owner):
        return owner
    m = _TRAILING_NAME.search(owner)  # recovered trees glue junk onto the owner
    return m.group(0) if m else "?"


def analyze(source: str) -> ScriptFacts:
    data = source.encode("utf-8", "surrogatepass")
    doc = _Doc(data)
    tree, blanked = _parse(data)
    imports: list[Node] = []
    withs: list[tuple[Node, Node]] = []
    calls: list[tuple[str | None, str, Node, Node]] = []
    assigns: dict[str, list[tuple[int, Node]]] = {}
    for pattern, caps in QueryCursor(_engine()[1]).matches(tree.root_node):
        if pattern in (_P_IMPORT, _P_IMPORT_FROM):
            imports.append(caps["imp"][0])
        elif pattern == _P_WITH:
            withs.append((caps["with"][0], caps["clause"][0]))
        elif pattern == _P_ASSIGN:
            rhs = caps["rhs"][0]
            assigns.setdefault(_text(caps["lhs"][0]), []).append((rhs.start_byte, rhs))
        else:
            owner = _owner(caps["obj"][0]) if pattern == _P_ATTR_CALL else None
            calls.append((owner, _text(caps["name"][0]), caps["call"][0], caps["args"][0]))

    names: dict[str, str] = {}  # local name -> qualified name it is bound to
    uses_mlflow = False
    problems: list[Problem] = []
    az_imports: list[tuple[Node, list[Node]]] = []
    for imp in sorted(imports, key=lambda n: n.start_byte):
        module_node = imp.child_by_field_name("module_name")
        module, items = _text(module_node), imp.children_by_field_name("name")
        bare = [_text(i).split(" ")[0] for i in items]  # "x as y" -> "x"
        for item, full in zip(items, bare, strict=True):
            alias = _text(item.child_by_field_name("alias")) or full.split(".")[0]
            if module_node is None:
                names[alias] = full if alias != full.split(".")[0] else alias
                uses_mlflow |= full.split(".")[0] == "mlflow"
            else:
                names[alias] = f"{module}.{full}"
        uses_mlflow |= module.split(".")[0] == "mlflow"
        if module == "sklearn.externals" and "joblib" in bare:
            hit = items[bare.index("joblib")]
            alias = _text(hit.child_by_field_name("alias"))
            new = "import joblib" + (f" as {alias}" if alias else "")
            if others := [_text(i) for i in items if i != hit]:
                new += f"\n{' ' * imp.start_point.column}from {module} import {', '.join(others)}"
            fix: tuple[TextEdit, ...] = (TextEdit(doc.span(imp), new),)
            problems.append(Problem(_JOBLIB, _JOBLIB_MSG, doc.span(imp), _JOBLIB_FIX, fix))
        elif module == "sklearn.externals.joblib" and module_node is not None:
            fix = (TextEdit(doc.span(module_node), "joblib"),)
            problems.append(Problem(_JOBLIB, _JOBLIB_MSG, doc.span(imp), _JOBLIB_FIX, fix))
        elif module == "azureml.mlflow" and "register_model" in bare:
            rest = [i for i, b in zip(items, bare, strict=True) if b != "register_model"]
            az_imports.append((imp, rest))

    def literal(node: Node | None, before: int) -> str | None:
        if node is not None and node.type == "parenthesized_expression" and node.named_children:
            node = node.named_children[0]
        if node is None or node.type != "identifier":
            return None if node is None else _string(node)
        found = assigns.get(_text(node), [])  # query matches arrive in document order
        i = bisect_left(found, before, key=lambda a: a[0])
        return _string(found[i - 1][1]) if i else None

    def qualify(owner: str | None, name: str) -> str:
        if owner is None:
            return names.get(name, name)
        head, _, rest = owner.partition(".")
        return ".".join(p for p in (names.get(head, head), rest, name) if p)

    def starts_run(text: str) -> bool:
        for m in _START_RUN.finditer(re.sub(r"\s+", "", text)):
            prefix = m.group(1)
            if qualify(prefix[:-1] if prefix else None, "start_run") == "mlflow.start_run":
                return True
        return False

    anchors: list[Span] = []
    for stmt, clause in withs:
        if starts_run(_text(clause)):
            colon = next((c for c in stmt.children if c.type == ":"), clause)
            anchors.append(doc.span(stmt, colon))  # the header line(s), not the whole body
            break
    for row, start, end in blanked:  # a with-header being typed got blanked; keep its lens
        line = data[start:end].decode("utf-8", "surrogatepass")
        if (m := re.match(r"\s*(async\s+)?with\b", line)) and starts_run(line[m.end() :]):
            indent = len(line) - len(line.lstrip())
            anchors.append(Span(row, indent, row, _u16(data[start:end])))

    experiment: str | None = None
    registered: str | None = None
    sites: list[ModelSite] = []
    az_calls: list[Node] = []
    fits: list[Node] = []
    for owner, name, call, args in sorted(calls, key=lambda c: c[2].start_byte):
        qual, at = qualify(owner, name), call.start_byte
        if name == "fit" and owner is not None:
            fits.append(call)
        elif qual == "mlflow.set_experiment" and experiment is None:
            experiment = literal(_arg(args, 0, "experiment_name"), at)
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
        elif qual == "mlflow.register_model" and registered is None:
            registered = literal(_arg(args, 1, "name"), at)
        elif qual == _AZ_REGISTER:
            registered = registered or literal(_arg(args, 1, "model_name"), at)
            az_calls.append(call)
    if not anchors and fits:
        anchors.append(doc.span(_statement(fits[0])))

    def az_fix(stmts: list[Node], with_imports: bool) -> tuple[TextEdit, ...]:
        edits = [doc.delete_lines(s) for s in stmts]
        for imp, keep in az_imports if with_imports else []:
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
    stmts = [_statement(c) for c in az_calls]
    deletable = [s for s in stmts if s.type != "call"]
    for stmt in stmts:
        fix = () if stmt.type == "call" else az_fix([stmt], len(stmts) == 1)
        problems.append(Problem(_AZURE, _AZURE_MSG, doc.span(stmt), _AZURE_FIX, fix))
    for imp, _ in az_imports:
        fix = az_fix(deletable, True)
        problems.append(Problem(_AZURE, _AZURE_MSG, doc.span(imp), _AZURE_FIX, fix))
    problems.sort(key=lambda p: (p.span.start_line, p.span.start_col))
    anchor = min(anchors, key=lambda a: (a.start_line, a.start_col), default=None)
    return ScriptFacts(uses_mlflow, anchor, experiment, tuple(sites), registered, tuple(problems))


class AnalysisCache:
    """Per-document cache keyed by (uri, version): one parse per document version."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int | None, str, ScriptFacts]] = {}

    def get(self, uri: str, version: int | None, source: str) -> ScriptFacts:
        hit = self._entries.get(uri)
        if hit is not None:
            old_version, old_source, facts = hit
            if version is not None and old_version == version:
                return facts
            if version is None and (old_source is source or old_source == source):
                return facts
        facts = analyze(source)
        self._entries[uri] = (version, source, facts)
        return facts

    def forget(self, uri: str) -> None:
        self._entries.pop(uri, None)
