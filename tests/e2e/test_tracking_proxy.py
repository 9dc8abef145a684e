"""A tracking server behind an HTTP proxy, over stdio: the server's environment names a real
proxy on 127.0.0.1 (tests/e2e/forwarding_proxy.py), as a corporate machine's would, and
`no_proxy` is empty, so MLflow's client and Lensflow's up-check both go through it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lensflow.processes import free_port
from lsprotocol import types

from tests.azure_double.tracking import run_mlflow_server
from tests.conftest import error_of, execute, notes
from tests.e2e.forwarding_proxy import ForwardingProxy
from tests.reliability.support import close, new_server


@pytest.fixture
def proxy() -> Iterator[ForwardingProxy]:
    with ForwardingProxy() as running:
        yield running


def behind(proxy: ForwardingProxy) -> dict[str, str]:
    url = proxy.url
    return {"http_proxy": url, "HTTP_PROXY": url, "https_proxy": url, "HTTPS_PROXY": url,
            "no_proxy": "", "NO_PROXY": ""}  # fmt: skip


async def test_a_stopped_server_behind_a_proxy_is_unreachable_within_seconds(
    project: Path, proxy: ForwardingProxy
) -> None:
    """Without the check through the proxy, MLflow's client retries the proxy's 502 for
    minutes before the run fails."""
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    client = await new_server(project, env=behind(proxy))
    try:
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"lensflow": {"trackingUri": url}})
        )
        began = time.monotonic()
        try:
            down = await asyncio.wait_for(
                error_of(client, "lensflow.trackRun", {"script": "train.py"}), timeout=30
            )
        except TimeoutError:
            raise AssertionError("trackRun waited over 30 s on a server behind a proxy") from None
        assert time.monotonic() - began < 10
        assert down.data is not None and down.data["kind"] == "unreachable", str(down)
        assert url in str(down) and "502" in str(down), str(down)
        assert f"HEAD {url}/" in proxy.seen
        assert notes(client, "lensflow/runOutput") == []  # the script never ran
        # A query meets the proxy's 502s too: unreachable, not a store failure.
        began = time.monotonic()
        listed = await asyncio.wait_for(error_of(client, "lensflow.listRuns", {}), timeout=60)
        assert listed.data is not None and listed.data["kind"] == "unreachable", str(listed)
        assert time.monotonic() - began < 30
    finally:
        await close(client)


async def test_a_running_server_behind_a_proxy_tracks_through_it(
    project: Path, proxy: ForwardingProxy, tmp_path: Path
) -> None:
    (tmp_path / "mlflow").mkdir()
    with run_mlflow_server(tmp_path / "mlflow") as server:
        client = await new_server(project, env=behind(proxy))
        try:
            client.workspace_did_change_configuration(
                types.DidChangeConfigurationParams(
                    settings={"lensflow": {"trackingUri": server.url}}
                )
            )
            run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
        finally:
            await close(client)
    assert run["status"] == "FINISHED", run
    assert f"HEAD {server.url}/" in proxy.seen, proxy.seen[:3]  # the check
    created = f"POST {server.url}/api/2.0/mlflow/runs/create"
    assert created in proxy.seen, proxy.seen  # and the training run, through the proxy too
