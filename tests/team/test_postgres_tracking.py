"""Team tracking: Lensflow against a real `mlflow server` whose backend store is PostgreSQL.

Nothing is substituted: Debian's PostgreSQL in a private cluster (scripts/postgres.sh), the real
`mlflow server` on 127.0.0.1 with its artifact proxy, Lensflow over stdio. The MLflow server is
restarted in the middle: what the team tracked before must all be there afterwards, and while
the server is down a query must say so in seconds, not hang.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import REPO, error_of, execute
from tests.e2e.test_deploy import seed_split
from tests.e2e.test_settings_and_ui import free_port
from tests.e2e.test_tracking import expected_mse
from tests.setup_jobs import wait_for

SCRIPT = REPO / "scripts" / "postgres.sh"
MLFLOW = Path(sys.executable).with_name("mlflow")
DOWN_BOUND_S = 15.0  # a query against a stopped server must answer within this


# --- PostgreSQL ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A private PostgreSQL cluster on 127.0.0.1, started by the set-up script; its URL."""
    wait_for("system-packages")  # scripts/test.sh installs PostgreSQL in the background
    # As root the cluster belongs to the `postgres` user: its folder must be reachable by it,
    # which pytest's private tmp_path is not.
    folder = tempfile.mkdtemp(prefix="lensflow-pg-", dir="/tmp")
    began = time.monotonic()
    started = subprocess.run(
        ["bash", str(SCRIPT), "start", folder], capture_output=True, text=True, timeout=120
    )
    try:
        if started.returncode != 0:
            pytest.fail(
                f"Could not start PostgreSQL: {started.stderr.strip()}\n"
                "Install it first with `bash scripts/postgres.sh install` "
                "(Debian's postgresql; root or sudo).",
                pytrace=False,
            )
        url = started.stdout.strip().splitlines()[-1]
        print(f"PostgreSQL start (initdb, role, database): {time.monotonic() - began:.1f}s")
        assert url.startswith("postgresql://lensflow:lensflow@127.0.0.1:"), started.stdout
        yield url
    finally:
        began = time.monotonic()
        subprocess.run(["bash", str(SCRIPT), "stop", folder], capture_output=True, timeout=60)
        shutil.rmtree(folder, ignore_errors=True)
        print(f"PostgreSQL stop: {time.monotonic() - began:.1f}s")


def sql(url: str, query: str, **params: Any) -> list[tuple[Any, ...]]:
    """Rows straight from PostgreSQL (SQLAlchemy + psycopg 3), not through MLflow."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(sqlalchemy.text(query), params)]
    finally:
        engine.dispose()


# --- the MLflow server -----------------------------------------------------------------------
def listening_hosts(port: int) -> set[str]:
    """The local addresses with a socket LISTENing on `port` (from /proc/net/tcp{,6})."""
    hosts: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                hosts.add(address)
    return hosts


class MlflowServer:
    """`mlflow server` in its own process group, so a stop leaves none of its children."""

    def __init__(self, store: str, folder: Path) -> None:
        self.store = store
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.artifacts = folder / "artifacts"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> float:
        """Starts it on the same port and store as ever; returns the seconds to /health."""
        self.starts += 1
        log = (self.folder / f"mlflow-{self.starts}.log").open("wb")
        began = time.monotonic()
        command = [str(MLFLOW), "server", "--backend-store-uri", self.store]
        command += ["--host", "127.0.0.1", "--port", str(self.port), "--workers", "1"]
        command += ["--serve-artifacts", "--artifacts-destination", str(self.artifacts)]
        self.proc = subprocess.Popen(
            command,
            cwd=self.folder,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            # The job runner (MLflow's background jobs) is not used here: one process less.
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )
        log.close()
        while time.monotonic() - began < 60:
            if self.proc.poll() is not None:
                raise AssertionError(f"mlflow server exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as reply:
                    if reply.status == 200:
                        print(f"mlflow server start {self.starts}: {time.monotonic() - began:.1f}s")
                        return time.monotonic() - began
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"mlflow server never answered /health:\n{self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the whole group, SIGKILL after 15 s; then no process of it may remain."""
        if self.proc is None:
            return
        pgid = self.proc.pid
        began = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(pgid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while group_alive(pgid):
            if time.monotonic() > deadline:
                os.killpg(pgid, signal.SIGKILL)
                raise AssertionError(f"processes of mlflow server group {pgid} outlived it")
            time.sleep(0.1)
        self.proc = None
        print(f"mlflow server stop: {time.monotonic() - began:.1f}s")

    def log_tail(self) -> str:
        return (self.folder / f"mlflow-{self.starts}.log").read_text(errors="replace")[-3000:]


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def mlflow_server(postgres: str, tmp_path: Path) -> Iterator[MlflowServer]:
    folder = tmp_path / "mlflow-server"
    folder.mkdir()
    server = MlflowServer(postgres, folder)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- the test --------------------------------------------------------------------------------
def use_tracking_uri(client: LanguageClient, uri: str) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"trackingUri": uri}})
    )


