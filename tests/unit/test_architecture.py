"""The house rules, checked on the source: no import circle (imports under TYPE_CHECKING and
inside functions count too), no feature borrowing from another, no module over 300 lines."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = {
    "lensflow": REPO / "server" / "lensflow",
    "lensflow_protocol": REPO / "protocol" / "lensflow_protocol",
}
MAX_LINES = 300


def modules() -> dict[str, Path]:
    found = {}
    for package, root in PACKAGES.items():
        for path in root.rglob("*.py"):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> Iterator[str]:
    """The project modules `name` imports, wherever the import statement stands.

    `from pkg import sub` counts as importing `pkg.sub` when that is a module, else `pkg`.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                if f"{target}.{alias.name}" in known:
                    yield f"{target}.{alias.name}"
                elif target in known:
                    yield target


def graph() -> dict[str, set[str]]:
    known = modules()
    return {name: set(imported(name, path, known)) for name, path in known.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module, or one importing itself."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1 or node in edges[node]:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_sees_every_kind_of_import() -> None:
    edges = graph()
    # `from ..lsp.feature import Feature` (relative), TYPE_CHECKING-only and function-level ones
    assert "lensflow.lsp.feature" in edges["lensflow.features.lenses"]
    assert "lensflow.server" in edges["lensflow.lsp.feature"]  # under TYPE_CHECKING
    assert "lensflow.settings" in edges["lensflow.server"]  # inside a method
    assert "lensflow_protocol.names" in edges["lensflow.features.deployment"]


def test_no_import_cycle() -> None:
    assert cycles(graph()) == []


def test_features_import_no_other_feature() -> None:
    edges = graph()
    features = {name for name in edges if name.startswith("lensflow.features.")}
    borrowed = {name: sorted(edges[name] & features) for name in features if edges[name] & features}
    assert borrowed == {}


def test_lsp_stays_out_of_domain_code() -> None:
    edges = graph()
    domain = [n for n in edges if n.startswith(("lensflow.workspaces", "lensflow.scoring"))]
    domain += ["lensflow.history", "lensflow.latest_runs", "lensflow.services", "lensflow.analysis"]
    leaks = {n: sorted(e for e in edges[n] if e.startswith(("lensflow.lsp", "lensflow.features")))
             for n in domain}  # fmt: skip
    assert {n: e for n, e in leaks.items() if e} == {}


def test_no_module_over_300_lines() -> None:
    long = {
        str(path.relative_to(REPO)): lines
        for path in modules().values()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert long == {}
