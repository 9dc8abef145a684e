"""Scoring: /score throughput and latency vs `mlflow models serve`; Onnx vs ScikitLearn; start-up.

All servers run on 127.0.0.1 with one worker and no access log, started by the same interpreter,
each in its own process group. Load comes from `wrk` (one thread, 8 keep-alive connections,
a Lua script for the POST body and exact percentiles) when it is on PATH, else from a bounded
asyncio generator in this file. Rounds alternate between the servers.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import PYTHON, Figure, median, ratio

CONNECTIONS = 8
WARMUP_S = 2.0
ROUND_S = 5.0
ROUNDS = 2  # per server: 2 × 5 s = 10 s of load each
STARTS = 3
RPS_RATIO_TARGET = 3.0
P99_TARGET_MS = 10.0
HEALTHY_TARGET_S = 3.0
BIN = Path(PYTHON).parent


@dataclass
class Server:
    name: str
    port: int
    proc: subprocess.Popen[bytes]
    path: str
    body: bytes
    headers: dict[str, str]

    def post(self) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            conn.request("POST", self.path, body=self.body, headers=self.headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _models(folder: Path) -> tuple[Any, Any]:
    """The seed's Ridge as model.pkl, model.onnx and an MLflow model folder; and X_test."""
    import joblib
    import mlflow.sklearn
    import numpy as np
    from skl2onnx import to_onnx
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0)
    ridge = Ridge(alpha=0.03).fit(x_train, y_train)
    joblib.dump(ridge, folder / "model.pkl")
    onnx_model = to_onnx(ridge, x_train[:1].astype(np.float32), target_opset=17)
    (folder / "model.onnx").write_bytes(onnx_model.SerializeToString())
    mlflow.sklearn.save_model(ridge, str(folder / "mlflow_model"))
    return ridge, x_test


def _spawn(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        # Own process group: mlflow's CLI starts uvicorn as a child; stopping kills both.
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            env={**os.environ, **(env or {})},
        )  # fmt: skip


def _ours(
    folder: Path, framework: str, model: Path, port: int, workers: int = 1
) -> subprocess.Popen[bytes]:
    from lensflow.scoring.config import CONFIG_ENV, write_config, write_keys
    from lensflow.scoring.serving import uvicorn_command

    service = folder / f"svc-{framework}-{port}"
    service.mkdir()
    write_keys(service / "keys.json")
    write_config(
        service / "config.json", serviceName="bench", modelName="ridge", modelVersion=1,
        framework=framework, modelPath=str(model), authEnabled=True,
        keysFile=str(service / "keys.json"),
    )  # fmt: skip
    # The command a deployed service runs (lensflow.scoring.serving), with no copy here.
    argv = uvicorn_command(PYTHON, port, workers)
    return _spawn(argv, service / "service.log", {CONFIG_ENV: str(service / "config.json")})


def _our_server(
    folder: Path, name: str, framework: str, model: Path, body: bytes, workers: int = 1
) -> Server:
    """Our service, started (not yet ready), with its key in the headers of its load."""
    port = _free_port()
    proc = _ours(folder, framework, model, port, workers)
    key = json.loads((folder / f"svc-{framework}-{port}" / "keys.json").read_text())["primaryKey"]
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
    return Server(name, port, proc, "/score", body, headers)


def _peer_server(folder: Path, body: bytes, workers: int = 1) -> Server:
    """`mlflow models serve`, started (not yet ready), with the equivalent /invocations body."""
    port = _free_port()
    proc = _mlflow(folder, port, workers)
    return Server("mlflow", port, proc, "/invocations", body, {"Content-Type": "application/json"})


