"""Two JSON-RPC rules, against the real server over stdio.

Before `initialize`, LSP says a request gets -32002 (ServerNotInitialized) and a notification
is dropped (all but `exit`); the server ran them, and answered -32603 (no workspace, no client
capabilities yet). And workspace/executeCommand's `arguments` is an array: a string was splatted
into one argument per character ("got 3 arguments"), an object taken for its keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .rawlsp import RawLsp, shorten
from .support import serving, still_serves

EARLY_REQUESTS: list[tuple[str, Any]] = [
    ("workspace/executeCommand", {"command": "lensflow.getWorkspace", "arguments": []}),
    ("workspace/executeCommand", {"command": "lensflow.trackRun",
                                  "arguments": [{"script": "train.py"}]}),
    ("textDocument/hover", {"textDocument": {"uri": "file:///x/train.py"},
                            "position": {"line": 0, "character": 0}}),
    ("textDocument/codeLens", {"textDocument": {"uri": "file:///x/train.py"}}),
    ("shutdown", None),
    ("lensflow/nothing", None),
]  # fmt: skip


def test_requests_before_initialize_get_server_not_initialized(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "train.py").write_text('open("ran.txt", "w").write("it ran")\n')
    lsp = RawLsp(project, tmp_path / "server.log")
    try:
        # Notifications first: dropped, with no answer, and the server does not die.
        uri = (project / "train.py").as_uri()
        document = {"uri": uri, "languageId": "python", "version": 1, "text": "import os\n"}
        lsp.send({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                  "params": {"textDocument": document}})  # fmt: skip
        lsp.send({"jsonrpc": "2.0", "method": "workspace/didChangeConfiguration",
                  "params": {"settings": {"lensflow": {"home": "elsewhere"}}}})  # fmt: skip
        for method, params in EARLY_REQUESTS:
            answer = lsp.request(method, params)
            error = answer.get("error") or {}
            assert error.get("code") == -32002, f"{method}: {shorten(answer)}"
            assert "initialize" in error["message"]
            assert lsp.alive(), f"the server ended after {method}"
        assert lsp.unmatched == [] and lsp.notifications == []
        assert "result" in lsp.initialize()
        still_serves(lsp)
        # The early trackRun never ran; the early settings were dropped.
        assert not (project / "ran.txt").exists()
        workspace = lsp.execute("lensflow.getWorkspace", [])["result"]
        assert Path(workspace["home"]) == project / ".lensflow", workspace
    finally:
        lsp.close()
    assert lsp.proc.returncode == 0  # the early shutdown was not run: the last one counted


@pytest.fixture(scope="module")
def lsp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawLsp]:
    with serving(tmp_path_factory.mktemp("request-rules")) as server:
        yield server


@pytest.mark.parametrize(
    ("arguments", "named"),
    [('"abc"', "a string"), ('{"a": 1}', "an object"), ("5", "a number"), ("2.5", "a number"),
     ("true", "a boolean"), ('"{}"', "a string")],
)  # fmt: skip
def test_arguments_must_be_an_array(lsp: RawLsp, arguments: str, named: str) -> None:
    answer = lsp.execute_text("lensflow.getWorkspace", arguments)
    error = answer.get("error") or {}
    assert error.get("code") == -32602, shorten(answer)
    assert f"must be an array (of one argument object), not {named}" in error["message"]
    assert error["data"]["errors"] == [
        {"loc": ["arguments"], "msg": "expected an array", "type": "list_type"}
    ]
    still_serves(lsp)


@pytest.mark.parametrize("arguments", ["[]", "null", "[{}]"])
def test_arguments_may_be_an_array_or_null(lsp: RawLsp, arguments: str) -> None:
    assert "result" in lsp.execute_text("lensflow.getWorkspace", arguments)
