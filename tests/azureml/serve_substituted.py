"""Lensflow's real server, with the Azure ML SDK substituted at its one boundary.

`sdk.AzureMLSdk` becomes `LocalAzure`: tracking goes to a real local MLflow store (beside the
workspace's config.json), models to the substitute's registry, and each "AKS" service is a
real HTTP endpoint on 127.0.0.1 that scores with the registered model file, behind its key.
Everything else (the LSP, the workspace, its polling and watchers) is the shipped code.

    python tests/azureml/serve_substituted.py   (stdio, like `python -m lensflow`)
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import threading
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from lensflow.workspaces.azureml import sdk, serving  # noqa: E402
from lensflow.workspaces.azureml.interface import (  # noqa: E402
    AksCluster,
    AksSpec,
    AzureModel,
    AzureService,
    ServiceSpec,
    Tracking,
)

from tests.azureml.fakes import FakeSdk  # noqa: E402


def _model_file(tracking_uri: str, run_id: str, model_path: str) -> Path:
    """Where the run's artifact lies, read from the MLflow SQLite store itself."""
    db = tracking_uri.removeprefix("sqlite:///")
    with sqlite3.connect(f"file:/{db.lstrip('/')}?mode=ro", uri=True) as conn:
        (artifact_uri,) = conn.execute(
            "SELECT artifact_uri FROM runs WHERE run_uuid = ?", (run_id,)
        ).fetchone()
    return Path(url2pathname(urlparse(artifact_uri).path)) / model_path


def _scoring_endpoint(model_file: Path, key: str) -> ThreadingHTTPServer:
    import joblib  # only once a service is deployed, as in the real scoring container

    model = joblib.load(model_file)

    class Score(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Authorization") != f"Bearer {key}":
                return self._send(401, {"error": "missing or wrong key"})
            rows = json.loads(body)["data"]
            self._send(200, [float(v) for v in model.predict(rows)])

        def _send(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:  # stdout carries the protocol
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Score)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


class LocalAzure(FakeSdk):
    def __init__(self, config_path: Path, auth: str = "auto", env: Any = None) -> None:
        super().__init__()
        # The workspace's "Azure" store: a real MLflow SQLite store beside its config.json.
        self.uri = f"sqlite:///{Path(config_path).resolve().parent / 'azure-mlflow.db'}"
        self.files: dict[tuple[str, int], Path] = {}
        self.endpoints: dict[str, ThreadingHTTPServer] = {}

    def tracking(self) -> Tracking:
        # What the real SDK may do on a sign-in: print to stdout, and start children that
        # inherit fd 1. Neither may reach the protocol stream.
        print("Performing interactive authentication. Please follow the instructions...")
        subprocess.run(["echo", "a child writing to its inherited stdout"], check=True)
        self._record("tracking")
        self.tokens += 1
        return Tracking(uri=self.uri, token=f"token-{self.tokens}")

    def register_model(  # type: ignore[override]
        self, run_id: str, model_name: str, model_path: str, *rest: Any
    ) -> AzureModel:
        model = super().register_model(run_id, model_name, model_path, *rest)
        self.files[(model.name, model.version)] = _model_file(self.uri, run_id, model_path)
        return model

    def create_cluster(self, spec: AksSpec) -> AksCluster:
        first = super().create_cluster(spec)
        if spec.name.startswith("slow-"):  # an AKS cluster as slow as a real one
            self.clusters[spec.name][-1:-1] = [first] * 100_000
        return first

    def deploy(self, spec: ServiceSpec) -> AzureService:
        first = super().deploy(spec)
        model_file = self.files[(spec.model_name, spec.model_version)]
        endpoint = _scoring_endpoint(model_file, "primary-key")
        self.endpoints[spec.service_name] = endpoint
        uri = f"http://127.0.0.1:{endpoint.server_address[1]}/score"
        states = self.services[spec.service_name]
        states[-1] = replace(states[-1], scoring_uri=uri, swagger_uri=None)
        return first

    def delete_service(self, name: str) -> None:
        super().delete_service(name)
        if (endpoint := self.endpoints.pop(name, None)) is not None:
            endpoint.shutdown()


sdk.AzureMLSdk = LocalAzure  # type: ignore[misc, assignment]
# An AKS cluster takes minutes; the substitute's states change at every poll.
serving.AzureServing.cluster_poll_s = serving.AzureServing.service_poll_s = 0.05

if __name__ == "__main__":
    from lensflow.__main__ import main

    sys.exit(main())
