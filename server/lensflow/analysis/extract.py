"""`analyze()`: one query pass over the tree, then imports, model sites, experiment, anchor."""

from __future__ import annotations

import ast
import os
import re
from bisect import bisect_left
from collections.abc import Iterable, Mapping

from tree_sitter import Node, QueryCursor, Tree

from .facts import PLAIN_STRING, LogCalls, ModelSite, Problem, RawLogCall, ScriptFacts, Span
from .fixes import _joblib_problem, az_records, azure_problems, log_model_problem
from .parsing import (
    _P_ASSIGN,
    _P_ATTR_CALL,
    _P_IMPORT,
    _P_WITH,
    _Doc,
    _engine,
    _parse,
    _statement,
    _text,
    _u16,
)

_AZ_REGISTER = "azureml.mlflow.register_model"
_LOG_MODEL = re.compile(r"mlflow\.\w+\.log_model")
# mlflow's fluent calls whose keys a hover or an inlay hint can show the history of
_LOG_KINDS = {
    "mlflow.log_metric": "metric",
    "mlflow.log_param": "param",
    "mlflow.log_metrics": "metric",
    "mlflow.log_params": "param",
}
_LOG_NAME = re.compile(rb"log_(?:metric|param)s?\b")
_KEY_NODES = ("string", "concatenated_string")
_START_RUN = re.compile(r"(?<![\w.])([A-Za-z_][\w.]*\.)?start_run\b")


def _string(node: Node) -> str | None:
    if node.type == "string" and (m := PLAIN_STRING.fullmatch(node.text or b"")):
        return m[2].decode("utf-8", "replace")  # 'key': the common case, without child nodes
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

    def __init__(self, matches: Iterable[tuple[int, dict[str, list[Node]]]]) -> None:
        self.imports: list[Node] = []
        self.withs: list[tuple[Node, Node]] = []
        self.calls: list[tuple[str | None, str, Node, Node]] = []
        # assignments never nest, so their matches arrive in document order (for bisect)
        self.assigns: dict[str, list[tuple[int, Node]]] = {}
        # local name -> qualified name it is bound to (a chunk's records what it looks up)
        self.names: Mapping[str, str] = {}
        for pattern, caps in matches:
            self.add(pattern, caps)

    def add(self, pattern: int, caps: dict[str, list[Node]]) -> None:
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
    uses_mlflow, problems, az_imports, names = False, [], [], dict[str, str]()
    script.names = names
    for imp in sorted(script.imports, key=lambda n: n.start_byte):
        module_node = imp.child_by_field_name("module_name")
        module, items = _text(module_node), imp.children_by_field_name("name")
        bare = [_text(i).split(" ")[0] for i in items]  # "x as y" -> "x"
        for item, full in zip(items, bare, strict=True):
            top = full.split(".")[0]
            alias = _text(item.child_by_field_name("alias"))
            if module_node is None:  # import a.b [as c]
                names[alias or top] = full if alias else top
                uses_mlflow |= top == "mlflow"
            else:
                names[alias or full] = f"{module}.{full}"
        uses_mlflow |= module.split(".")[0] == "mlflow"
        if module == "sklearn.externals" and "joblib" in bare:
            problems.append(_joblib_problem(doc, imp, module, items, bare))
        elif module == "azureml.mlflow" and "register_model" in bare:
            rest = [i for i, b in zip(items, bare, strict=True) if b != "register_model"]
            az_imports.append((imp, rest))
    return uses_mlflow, problems, az_imports


def _dict_keys(kind: str, call: Node, args: Node) -> list[RawLogCall]:
    """`log_metrics({'mse': mse, 'r2': r2})`: one site per pair whose key is a literal, so each
    key gets its own hover and hint; a dict built elsewhere is one site without a key."""
    mapping = _arg(args, 0, "metrics" if kind == "metric" else "params")
    if mapping is None or mapping.type != "dictionary":
        return [(kind, call.start_byte, call.end_byte, -1, -1)]
    found: list[RawLogCall] = []
    for pair in mapping.named_children:
        key = pair.child_by_field_name("key") if pair.type == "pair" else None
        if key is not None and key.type in _KEY_NODES:
            found.append((kind, pair.start_byte, pair.end_byte, key.start_byte, key.end_byte))
    return found


