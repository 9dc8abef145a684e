"""Lenses (and inlay hints, when a run changed their values) are asked for again after another
client of the same workspace (a second window, a script) changes what they show: two real
servers over stdio on one project. A server's own commands: `tests/e2e/test_deploy.py::
test_lens_driven_workflow`."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from pytest_lsp import LanguageClient

from tests.conftest import execute, open_document
from tests.e2e.test_deploy import lens_commands
from tests.reliability.support import close, new_server


def counts(client: LanguageClient) -> tuple[int, int]:
    return client.lens_refreshes, client.inlay_refreshes  # type: ignore[attr-defined]


async def refreshed(
    client: LanguageClient, since: tuple[int, int], hints: bool = False, timeout: float = 10
) -> None:
    """Lenses (and, with `hints`, inlay hints) were asked for again since `since`, unprompted."""
    deadline = time.monotonic() + timeout
    wanted = 2 if hints else 1

    def done() -> bool:
        now = counts(client)[:wanted]
        return all(a > b for a, b in zip(now, since[:wanted], strict=True))

    while not done():
        assert time.monotonic() < deadline, f"no refresh within {timeout} s: {counts(client)}"
        await asyncio.sleep(0.1)


async def test_another_clients_changes_refresh_this_ones_lenses(
    client: LanguageClient, project: Path
) -> None:
    """A second server on the same project (another window, or a scripted client) tracks,
    registers and creates the cluster; this one's lenses follow without an edit."""
    uri = open_document(client, project / "train.py")
    assert "No runs yet" in [c.title for c in await lens_commands(client, uri)]
    other = await new_server(project)
    try:
        before = counts(client)
        run = await execute(other, "lensflow.trackRun", {"script": "train.py"})
        assert run["status"] == "FINISHED"
        await refreshed(client, before, hints=True)  # the hints' mse = … changed too
        titles = [c.title for c in await lens_commands(client, uri)]
        assert any(t.startswith("Last run: ✓ FINISHED") and "mse=3424.86" in t for t in titles)

        before = counts(client)
        await execute(
            other, "lensflow.registerModel",
            {"runId": run["runId"], "modelName": "train_model", "modelPath": "model.pkl"},
        )  # fmt: skip
        await refreshed(client, before)
        assert "Create cluster local-cluster" in [c.title for c in await lens_commands(client, uri)]

        before = counts(client)
        await execute(other, "lensflow.createCluster", {"name": "local-cluster"})
        await refreshed(client, before)
        titles = [c.title for c in await lens_commands(client, uri)]
        assert "Deploy train_model v1 to local-cluster" in titles
        await execute(other, "lensflow.cleanUp", {"all": True})
    finally:
        await close(other)
