"""Real scoring services for the tests: models made in the session, uvicorn processes on 127.0.0.1.

Every service is `python -m uvicorn --factory lensflow.scoring.app:create_app` with its own
config file, exactly as the deployer starts it; the tests talk HTTP to it with http.client.
"""

from __future__ import annotations

import ctypes
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from lensflow.scoring.config import CONFIG_ENV, write_config, write_keys
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0  # TensorFlow alone takes a few seconds to import on this machine


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Service:
    """One uvicorn process serving one model."""

    name: str
    port: int
    folder: Path
    proc: subprocess.Popen[bytes]
    keys: tuple[str, str] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.folder / "service.log"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = "primary",
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> Reply:
        """`body` is sent as JSON, `raw` as is; `key` is "primary", "secondary", None or a key."""
        sent = {"Content-Type": "application/json"} if body is not None else {}
        if key is not None and self.keys is not None:
            token = {"primary": self.keys[0], "secondary": self.keys[1]}.get(key, key)
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            conn.request(method, path, body=data, headers=sent)
            response = conn.getresponse()
            return Reply(
                response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
            )
        finally:
            conn.close()

    def score(self, data: Any, method: str | None = None, **kwargs: Any) -> Reply:
        body: dict[str, Any] = {"data": data}
        if method is not None:
            body["method"] = method
        return self.request("POST", "/score", body, **kwargs)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def prepare(
    folder: Path,
    framework: str,
    model_path: Path,
    *,
    auth: bool = True,
    max_body_bytes: int | None = None,
) -> tuple[Path, tuple[str, str] | None]:
    """A service folder as the deployer makes it: keys.json (0600) and config.json."""
    folder.mkdir(parents=True, exist_ok=True)
    keys = write_keys(folder / "keys.json") if auth else None
    fields: dict[str, Any] = dict(
        serviceName=folder.name, modelName=f"{folder.name}-model", modelVersion=3,
        framework=framework, modelPath=str(model_path), authEnabled=auth,
        keysFile=str(folder / "keys.json") if auth else None,
    )  # fmt: skip
    if max_body_bytes is not None:
        fields["maxBodyBytes"] = max_body_bytes
    write_config(folder / "config.json", **fields)
    return folder / "config.json", keys


def _die_with_parent() -> None:
    """A killed test run leaves no service behind (PR_SET_PDEATHSIG)."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


def launch(config: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, CONFIG_ENV: str(config), "PYTHONPATH": str(REPO)}
    command = [
        sys.executable, "-m", "uvicorn", "--factory", "lensflow.scoring.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log",
    ]  # fmt: skip
    with log.open("wb") as out:
        return subprocess.Popen(
            command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
            preexec_fn=_die_with_parent,
        )  # fmt: skip


def wait_ready(services: list[Service]) -> None:
    """Waits until every service answers /ping, failing with its log if one dies."""
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(services)
    while pending:
        for service in list(pending):
            if service.proc.poll() is not None:
                raise RuntimeError(f"{service.name} exited:\n{service.log.read_text()}")
            try:
                if service.request("GET", "/ping").status == 200:
                    pending.remove(service)
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{[s.name for s in pending]} not ready in {START_TIMEOUT} s")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def start_services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """start_services(name=(framework, model_path, options), ...) → {name: Service}, all at once."""
    started: list[Service] = []

    def _start(**specs: tuple[str, Path, dict[str, Any]]) -> dict[str, Service]:
        services = {}
        for name, (framework, path, options) in specs.items():
            folder = tmp_path_factory.mktemp("svc") / name
            config, keys = prepare(folder, framework, path, **options)
            port = free_port()
            service = Service(name, port, folder, launch(config, port, folder / "service.log"))
            service.keys = keys
            started.append(service)
            services[name] = service
        wait_ready(list(services.values()))
        return services

    yield _start
    for service in started:
        service.stop()


@dataclass
class Data:
    x_test: np.ndarray
    ridge: Ridge
    ridge_pkl: Path
    iris_x: np.ndarray
    classifier: LogisticRegression
    classifier_pkl: Path
    folder: Path


@pytest.fixture(scope="session")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """The seed's Ridge (diabetes, alpha=0.03) and an iris LogisticRegression, joblib-dumped."""
    folder = tmp_path_factory.mktemp("models")
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0)
    ridge = Ridge(alpha=0.03).fit(x_train, y_train)
    joblib.dump(ridge, folder / "model.pkl")
    iris_x, iris_y = load_iris(return_X_y=True)
    classifier = LogisticRegression(max_iter=500).fit(iris_x, iris_y)
    joblib.dump(classifier, folder / "classifier.pkl")
    return Data(
        x_test, ridge, folder / "model.pkl", iris_x, classifier, folder / "classifier.pkl", folder
    )