async def track_and_register(client: LanguageClient, version: int) -> dict[str, Any]:
    run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    assert run["status"] == "FINISHED", run["outputTail"]
    assert run["metrics"]["mse"] == pytest.approx(expected_mse(), rel=1e-9)
    assert run["params"] == {"alpha": "0.03"}
    assert "model.pkl" in run["artifacts"]
    registered = await execute(
        client,
        "lensflow.registerModel",
        {"runId": run["runId"], "modelName": "diabetes_model", "modelPath": "model.pkl"},
    )
    assert registered["version"] == version
    assert registered["modelFramework"] == "ScikitLearn"
    # The model went to the server's artifact proxy, not to a folder of this machine.
    assert registered["source"].startswith("mlflow-artifacts:/"), registered
    return dict(run)


def predictions_of(model_file: Path, rows: list[list[float]]) -> list[float]:
    import joblib

    return [float(v) for v in joblib.load(model_file).predict(rows)]


async def test_team_tracking_survives_a_server_restart(
    mlflow_server: MlflowServer, postgres: str, client: LanguageClient, project: Path
) -> None:
    # Both servers listen on 127.0.0.1 only.
    assert listening_hosts(mlflow_server.port) == {"0100007F"}
    assert listening_hosts(int(postgres.rsplit(":", 1)[1].split("/")[0])) == {"0100007F"}
    use_tracking_uri(client, mlflow_server.url)
    workspace = await execute(client, "lensflow.getWorkspace", {})
    assert workspace["trackingUri"] == mlflow_server.url

    # Track and register, through the server.
    first = await track_and_register(client, version=1)
    run_id = first["runId"]
    detail = await execute(client, "lensflow.getRun", {"runId": run_id})
    assert detail["status"] == "FINISHED"
    assert detail["metrics"] == first["metrics"]
    assert detail["artifactUri"].startswith("mlflow-artifacts:/"), detail["artifactUri"]
    assert "model.pkl" in detail["artifacts"]
    experiments = await execute(client, "lensflow.listExperiments", {})
    (experiment,) = [e for e in experiments["experiments"] if e["name"] == "experiment_with_mlflow"]
    assert experiment["artifactLocation"].startswith("mlflow-artifacts:/")
    # The proxy wrote the very model the script trained, under --artifacts-destination.
    stored = mlflow_server.artifacts / experiment["experimentId"] / run_id / "artifacts"
    assert (stored / "model.pkl").is_file(), sorted(mlflow_server.artifacts.rglob("*"))
    x_head, truth = seed_split()
    assert predictions_of(stored / "model.pkl", x_head) == pytest.approx(truth, rel=1e-12)

    # The MLflow server goes down: a query says so, naming the URL, within seconds.
    mlflow_server.stop()
    began = time.monotonic()
    try:
        down = await asyncio.wait_for(
            error_of(client, "lensflow.listRuns", {}), timeout=DOWN_BOUND_S
        )
    except TimeoutError:
        raise AssertionError(f"listRuns hung over {DOWN_BOUND_S}s on a stopped server") from None
    waited = time.monotonic() - began
    print(f"listRuns against the stopped server: {down.data} in {waited:.1f}s")
    assert waited < DOWN_BOUND_S, f"listRuns took {waited:.1f}s against a stopped server"
    assert down.data is not None and down.data["kind"] == "unreachable", (down.data, str(down))
    assert mlflow_server.url in str(down), str(down)

    # A run cannot start there either, and says so as fast: MLflow's own client would retry a
    # refused connection for minutes. PostgreSQL below holds no third run from it.
    began = time.monotonic()
    refused = await asyncio.wait_for(
        error_of(client, "lensflow.trackRun", {"script": "train.py"}), timeout=DOWN_BOUND_S
    )
    assert refused.data is not None and refused.data["kind"] == "unreachable", str(refused)
    assert time.monotonic() - began < DOWN_BOUND_S

    # It comes back on the same port and store: Lensflow recovers, nothing was lost.
    mlflow_server.start()
    runs = await execute(client, "lensflow.listRuns", {})
    assert [r["runId"] for r in runs["runs"]] == [run_id]
    second = await track_and_register(client, version=2)
    assert second["runId"] != run_id

    runs = await execute(client, "lensflow.listRuns", {"script": "train.py"})
    assert [r["runId"] for r in runs["runs"]] == [second["runId"], run_id]  # newest first
    again = await execute(client, "lensflow.getRun", {"runId": run_id})
    assert again["metrics"] == first["metrics"]
    assert again["params"] == first["params"]
    models = await execute(client, "lensflow.listModels", {})
    (model,) = [m for m in models["models"] if m["name"] == "diabetes_model"]
    assert [(v["version"], v["runId"]) for v in model["versions"]] == [
        (1, run_id),
        (2, second["runId"]),
    ]
    assert model["latestVersion"] == 2

    # PostgreSQL itself holds it all; this machine's embedded store was never used.
    runs_in_pg = sql(postgres, "SELECT run_uuid, status FROM runs ORDER BY start_time")
    assert runs_in_pg == [(run_id, "FINISHED"), (second["runId"], "FINISHED")]
    versions_in_pg = sql(
        postgres,
        "SELECT version, run_id FROM model_versions WHERE name = :name ORDER BY version",
        name="diabetes_model",
    )
    assert versions_in_pg == [(1, run_id), (2, second["runId"])]
    (mse_in_pg,) = sql(
        postgres,
        "SELECT value FROM latest_metrics WHERE run_uuid = :run AND key = 'mse'",
        run=run_id,
    )
    assert mse_in_pg[0] == pytest.approx(expected_mse(), rel=1e-9)
    assert not (project / ".lensflow" / "mlflow.db").exists()

    # A teammate's model deploys here: the service's copy comes down through the proxy.
    cluster = await execute(client, "lensflow.createCluster", {"name": "team-aks"})
    assert cluster["state"] == "Succeeded"
    service = await execute(
        client,
        "lensflow.deploy",
        {"serviceName": "team-svc", "modelName": "diabetes_model", "clusterName": "team-aks"},
    )
    assert service["state"] == "Healthy", service.get("error")
    answer = await execute(
        client,
        "lensflow.invokeEndpoint",
        {"serviceName": "team-svc", "input": {"data": x_head, "method": "predict"}},
    )
    assert (answer["statusCode"], answer["output"]) == (200, truth)
    deleted = await execute(client, "lensflow.cleanUp", {"all": True})
    assert {(d["kind"], d["name"]) for d in deleted["deleted"]} == {
        ("service", "team-svc"),
        ("cluster", "team-aks"),
    }
