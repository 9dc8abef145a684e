"""A deployment's real scoring service: Lensflow's own scoring app, in a child process.

It is started the way the local workspace starts a service (``workspaces/local``): a JSON config
named by ``LENSFLOW_SERVICE_CONFIG``, a 0600 keys file, and ``python -m uvicorn --factory`` on
127.0.0.1 only. Its stdout and stderr go to one log file: that file is what the double's getLogs
answers. Every scorer still alive when the test process exits is stopped (``atexit``).
"""

from __future__ import annotations

import atexit
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from lensflow.scoring.config import CONFIG_ENV, write_config
from lensflow.workspaces.local.state import SCORING_APP

ScorerState = Literal["Starting", "Ready", "Failed"]
START_TIMEOUT_S = 120.0  # MLflow's import alone takes seconds on a busy 2-core machine

_LIVE: set[Scorer] = set()
_LIVE_LOCK = threading.Lock()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Scorer:
    """One scoring service: ``start``, then ``state`` until Ready or Failed, ``stop``."""

    def __init__(
        self,
        *,
        folder: Path,
        service_name: str,
        model_name: str,
        model_version: int,
        framework: str,
        model_path: Path,
        keys_file: Path,
        python: str = sys.executable,
    ) -> None:
        self.folder = folder
        self.service_name = service_name
        self.log_file = folder / "service.log"
        self.keys_file = keys_file
        self.python = python
        self.port = 0
        self.started_at = 0.0
        self.error: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._config = {
            "serviceName": service_name,
            "modelName": model_name,
            "modelVersion": model_version,
            "framework": framework,
            "modelPath": str(model_path),
            "authEnabled": True,
            "keysFile": str(keys_file),
        }

    @property
    def scoring_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/score"

    @property
    def swagger_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/swagger.json"

    def command(self) -> Sequence[str]:
        return [
            self.python, "-m", "uvicorn", "--factory", SCORING_APP, "--host", "127.0.0.1",
            "--port", str(self.port), "--no-access-log", "--timeout-graceful-shutdown", "2",
        ]  # fmt: skip

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        config_file = self.folder / "config.json"
        write_config(config_file, **self._config)
        self.port = _free_port()
        env = {**os.environ, CONFIG_ENV: str(config_file), "PYTHONUNBUFFERED": "1"}
        with self.log_file.open("ab") as log:
            # Its own process group: stop() ends uvicorn and anything it spawned, nothing else.
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.folder,
                start_new_session=True,
            )
        self.started_at = time.monotonic()
        with _LIVE_LOCK:
            _LIVE.add(self)

    def state(self) -> ScorerState:
        """Ready once GET /ping (with the primary key) answers 200; Failed if it exited."""
        process = self._process
        if self.error is not None or process is None:
            return "Failed"
        code = process.poll()
        if code is not None:
            self.error = f"The scoring service exited with code {code}: " + " | ".join(
                self.log_lines(5)
            )
            return "Failed"
        if self._ping():
            return "Ready"
        if time.monotonic() - self.started_at > START_TIMEOUT_S:
            self.error = f"The scoring service did not answer /ping in {START_TIMEOUT_S:.0f} s."
            self.stop()
            return "Failed"
        return "Starting"

    def _ping(self) -> bool:
        key = json.loads(self.keys_file.read_text())["primaryKey"]
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1.0)
        try:
            conn.request("GET", "/ping", headers={"Authorization": f"Bearer {key}"})
            return conn.getresponse().status == 200
        except (OSError, http.client.HTTPException):
            return False
        finally:
            conn.close()

    def log_lines(self, tail: int | None = None) -> list[str]:
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return []
        return lines if tail is None else lines[-tail:] if tail > 0 else []

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        process = self._process
        with _LIVE_LOCK:
            _LIVE.discard(self)
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        except ProcessLookupError:
            pass


def stop_all() -> None:
    with _LIVE_LOCK:
        scorers = list(_LIVE)
    for scorer in scorers:
        scorer.stop()


atexit.register(stop_all)
