"""The editor's server stays lean: mlflow and its numeric stack load in child processes only."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import open_document

HEAVY = ("numpy", "pandas", "sklearn", "scipy", "pyarrow", "sqlalchemy", "matplotlib")


def loaded_libraries(pid: int) -> str:
    return Path(f"/proc/{pid}/maps").read_text()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def test_lenses_resolve_without_heavy_imports(client: LanguageClient, project: Path) -> None:
    pid = client._server.pid  # type: ignore[union-attr]
    uri = open_document(client, project / "train.py")
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    unresolved = [lens for lens in lenses or [] if lens.command is None]
    assert unresolved
    for lens in unresolved:
        done = await client.code_lens_resolve_async(lens)
        assert done.command is not None  # answered from the store, via the worker

    maps = loaded_libraries(pid)
    assert not [name for name in HEAVY if f"/{name}/" in maps], "heavy library in the server"
    assert rss_mb(pid) < 80
