"""compareRuns and the Compare runs lens over stdio: a Ridge sweep tracked three times, compared
against mse values computed here, the SVG plot read back, and every bad input refused."""

from __future__ import annotations

import asyncio
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import error_of, execute, open_document
from tests.e2e.test_lean_process import HEAVY, loaded_libraries

COMPARE = "lensflow.compareRuns"
ALPHAS = ["0.01", "0.1", "1.0"]
SWEEP = """\
import sys

import mlflow
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import train_test_split

alpha = float(sys.argv[1])
X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
with mlflow.start_run():
    mlflow.log_param("alpha", alpha)
    model = Ridge(alpha=alpha).fit(X_train, y_train)
    mlflow.log_metric("mse", mean_squared_error(y_test, model.predict(X_test)))
"""
SVG = "{http://www.w3.org/2000/svg}"


def expected_mse(alpha: str) -> float:
    """Independent truth: the same Ridge, trained here in the test process."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    model = Ridge(alpha=float(alpha)).fit(X_train, y_train)
    return float(mean_squared_error(y_test, model.predict(X_test)))


async def track(client: LanguageClient, alpha: str) -> str:
    run = await execute(client, "lensflow.trackRun", {"script": "sweep.py", "args": [alpha]})
    assert run["status"] == "FINISHED", run["outputTail"]
    return str(run["runId"])


async def compare_lenses(client: LanguageClient, uri: str) -> list[types.Command]:
    """The `Compare runs` lenses of the script, as an editor sees them once the lenses it was
    given are resolved (that fills the server's cache of runs) and it asks again."""
    params = types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    for lens in await client.text_document_code_lens_async(params) or []:
        if lens.command is None:
            assert (await client.code_lens_resolve_async(lens)).command is not None
    again = await client.text_document_code_lens_async(params) or []
    return [lens.command for lens in again if lens.command and "Compare" in lens.command.title]


async def refreshed_since(client: LanguageClient, count: int) -> bool:
    """Whether the server asked for workspace/codeLens/refresh again, within 10 s."""
    for _ in range(100):
        if client.lens_refreshes > count:  # type: ignore[attr-defined]
            return True
        await asyncio.sleep(0.1)
    return False


def table_row(markdown: str, name: str) -> list[str]:
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == name:
            return cells[1:]
    raise AssertionError(f"no row {name!r} in\n{markdown}")


def svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]


async def test_compare_a_sweep(client: LanguageClient, project: Path) -> None:
    script = project / "sweep.py"
    script.write_text(SWEEP)
    uri = open_document(client, script)
    truth = {alpha: expected_mse(alpha) for alpha in ALPHAS}
    best_alpha = min(truth, key=truth.__getitem__)
    assert best_alpha == "0.1"  # neither end of the sweep: the marking is no accident of order

    assert await compare_lenses(client, uri) == []
    first = await track(client, ALPHAS[0])
    assert await compare_lenses(client, uri) == []
    one = await error_of(client, COMPARE, {"script": "sweep.py"})
    assert (one.code, one.data["kind"]) == (-32001, "notFound")
    assert "sweep.py has only one tracked run" in one.message and "Track it again" in one.message

    second = await track(client, ALPHAS[1])
    refreshes = client.lens_refreshes  # type: ignore[attr-defined]
    (lens,) = await compare_lenses(client, uri)
    # The first answer after the run could not know yet, so the server asked for another.
    assert await refreshed_since(client, refreshes)
    assert (lens.title, lens.command) == ("Compare runs", COMPARE)
    assert list(lens.arguments or []) == [{"script": uri}]
    via_lens = await execute(client, lens.command, *(lens.arguments or []))
    assert [r["runId"] for r in via_lens["runs"]] == [first, second]

    third = await track(client, ALPHAS[2])
    result = await execute(client, COMPARE, {"script": "sweep.py"})

    assert [r["runId"] for r in result["runs"]] == [first, second, third]  # oldest first
    assert [r["params"]["alpha"] for r in result["runs"]] == ALPHAS
    for run, alpha in zip(result["runs"], ALPHAS, strict=True):
        assert run["metrics"]["mse"] == pytest.approx(truth[alpha], rel=1e-9)
    assert (result["metric"], result["param"]) == ("mse", "alpha")  # alpha: the one that varies

    markdown = result["markdown"]
    assert markdown.startswith("3 runs of `sweep.py`, oldest first. ★ marks the best mse (lowest).")
    assert table_row(markdown, "run") == [f"`{r[:8]}`" for r in (first, second, third)]
    assert table_row(markdown, "alpha") == ALPHAS
    for cell, alpha in zip(table_row(markdown, "mse"), ALPHAS, strict=True):
        shown = cell.replace("**", "").replace("★", "").strip()
        assert float(shown) == pytest.approx(truth[alpha], rel=1e-5), (cell, alpha)
        assert ("★" in cell) is (alpha == best_alpha), cell

    plot = Path(result["plotPath"])
    assert plot.parent == project / ".lensflow" / "plots"
    assert plot.name.startswith("compare-") and plot.suffix == ".svg"
    assert result["plotUri"] == plot.as_uri()
    assert f"]({plot.as_uri()})" in markdown  # the markdown shows the plot too
    texts = svg_texts(plot)
    for label in ("mse over runs", "mse against alpha", "alpha", "mse", "best (lowest)"):
        assert label in texts, (label, texts)

    # The latest two only; by ids (given newest first), and with an explicit metric and param.
    latest = await execute(client, COMPARE, {"script": uri, "limit": 2})
    assert [r["runId"] for r in latest["runs"]] == [second, third]
    by_ids = await execute(
        client, COMPARE, {"runIds": [third, first], "metric": "mse", "param": "alpha"}
    )
    assert [r["runId"] for r in by_ids["runs"]] == [first, third]
    assert table_row(by_ids["markdown"], "alpha") == ["0.01", "1.0"]
    assert "★" in table_row(by_ids["markdown"], "mse")[1]  # 1.0 beats 0.01
    assert by_ids["plotPath"] != result["plotPath"] and Path(by_ids["plotPath"]).is_file()

    unknown = await error_of(client, COMPARE, {"script": "sweep.py", "metric": "accuracy"})
    assert (unknown.code, unknown.data["kind"]) == (-32001, "notFound")
    assert "no" in unknown.message.lower() and "they have: mse" in unknown.message
    assert unknown.data["metrics"] == ["mse"]

    # All of it drawn without matplotlib (or numpy) in the editor's server.
    maps = loaded_libraries(client._server.pid)  # type: ignore[union-attr]
    assert not [name for name in (*HEAVY, "matplotlib") if f"/{name}/" in maps]


