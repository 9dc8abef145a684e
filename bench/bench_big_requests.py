"""Big requests: rows per second and peak memory of one POST of 10,000 / 100,000 / 1,000,000 rows
of the seed's 10 features, Lensflow's scoring app vs `mlflow models serve`.

Both servers run one worker on 127.0.0.1, started as bench_scoring starts them; ours with a
256 MiB body limit (maxRequestMb 256), so the 1,000,000 rows (about 215 MB) fit. A request is
timed from the first byte sent to the last byte read, over one fresh connection. Peak memory
is the server's VmHWM (its process tree's, for mlflow's CLI and uvicorn) after the request,
less its resident size before it, with the high-water mark reset in between (clear_refs 5):
what the request cost, as a multiple of the body; the worst of the repeats, after one
unmeasured request of the same size.
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from .bench_scoring import _free_port, _mlflow, _models, _spawn, _stop, _wait_ping
from .common import PYTHON, Figure, median, ratio

SIZES = (10_000, 100_000, 1_000_000)
REPEATS = {10_000: 5, 100_000: 3, 1_000_000: 2}
LIMIT_MB = 256
FLAT_TARGET = 0.9  # rows/s at 1,000,000 over rows/s at 10,000
MEMORY_TARGET = 2.0  # peak memory over the body


def _ours(folder: Path, model: Path, port: int) -> tuple[subprocess.Popen[bytes], str]:
    from lensflow.scoring.config import CONFIG_ENV, write_config, write_keys
    from lensflow.scoring.serving import uvicorn_command

    service = folder / f"svc-{port}"
    service.mkdir()
    key = write_keys(service / "keys.json")[0]
    write_config(
        service / "config.json", serviceName="bench", modelName="ridge", modelVersion=1,
        framework="ScikitLearn", modelPath=str(model), authEnabled=True,
        keysFile=str(service / "keys.json"), maxBodyBytes=LIMIT_MB << 20,
    )  # fmt: skip
    argv = uvicorn_command(PYTHON, port, 1)  # as a deployed service runs
    env = {CONFIG_ENV: str(service / "config.json")}
    return _spawn(argv, service / "service.log", env), key


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _status_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def _post(
    port: int, path: str, body: bytes, headers: dict[str, str], pid: int
) -> tuple[float, int, int, Any]:
    """(seconds, HTTP status, bytes of peak memory above the resident size before, answer)."""
    procs = _tree(pid)
    before = {p.pid: _status_kb(p.pid, "VmRSS") for p in procs}
    for p in procs:
        Path(f"/proc/{p.pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        t0 = time.perf_counter()
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        raw = response.read()
        seconds = time.perf_counter() - t0
    finally:
        conn.close()
    grown = max(_status_kb(p.pid, "VmHWM") - before[p.pid] for p in procs) << 10
    return seconds, response.status, grown, json.loads(raw)


def run() -> dict[str, Figure]:
    folder = Path(tempfile.mkdtemp(prefix="lensflow-bench-big-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        ridge, x_test = _models(folder)
        ours_port, peer_port = _free_port(), _free_port()
        ours, key = _ours(folder, folder / "model.pkl", ours_port)
        procs += [ours, _mlflow(folder, peer_port)]
        _wait_ping(ours, ours_port)
        _wait_ping(procs[1], peer_port)
        headers = {"Content-Type": "application/json"}
        figures: dict[str, Figure] = {}
        rates: dict[str, dict[int, float]] = {"ours": {}, "mlflow": {}}
        for n in SIZES:
            rows = [x_test[i % len(x_test)].tolist() for i in range(n)]
            expected = ridge.predict(rows).tolist()
            ours_body = json.dumps({"data": rows}).encode()
            peer_body = json.dumps({"dataframe_split": {"data": rows}}).encode()
            del rows
            auth = {**headers, "Authorization": f"Bearer {key}"}
            # One unmeasured request of this size each: the allocators' first growth is not
            # what a request of this size costs.
            _post(ours_port, "/score", ours_body, auth, ours.pid)
            _post(peer_port, "/invocations", peer_body, headers, procs[1].pid)
            samples: dict[str, list[tuple[float, int]]] = {"ours": [], "mlflow": []}
            for _ in range(REPEATS[n]):  # alternating, as bench_scoring's rounds
                s, status, grown, answer = _post(ours_port, "/score", ours_body, auth, ours.pid)
                assert status == 200 and answer == expected, (status, str(answer)[:200])
                samples["ours"].append((s, grown))
                s, status, grown, answer = _post(
                    peer_port, "/invocations", peer_body, headers, procs[1].pid
                )
                assert status == 200 and len(answer["predictions"]) == n, (status, answer)
                samples["mlflow"].append((s, grown))
            for name in samples:
                rates[name][n] = n / median([s for s, _ in samples[name]])
            ours_mem = max(g for _, g in samples["ours"]) / len(ours_body)
            peer_mem = max(g for _, g in samples["mlflow"]) / len(peer_body)
            figures[f"rows_per_s_{n}"] = Figure(
                f"POST /score of {n:,} rows ({len(ours_body) / 1e6:.0f} MB), median of "
                f"{REPEATS[n]}", round(rates["ours"][n]), "rows/s",
                "mlflow models serve, POST /invocations", round(rates["mlflow"][n]),
                ratio(rates["ours"][n], rates["mlflow"][n]),
                note=f"peak memory {ours_mem:.2f}× the body; mlflow {peer_mem:.2f}×",
            )  # fmt: skip
            figures[f"peak_memory_{n}"] = Figure(
                f"peak memory of {n:,} rows, over the body", ours_mem, "×",
                "mlflow models serve", peer_mem, ratio(ours_mem, peer_mem),
                f"< {MEMORY_TARGET:.0f}×", ours_mem < MEMORY_TARGET,
            )  # fmt: skip
        flat = ratio(rates["ours"][SIZES[-1]], rates["ours"][SIZES[0]])
        peer_flat = ratio(rates["mlflow"][SIZES[-1]], rates["mlflow"][SIZES[0]])
        figures["flatness"] = Figure(
            f"rows/s at {SIZES[-1]:,} rows over rows/s at {SIZES[0]:,}", flat, "×",
            "mlflow models serve", peer_flat, ratio(flat, peer_flat),
            f"≥ {FLAT_TARGET}", flat >= FLAT_TARGET,
        )  # fmt: skip
        return figures
    finally:
        for proc in procs:
            _stop(proc)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    for key, figure in run().items():
        print(key, figure)