def log_names(names: Mapping[str, str]) -> re.Pattern[bytes]:
    """The names a log call may go by: `from mlflow import log_metric as lm` adds `lm`."""
    aliases = [
        re.escape(name.encode())
        for name, qual in names.items()
        if qual in _LOG_KINDS and not _LOG_NAME.fullmatch(name.encode())
    ]
    return re.compile(b"|".join([_LOG_NAME.pattern, *aliases])) if aliases else _LOG_NAME


def log_calls(
    tree: Tree, data: bytes, script: _Script, names: re.Pattern[bytes], lo: int = 0, hi: int = -1
) -> list[RawLogCall]:
    """mlflow's log_metric(s) / log_param(s) calls in data[lo:hi], and their key literals.

    Found by name in the source, then checked on the tree: a script has few of them among many
    other calls, and each extra match of the main query would cost more (~4 µs a call). Only
    byte offsets are kept: `LogCalls` makes positions and keys of them when first asked.
    """
    root, found = tree.root_node, list[RawLogCall]()
    for m in names.finditer(data, lo, len(data) if hi < 0 else hi):
        start, end = m.span()
        node = root.descendant_for_byte_range(start, end)
        if node is None or node.start_byte != start or node.end_byte != end:
            continue  # part of a longer name
        func, owner = node.parent, None
        if node.type != "identifier" or func is None:
            continue  # inside a comment or a string
        if func.type == "attribute":
            obj = func.child_by_field_name("object")
            if func.end_byte != end or obj is None:
                continue
            owner = _owner(obj)
        else:
            func = node
        call = func.parent
        if call is None or call.type != "call" or call.start_byte != func.start_byte:
            continue
        qual = script.qualify(owner, m[0].decode())
        kind = _LOG_KINDS.get(qual)
        args = call.child_by_field_name("arguments")
        if kind is None or args is None or args.type != "argument_list":
            continue
        if qual.endswith("s"):
            found += _dict_keys(kind, call, args)
            continue
        key = _arg(args, 0, "key")
        if key is not None and key.type in _KEY_NODES:
            found.append((kind, call.start_byte, call.end_byte, key.start_byte, key.end_byte))
        else:
            found.append((kind, call.start_byte, call.end_byte, -1, -1))
    return found


def analyze(source: str) -> ScriptFacts:
    data = source.encode("utf-8", "surrogatepass")
    return _facts(data, *_parse(data))


def _facts(data: bytes, tree: Tree, blanked: list[tuple[int, int, int]]) -> ScriptFacts:
    """The facts of the whole file from its (repaired) tree and the lines the repair blanked."""
    doc = _Doc(data)
    script = _Script(QueryCursor(_engine().main).matches(tree.root_node))
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
        elif _LOG_MODEL.fullmatch(qual):
            model = _arg(args, 0, "sk_model")
            problems.append(log_model_problem(doc, call, qual, model, "joblib" in script.names))
    if not anchors:  # rare fallback, so its query only runs when needed
        fits = QueryCursor(_engine().fits).captures(tree.root_node).get("fit", [])
        if fits:
            anchors.append(doc.span(_statement(min(fits, key=lambda n: n.start_byte))))

    problems += azure_problems(*az_records(doc, az_calls, az_imports))
    problems.sort(key=lambda p: (p.span.start_line, p.span.start_col))
    anchor = min(anchors, key=lambda a: (a.start_line, a.start_col), default=None)
    return ScriptFacts(
        uses_mlflow,
        anchor,
        experiment,
        tuple(sites),
        registered,
        tuple(problems),
        LogCalls(data, tuple(log_calls(tree, data, script, log_names(script.names))))
        if uses_mlflow
        else LogCalls(),
    )