def _mlflow(folder: Path, port: int, workers: int = 1) -> subprocess.Popen[bytes]:
    argv = [str(BIN / "mlflow"), "models", "serve", "-m", str(folder / "mlflow_model"),
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port),
            "-w", str(workers)]  # fmt: skip
    # mlflow runs `uvicorn` from PATH; its access log is switched off like ours (uvicorn reads
    # UVICORN_* variables), so both servers do the same work per request.
    env = {"PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "UVICORN_ACCESS_LOG": "false"}
    return _spawn(argv, folder / f"mlflow-{port}.log", env)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            time.sleep(0.1)  # let the group's other members (mlflow's uvicorn) go too
            os.killpg(proc.pid, 0)
        except subprocess.TimeoutExpired:
            continue
        except ProcessLookupError:
            return


def _wait_ping(proc: subprocess.Popen[bytes], port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/ping")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            conn.close()
        time.sleep(0.01)
    raise RuntimeError(f"server on port {port} not ready in {timeout} s")


def _startup(folder: Path, start: Any) -> float:
    """Seconds from spawn to the first 200 on /ping."""
    port = _free_port()
    t0 = time.perf_counter()
    proc = start(port)
    try:
        _wait_ping(proc, port)
        return time.perf_counter() - t0
    finally:
        _stop(proc)


LUA_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %d, "duration_us": %d, "p50_us": %f, '
    .. '"p99_us": %f, "errors": %d}\\n', summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"""


def _wrk(server: Server, seconds: float, folder: Path, connections: int = CONNECTIONS) -> Load:
    script = folder / f"{server.name}.lua"
    lines = ['wrk.method = "POST"', f"wrk.body = [==[{server.body.decode()}]==]"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in server.headers.items()]
    script.write_text("\n".join(lines) + "\n" + LUA_DONE)
    url = f"http://127.0.0.1:{server.port}{server.path}"
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{seconds:.0f}s", "--timeout", "5s", "-s",
            str(script), url]  # fmt: skip
    out = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 30, check=True)
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line.removeprefix("RESULT "))
    return Load(
        result["requests"], result["duration_us"] / 1e6, result["p50_us"] / 1000,
        result["p99_us"] / 1000, result["errors"],
    )  # fmt: skip


async def _asyncio_load(server: Server, seconds: float, connections: int = CONNECTIONS) -> Load:
    """The fallback load generator: keep-alive connections, one request in flight on each."""
    head = (
        f"POST {server.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(server.body)}\r\n"
    )
    head += "".join(f"{k}: {v}\r\n" for k, v in server.headers.items())
    request = head.encode() + b"\r\n" + server.body
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                writer.write(request)
                header = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in header.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))  # fmt: skip
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                errors += not header.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(connection() for _ in range(connections))), seconds + 30
    )
    latencies.sort()
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return Load(len(latencies), time.perf_counter() - started, pick(0.5), pick(0.99), errors)


def _load(server: Server, seconds: float, folder: Path, connections: int = CONNECTIONS) -> Load:
    if shutil.which("wrk"):
        return _wrk(server, seconds, folder, connections)
    return asyncio.run(_asyncio_load(server, seconds, connections))


def _merge(loads: list[Load]) -> Load:
    """Rounds together: total requests over total time; median p50; worst p99."""
    return Load(
        sum(x.requests for x in loads), sum(x.seconds for x in loads),
        median([x.p50_ms for x in loads]), max(x.p99_ms for x in loads),
        sum(x.errors for x in loads),
    )  # fmt: skip


def _predict_us(ridge: Any, rows: Any) -> float:
    """The model's own predict on the 2-row batch, in-process: the floor of any server."""
    samples = []
    for _ in range(2000):
        t0 = time.perf_counter()
        ridge.predict(rows)
        samples.append(time.perf_counter() - t0)
    return median(samples) * 1e6


def _close(got: list[float], want: list[float], rtol: float) -> bool:
    pairs = zip(got, want, strict=True)
    return len(got) == len(want) and all(abs(a - b) <= rtol * abs(b) for a, b in pairs)


def run() -> dict[str, Figure]:
    folder = Path(tempfile.mkdtemp(prefix="lensflow-bench-scoring-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        return _run(folder, procs)
    finally:
        for proc in procs:
            _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


def _run(folder: Path, procs: list[subprocess.Popen[bytes]]) -> dict[str, Figure]:
    ridge, x_test = _models(folder)
    rows = x_test[:2]
    pkl, onnx = folder / "model.pkl", folder / "model.onnx"

    # Start-up, alternating, one unmeasured warm-up each (warm page cache for both).
    ours_start = lambda port: _ours(folder, "ScikitLearn", pkl, port)  # noqa: E731
    peer_start = lambda port: _mlflow(folder, port)  # noqa: E731
    _startup(folder, ours_start), _startup(folder, peer_start)
    ours_s, peer_s = [], []
    for _ in range(STARTS):
        ours_s.append(_startup(folder, ours_start))
        peer_s.append(_startup(folder, peer_start))

    # The three servers under load, all up at once; idle ones cost no CPU.
    servers = []
    data = json.dumps({"data": rows.tolist()}).encode()
    mlflow_body = json.dumps({"dataframe_split": {"data": rows.tolist()}}).encode()
    for name, framework, model in (("sklearn", "ScikitLearn", pkl), ("onnx", "Onnx", onnx)):
        servers.append(_our_server(folder, name, framework, model, data))
        procs.append(servers[-1].proc)
    servers.append(_peer_server(folder, mlflow_body))
    procs.append(servers[-1].proc)
    for server in servers:
        _wait_ping(server.proc, server.port)
    sklearn, onnx_server, peer = servers

    # Same answers first: ours is the model's own predict; mlflow's goes through pandas.
    status, ours_answer = sklearn.post()
    assert status == 200 and ours_answer == ridge.predict(rows).tolist(), ours_answer
    status, onnx_answer = onnx_server.post()
    assert status == 200 and _close(onnx_answer, ours_answer, 1e-4), onnx_answer
    status, peer_answer = peer.post()
    assert status == 200 and _close(peer_answer["predictions"], ours_answer, 1e-9), peer_answer

    for server in servers:
        _load(server, WARMUP_S, folder)
    loads: dict[str, list[Load]] = {server.name: [] for server in servers}
    for _ in range(ROUNDS):
        for server in servers:
            loads[server.name].append(_load(server, ROUND_S, folder))
    ours, theirs, onnx_load = (_merge(loads[n]) for n in ("sklearn", "mlflow", "onnx"))

    generator = "wrk -t1" if shutil.which("wrk") else "asyncio generator"
    load_note = (f"{generator}, {CONNECTIONS} connections, {ROUNDS}×{ROUND_S:.0f} s per server, "
                 f"alternating; errors ours={ours.errors} mlflow={theirs.errors}")  # fmt: skip
    rps_ratio = ratio(ours.rps, theirs.rps)
    peer_name = "mlflow models serve, POST /invocations"
    return {
        "score_rps": Figure(
            "POST /score, 2 rows, 1 worker (ScikitLearn)", round(ours.rps), "req/s",
            peer_name, round(theirs.rps), rps_ratio, f"≥ {RPS_RATIO_TARGET:.0f}× peer",
            rps_ratio >= RPS_RATIO_TARGET, load_note,
        ),
        "score_p50": Figure(
            "POST /score p50", ours.p50_ms, "ms", peer_name, theirs.p50_ms,
            ratio(ours.p50_ms, theirs.p50_ms),
        ),
        "score_p99": Figure(
            "POST /score p99", ours.p99_ms, "ms", peer_name, theirs.p99_ms,
            ratio(ours.p99_ms, theirs.p99_ms), f"≤ {P99_TARGET_MS:.0f} ms",
            ours.p99_ms <= P99_TARGET_MS, "worst round",
        ),
        "onnx_rps": Figure(
            "Onnx service req/s (same Ridge, skl2onnx)", round(onnx_load.rps), "req/s",
            "ScikitLearn service", round(ours.rps), ratio(onnx_load.rps, ours.rps),
            note=f"Onnx p50 {onnx_load.p50_ms:.2f} ms, p99 {onnx_load.p99_ms:.2f} ms; "
            f"errors {onnx_load.errors}",
        ),
        "startup": Figure(
            f"spawn → first /ping 200, median of {STARTS}", median(ours_s), "s",
            "mlflow models serve", median(peer_s), ratio(median(ours_s), median(peer_s)),
            f"info (deploy → Healthy ≤ {HEALTHY_TARGET_S:.0f} s)", None,
            f"ours max {max(ours_s):.2f} s; mlflow max {max(peer_s):.2f} s",
        ),
        "predict_in_process": Figure(
            "Ridge.predict in-process, 2 rows, median", _predict_us(ridge, rows), "µs",
            note="the model's own cost, the floor under any server's latency",
        ),
    }  # fmt: skip


if __name__ == "__main__":
    for key, figure in run().items():
        print(key, figure)
