"""Azure ML's MLflow tracking on the double: a real ``mlflow server`` behind the workspace's URI.

azureml-mlflow (the ``azureml`` tracking-store plugin) turns the workspace's
``azureml://<host>/mlflow/v1.0/<workspace id>`` into ``https://<host>/mlflow/v2.0/<workspace id>``
(v2.0 for MLflow 2 and 3, whatever version the URI names) and MLflow's REST store appends
``/api/2.0/mlflow/...``: the double checks the bearer token and the workspace, strips the prefix
and proxies the rest to an ``mlflow server`` child (sqlite, 127.0.0.1).

Run artifacts go the way Azure ML's own do. azureml-mlflow only takes run artifact URIs of the
form ``azureml://<host>/mlflow/v2.0/<workspace id>/experiments/<experiment>/runs/<run>/artifacts``
(an ``mlflow-artifacts:`` URI needs an http(s) tracking URI, which ``azureml://`` is not): so the
proxy gives every experiment created without an artifact location one of that form. The
artifact repository then asks the run-history service (``/history/v1.0/<workspace id>/
experiments/<experiment>/runs/<run>/artifacts...``, served here) for SAS URLs, and puts and gets
the files in the double's Blob storage, under ``ExperimentRun/dcid.<run>/<path>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from starlette.requests import Request
from starlette.responses import Response

from tests.azure_double.server import PROVIDER, ArmError, AzureDouble, Exchange

MLFLOW_PREFIX = "/mlflow/"
HISTORY_PREFIX = "/history/"
ARTIFACT_ORIGIN = "ExperimentRun"
_SCOPE = (
    r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    rf"/providers/{re.escape(PROVIDER)}/workspaces/(?P<ws>[^/]+)"
)
_MLFLOW_PATH = re.compile(rf"^/mlflow/v(?P<version>[12]\.0){_SCOPE}(?P<rest>/.*)$", re.IGNORECASE)
_HISTORY_PATH = re.compile(
    rf"^/history/v1\.0{_SCOPE}/experiments/(?P<experiment>[^/]+)/runs/(?P<run>[^/]+)"
    r"/artifacts(?P<operation>/batch/metadata|/contentinfo)?$",
    re.IGNORECASE,
)
# Headers of the client's request the mlflow server gets; never Authorization (it has no auth).
_FORWARDED_HEADERS = ("content-type", "accept", "user-agent")
_START_TIMEOUT_S = 90.0


@dataclass
class MlflowServer:
    """A running ``mlflow server`` child on 127.0.0.1."""

    url: str
    port: int
    backend_store_uri: str
    artifact_root: Path
    process: subprocess.Popen[bytes]
    log_path: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (the CLI and its uvicorn), SIGKILL what lingers."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    # uvicorn may outlive the CLI by a moment; the group is ours alone (start_new_session).
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=5)


@contextlib.contextmanager
def run_mlflow_server(directory: Path) -> Iterator[MlflowServer]:
    """Start ``mlflow server`` (sqlite in ``directory``) on a free 127.0.0.1 port; stop it after."""
    port = _free_port()
    backend = f"sqlite:///{directory / 'mlflow.db'}"
    artifact_root = directory / "artifacts"
    artifact_root.mkdir(parents=True, exist_ok=True)
    log_path = directory / "mlflow-server.log"
    env = {
        key: value
        for key, value in os.environ.items()
        if key.lower() not in ("http_proxy", "https_proxy", "all_proxy")
        and not key.startswith("MLFLOW_")
    }
    # Its job runner (a huey consumer and a temp dir in /dev/shm) is not needed by tracking.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(mlflow_cli),
                "server",
                "--backend-store-uri",
                backend,
                # Only the Default experiment and explicit locations land here: the proxy gives
                # every other experiment an azureml:// location (see the module's docstring).
                "--default-artifact-root",
                str(artifact_root),
                "--no-serve-artifacts",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = MlflowServer(
        url=f"http://127.0.0.1:{port}",
        port=port,
        backend_store_uri=backend,
        artifact_root=artifact_root,
        process=process,
        log_path=log_path,
    )
    try:
        _wait_until_healthy(server)
        yield server
    finally:
        _stop_group(process)


def _wait_until_healthy(server: MlflowServer) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    session = requests.Session()
    session.trust_env = False
    with session:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"mlflow server exited ({server.process.returncode}):\n"
                    + server.log_path.read_text(errors="replace")[-4000:]
                )
            with contextlib.suppress(requests.RequestException):
                if session.get(f"{server.url}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
    raise RuntimeError(
        f"mlflow server did not answer within {_START_TIMEOUT_S:.0f} s:\n"
        + server.log_path.read_text(errors="replace")[-4000:]
    )


@dataclass
class RunArtifact:
    path: str
    blob_name: str
    created_at: str


class TrackingService:
    """The double's MLflow tracking endpoint and run-history artifact service.

    ``install`` plugs both into the double's mounts; ``artifacts`` is what the history service
    handed out, per (experiment segment, run id), forgotten on the double's reset.
    """

    def __init__(self, double: AzureDouble, upstream: MlflowServer) -> None:
        self.double = double
        self.upstream = upstream
        self._session = requests.Session()
        self._session.trust_env = False  # straight to 127.0.0.1, whatever proxies are set
        self._lock = threading.Lock()
        self.artifacts: dict[tuple[str, str], dict[str, RunArtifact]] = {}

    def install(self) -> None:
        self.double.mounts[MLFLOW_PREFIX] = self._mlflow
        self.double.mounts[HISTORY_PREFIX] = self._history
        self.double.reset_hooks.append(self._reset)

    def uninstall(self) -> None:
        self.double.mounts.pop(MLFLOW_PREFIX, None)
        self.double.mounts.pop(HISTORY_PREFIX, None)
        if self._reset in self.double.reset_hooks:
            self.double.reset_hooks.remove(self._reset)
        self._session.close()

    def tracking_uri(self) -> str:
        """The workspace's ``mlFlowTrackingUri``, as ARM gives it."""
        return f"azureml://127.0.0.1:{self.double.port}/mlflow/v1.0{self.double.workspace_id}"

    def artifact_location(self, experiment_name: str) -> str:
        """An experiment's artifact location as Azure ML gives it: its runs' artifacts go to
        ``<location>/<run id>/artifacts``, which azureml-mlflow's artifact repository parses."""
        return (
            f"azureml://127.0.0.1:{self.double.port}/mlflow/v2.0{self.double.workspace_id}"
            f"/experiments/{quote(experiment_name, safe='')}/runs"
        )

    def _reset(self) -> None:
        with self._lock:
            self.artifacts.clear()

    # ---- what both services check ----------------------------------------------------

    def _check_scope(self, match: re.Match[str]) -> None:
        double = self.double
        if (
            match["sub"] != double.subscription_id
            or match["rg"].lower() != double.resource_group.lower()
            or match["ws"].lower() != double.workspace_name.lower()
        ):
            raise ArmError(
                404,
                "ResourceNotFound",
                f"The Resource '{PROVIDER}/workspaces/{match['ws']}' under resource group "
                f"'{match['rg']}' was not found.",
            )

    @staticmethod
    def _answer(exchange: Exchange, status: int, body: bytes, content_type: str | None) -> Response:
        headers = {"x-ms-request-id": exchange.request_headers.get("x-ms-client-request-id", "")}
        if content_type:
            headers["Content-Type"] = content_type
        exchange.status = status
        exchange.response_headers = {k.lower(): v for k, v in headers.items()}
        exchange.response_content_type = content_type
        if body and content_type and "json" in content_type:
            with contextlib.suppress(ValueError):
                exchange.response_json = json.loads(body)
        return Response(content=body, status_code=status, headers=headers)

    # ---- MLflow's REST API, proxied ----------------------------------------------------

    async def _mlflow(self, request: Request, exchange: Exchange, raw: bytes) -> Response:
        match = _MLFLOW_PATH.match(exchange.path)
        if match is None:
            raise ArmError(
                404,
                "NoRegisteredProviderFound",
                f"No MLflow endpoint is modelled for path '{exchange.path}'.",
            )
        self.double.authorize(exchange)
        self._check_scope(match)
        rest = match["rest"]
        if rest.endswith("/mlflow/experiments/create") and exchange.request_json is not None:
            raw = self._with_azureml_artifact_location(exchange, raw)
        url = self.upstream.url + rest
        if request.url.query:
            url += "?" + request.url.query
        headers = {
            name: value
            for name, value in exchange.request_headers.items()
            if name in _FORWARDED_HEADERS
        }
        answer = await asyncio.to_thread(
            self._session.request, request.method, url, data=raw, headers=headers, timeout=60
        )
        return self._answer(
            exchange, answer.status_code, answer.content, answer.headers.get("content-type")
        )

    def _with_azureml_artifact_location(self, exchange: Exchange, raw: bytes) -> bytes:
        body: dict[str, Any] = dict(exchange.request_json)
        if body.get("artifact_location"):
            return raw
        body["artifact_location"] = self.artifact_location(str(body.get("name", "")))
        exchange.request_json = body
        return json.dumps(body).encode()

    # ---- run history: artifacts ---------------------------------------------------------

    async def _history(self, request: Request, exchange: Exchange, raw: bytes) -> Response:
        match = _HISTORY_PATH.match(exchange.path)
        if match is None:
            raise ArmError(
                404,
                "NoRegisteredProviderFound",
                f"No run-history endpoint is modelled for path '{exchange.path}'.",
            )
        self.double.authorize(exchange)
        self._check_scope(match)
        key = (match["experiment"], match["run"])
        operation = (match["operation"] or "").lower()
        method = exchange.method
        if operation == "/batch/metadata" and method == "POST":
            payload = self._create_empty(key, exchange.request_json)
        elif operation == "" and method == "GET":
            with self._lock:
                listed = sorted(self.artifacts.get(key, {}).values(), key=lambda a: a.path)
            payload = {
                "value": [self._artifact_json(key, a) for a in listed],
                "continuationToken": None,
                "nextLink": None,
            }
        elif operation == "/contentinfo" and method == "GET":
            path = exchange.query.get("path", "")
            with self._lock:
                artifact = self.artifacts.get(key, {}).get(path)
            if artifact is None:
                raise ArmError(404, "ArtifactNotFound", f"No artifact '{path}' in run '{key[1]}'.")
            payload = self._content_json(key, artifact)
        else:
            raise ArmError(405, "MethodNotAllowed", f"{method} is not allowed here.")
        body = json.dumps(payload).encode()
        return self._answer(exchange, 200, body, "application/json; charset=utf-8")

    def _create_empty(self, key: tuple[str, str], body: Any) -> dict[str, Any]:
        paths = body.get("paths") if isinstance(body, dict) else None
        if not isinstance(paths, list) or not paths:
            raise ArmError(400, "BadRequest", "'paths' must list the artifacts to create.")
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
        created: dict[str, RunArtifact] = {}
        for item in paths:
            path = item.get("path") if isinstance(item, dict) else None
            if not isinstance(path, str) or not path or path.startswith("/"):
                raise ArmError(400, "BadRequest", f"Invalid artifact path {path!r}.")
            blob_name = f"{ARTIFACT_ORIGIN}/dcid.{key[1]}/{path}"
            created[path] = RunArtifact(path=path, blob_name=blob_name, created_at=now)
        with self._lock:
            self.artifacts.setdefault(key, {}).update(created)
        return {
            "artifacts": {path: self._artifact_json(key, a) for path, a in created.items()},
            "artifactContentInformation": {
                path: self._content_json(key, a) for path, a in created.items()
            },
            "errors": {},
        }

    def _artifact_json(self, key: tuple[str, str], artifact: RunArtifact) -> dict[str, Any]:
        return {
            "artifactId": f"{ARTIFACT_ORIGIN}/dcid.{key[1]}/{artifact.path}",
            "origin": ARTIFACT_ORIGIN,
            "container": f"dcid.{key[1]}",
            "path": artifact.path,
            "createdTime": artifact.created_at,
        }

    def _content_json(self, key: tuple[str, str], artifact: RunArtifact) -> dict[str, Any]:
        double = self.double
        # A SAS URL into the workspace's blob container, as the real service hands out.
        sas = double._sas_token()  # the double's own signature, which its Blob storage checks
        uri = (
            f"https://{double.storage_account}.blob.{double.storage_suffix}/"
            f"{double.blob_container}/{quote(artifact.blob_name)}?{sas}"
        )
        return {
            "contentUri": uri,
            "origin": ARTIFACT_ORIGIN,
            "container": f"dcid.{key[1]}",
            "path": artifact.path,
        }


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` for the session (about 15 s to start on two cores)."""
    with run_mlflow_server(tmp_path_factory.mktemp("mlflow-server")) as server:
        yield server


@pytest.fixture(scope="session")
def tracking_service(
    azure_double_server: AzureDouble, mlflow_server: MlflowServer
) -> Iterator[TrackingService]:
    service = TrackingService(azure_double_server, mlflow_server)
    service.install()
    yield service
    service.uninstall()


@pytest.fixture
def azure_tracking(azure_double: AzureDouble, tracking_service: TrackingService) -> TrackingService:
    """The double (fresh, spec-checked) with its workspace's MLflow tracking served for real."""
    return tracking_service