@pytest.mark.parametrize(
    ("arguments", "loc"),
    [
        ({"runIds": ["a1", "b2"], "script": "sweep.py"}, []),
        ({}, []),
        ({"runIds": ["a1"]}, ["runIds"]),
        ({"runIds": ["a1", "a1"]}, []),
        ({"runIds": ["a1", "../etc"]}, ["runIds", 1]),
        ({"script": "sweep.py", "limit": 1}, ["limit"]),
        ({"script": "sweep.py", "metric": ""}, ["metric"]),
    ],
)
def test_bad_arguments_are_named(arguments: dict[str, Any], loc: list[Any]) -> None:
    """The -32602 field errors, as the server's own validation makes them (no server needed
    for each case: the next test sends a few over stdio)."""
    from lensflow.lsp.commands import parse_arguments
    from lensflow_protocol.insight import CompareRunsArgs
    from pygls.exceptions import JsonRpcException

    with pytest.raises(JsonRpcException) as caught:
        parse_arguments(CompareRunsArgs, COMPARE, (arguments,))
    assert caught.value.code == -32602
    assert loc in [e["loc"][: len(loc)] for e in caught.value.data["errors"]]


async def test_bad_input_over_stdio(client: LanguageClient, project: Path) -> None:
    both = await error_of(client, COMPARE, {"runIds": ["a1", "b2"], "script": "train.py"})
    assert both.code == -32602 and "exactly one of runIds or script" in str(both.data)
    one_id = await error_of(client, COMPARE, {"runIds": ["a1"]})
    assert one_id.code == -32602 and ["runIds"] in [e["loc"] for e in one_id.data["errors"]]

    unknown = await error_of(client, COMPARE, {"runIds": ["0123456789abcdef", "feedface"]})
    assert (unknown.code, unknown.data["kind"]) == (-32001, "notFound")
    assert "'0123456789abcdef', 'feedface'" in unknown.message
    assert unknown.data["runIds"] == ["0123456789abcdef", "feedface"]

    none = await error_of(client, COMPARE, {"script": "train.py"})
    assert none.data["kind"] == "notFound" and "train.py has no tracked runs" in none.message
    bad_uri = await error_of(client, COMPARE, {"script": "https://example.com/train.py"})
    assert bad_uri.data["kind"] == "invalidPath"
    # Still serving.
    assert (await execute(client, "lensflow.listRuns", {"script": "train.py"}))["runs"] == []
