"""MLflow's own tools on a workspace's store, each in a child process as a user would run them:
the Python API (`mlflow.pyfunc.load_model("models:/…")`), `mlflow artifacts download` and
`mlflow models serve`. Nothing here imports Lensflow."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MLFLOW = Path(sys.executable).with_name("mlflow")

PREDICT = """\
import json, sys
import numpy as np
import mlflow.pyfunc

uri, rows, dtype = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
model = mlflow.pyfunc.load_model(uri)
out = model.predict(np.asarray(rows, dtype=dtype))
if isinstance(out, dict):  # ONNX's pyfunc answers {output name: array}
    out = next(iter(out.values()))
out = np.asarray(out)
print(json.dumps({"dtype": str(out.dtype), "values": out.reshape(-1).tolist(),
                  "flavors": sorted(model.metadata.flavors)}))
"""


def store_env(project: Path) -> dict[str, str]:
    """The environment of a user in `project` pointing MLflow at its workspace's store."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{project / '.lensflow' / 'mlflow.db'}"
    # as in an activated venv: `mlflow models serve` execs `uvicorn` by name
    env["PATH"] = f"{MLFLOW.parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def pyfunc_predict(
    project: Path, uri: str, rows: list[list[float]], dtype: str = "float64"
) -> dict[str, Any]:
    """`mlflow.pyfunc.load_model(uri).predict(rows as dtype)`: {"dtype", "values", "flavors"}."""
    done = subprocess.run(
        [sys.executable, "-c", PREDICT, uri, json.dumps(rows), dtype],
        cwd=project, env=store_env(project), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def mlflow_cli(project: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(MLFLOW), *args], cwd=project, env=store_env(project), capture_output=True,
        text=True, timeout=timeout,
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def models_serve(project: Path, uri: str, log: Path) -> Iterator[str]:
    """`mlflow models serve -m uri --env-manager local` on 127.0.0.1; yields its base URL."""
    port = _free_port()
    argv = [str(MLFLOW), "models", "serve", "-m", uri, "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=project, env=store_env(project), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow models serve not ready in 120 s"
            try:
                with urllib.request.urlopen(f"{base}/ping", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def invocations(base: str, rows: list[list[float]]) -> list[float]:
    request = urllib.request.Request(
        f"{base}/invocations", data=json.dumps({"inputs": rows}).encode(),
        headers={"Content-Type": "application/json"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=30) as answer:
        predictions = json.load(answer)["predictions"]
    flat: list[float] = [float(v[0]) if isinstance(v, list) else float(v) for v in predictions]
    return flat
