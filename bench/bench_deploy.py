"""Deploy: `lensflow.deploy` → Healthy vs `mlflow models serve` spawn → first 200 on /ping.

Setup, not timed: a temporary workspace holding a copy of the sample train.py, one Lensflow
server over stdio, `trackRun` of train.py, `registerModel` of its model.pkl as diabetes_model,
and `createCluster` (its wall time is reported for information). The peer serves the same
Ridge (the seed's, trained here) saved with `mlflow.sklearn.save_model`.

Lensflow's figure is the time from sending `workspace/executeCommand` `lensflow.deploy` to its
reply (the command waits for Healthy); each reply is checked (Healthy, loopback URI, and one
/score call with the service's key answers the Ridge's own predictions), then the service is
cleaned up, untimed. The peer's is spawn → first 200 on `/ping`, then it is stopped, untimed.
One unmeasured warm-up of each, then they alternate. At the end `cleanUp {"all": true}` and
shutdown; every process that mentions this run's temporary folder (supervisord, uvicorn,
mlflow) is counted, then killed, whatever happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .common import PYTHON, SAMPLE_SCRIPT, Figure, median, ratio
from .rpc import RpcClient, initialize_params

ROUNDS = 5
HEALTHY_TARGET_S = 3.0
MODEL = "diabetes_model"
CLUSTER = "bench"
TIMEOUT_S = 120.0
BIN = Path(PYTHON).parent


# --- Lensflow ------------------------------------------------------------------------------
async def _execute(client: RpcClient, command: str, args: dict[str, Any] | None = None) -> Any:
    params = {"command": command, "arguments": [] if args is None else [args]}
    return await client.request("workspace/executeCommand", params, timeout=TIMEOUT_S)


async def _timed(
    client: RpcClient, command: str, args: dict[str, Any]
) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    result = await _execute(client, command, args)
    seconds = time.perf_counter() - started
    if not isinstance(result, dict):
        raise RuntimeError(f"{command} answered {result!r}")
    return seconds, result


async def _setup(client: RpcClient, root: Path) -> float:
    """Track a run, register its model, create the cluster; returns createCluster's seconds."""
    await client.request("initialize", initialize_params(root), timeout=30)
    client.notify("initialized", {})
    _, run = await _timed(client, "lensflow.trackRun", {"script": "train.py"})
    if run.get("status") != "FINISHED":
        raise RuntimeError(f"trackRun ended {run.get('status')!r}:\n{run.get('outputTail', '')}")
    registered = await _execute(
        client,
        "lensflow.registerModel",
        {"runId": run["runId"], "modelName": MODEL, "modelPath": "model.pkl"},
    )
    if registered.get("modelFramework") != "ScikitLearn":
        raise RuntimeError(f"registerModel answered {registered!r}")
    seconds, cluster = await _timed(
        client,
        "lensflow.createCluster",
        {"name": CLUSTER, "vmSize": "Standard_D3_v2", "clusterPurpose": "DevTest"},
    )
    if cluster.get("state") != "Succeeded":
        raise RuntimeError(f"createCluster answered {cluster!r}")
    return seconds


def _post_score(uri: str, key: str, rows: list[list[float]]) -> tuple[int, Any]:
    parts = urlsplit(uri)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        body = json.dumps({"data": rows})
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {key}"}
        conn.request("POST", parts.path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def _close(got: Any, want: list[float], rtol: float = 1e-9) -> bool:
    if not isinstance(got, list) or len(got) != len(want):
        return False
    return all(abs(a - b) <= rtol * abs(b) for a, b in zip(got, want, strict=True))


async def _deploy(
    client: RpcClient, name: str, rows: list[list[float]], want: list[float]
) -> tuple[float, float]:
    """Seconds from sending lensflow.deploy to its Healthy reply, then the cleanUp's seconds."""
    args = {"serviceName": name, "modelName": MODEL, "clusterName": CLUSTER}
    seconds, service = await _timed(client, "lensflow.deploy", args)
    if service.get("state") != "Healthy":
        raise RuntimeError(f"deploy {name} ended {service.get('state')!r}: {service.get('error')}")
    uri = str(service["scoringUri"])
    if urlsplit(uri).hostname != "127.0.0.1":
        raise RuntimeError(f"service {name} is not on loopback: {uri}")
    keys = await _execute(client, "lensflow.getServiceKeys", {"serviceName": name})
    status, answer = await asyncio.to_thread(_post_score, uri, keys["primaryKey"], rows)
    if status != 200 or not _close(answer, want):
        raise RuntimeError(f"POST {uri} answered {status}: {answer!r}; want {want}")
    cleanup_s, deleted = await _timed(client, "lensflow.cleanUp", {"serviceName": name})
    if deleted.get("deleted") != [{"kind": "service", "name": name}]:
        raise RuntimeError(f"cleanUp {name} answered {deleted!r}")
    return seconds, cleanup_s


# --- the peer: mlflow models serve ---------------------------------------------------------
def _ridge(folder: Path) -> tuple[list[list[float]], list[float]]:
    """The seed's Ridge saved as an MLflow model in `folder`; X_test[0:2] and its predictions."""
    import mlflow.sklearn
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import train_test_split

    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0)
    ridge = Ridge(alpha=0.03).fit(x_train, y_train)
    mlflow.sklearn.save_model(ridge, str(folder))
    rows = x_test[:2]
    return rows.tolist(), ridge.predict(rows).tolist()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group (mlflow's CLI and its uvicorn), then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:  # until the whole group has gone
                if proc.poll() is None:
                    time.sleep(0.05)
                    continue
                os.killpg(proc.pid, 0)
                time.sleep(0.05)
        except ProcessLookupError:
            return


def _ping(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


def _mlflow_serve(model: Path, log: Path) -> float:
    """Seconds from spawning `mlflow models serve` to its first 200 on /ping; then stops it."""
    port = _free_port()
    argv = [str(BIN / "mlflow"), "models", "serve", "-m", str(model), "--env-manager", "local",
            "-h", "127.0.0.1", "-p", str(port), "-w", "1"]  # fmt: skip
    # mlflow runs `uvicorn` from PATH: the venv's, as Lensflow's services use.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    with log.open("ab") as out:
        started = time.perf_counter()
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while not _ping(port):
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow models serve exited {proc.returncode}; see {log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"mlflow models serve not ready in {TIMEOUT_S:.0f} s")
            time.sleep(0.01)
        return time.perf_counter() - started
    finally:
        _stop(proc)


# --- processes this run started ------------------------------------------------------------
def _tagged(tag: str) -> list[int]:
    """Live processes whose command line, environment or cwd mention `tag` (our temp folder)."""
    wanted, found = tag.encode(), []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            pid = int(proc.name)
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
            if pid == os.getpid() or state in ("Z", "X"):  # a zombie has nothing left to kill
                continue
            if (
                wanted in (proc / "cmdline").read_bytes()
                or wanted in (proc / "environ").read_bytes()
                or os.readlink(proc / "cwd").startswith(tag)
            ):
                found.append(pid)
        except (OSError, ValueError, IndexError):
            continue
    return found


def _wait_tagged(tag: str, timeout: float) -> list[int]:
    """What still runs after `timeout` seconds (a stopping tree takes a moment to go)."""
    deadline = time.monotonic() + timeout
    while (left := _tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _kill_tagged(tag: str) -> list[int]:
    """SIGTERM, then SIGKILL, whatever still mentions `tag`; returns what it had to kill."""
    first = _tagged(tag)
    for sig, grace in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 2.0)):
        for pid in _tagged(tag):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        if not _wait_tagged(tag, grace):
            break
    return first


# --- the benchmark -------------------------------------------------------------------------
async def _run(tmp: Path) -> dict[str, Figure]:
    root, peer = tmp / "project", tmp / "peer"
    root.mkdir()
    peer.mkdir()
    shutil.copy(SAMPLE_SCRIPT, root / "train.py")
    model = peer / "mlflow_model"
    rows, want = await asyncio.to_thread(_ridge, model)
    log = peer / "mlflow.log"

    ours: list[float] = []
    cleanups: list[float] = []
    theirs: list[float] = []
    client = await RpcClient.spawn([PYTHON, "-m", "lensflow"], cwd=root)
    cleaned = False
    try:
        cluster_s = await _setup(client, root)
        # Warm-ups, unmeasured: the first service and the first mlflow start of the run.
        await _deploy(client, "bench-svc-0", rows, want)
        await asyncio.to_thread(_mlflow_serve, model, log)
        for i in range(1, ROUNDS + 1):
            for which in ("lensflow", "mlflow") if i % 2 else ("mlflow", "lensflow"):
                if which == "lensflow":
                    seconds, cleanup_s = await _deploy(client, f"bench-svc-{i}", rows, want)
                    ours.append(seconds)
                    cleanups.append(cleanup_s)
                else:
                    theirs.append(await asyncio.to_thread(_mlflow_serve, model, log))
        all_s, deleted = await _timed(client, "lensflow.cleanUp", {"all": True})
        cleaned = True
        if {"kind": "cluster", "name": CLUSTER} not in deleted.get("deleted", []):
            raise RuntimeError(f"cleanUp all answered {deleted!r}")
    finally:
        if not cleaned and client.proc.returncode is None:
            with contextlib.suppress(Exception):
                await _execute(client, "lensflow.cleanUp", {"all": True})
        await client.close()
    left = await asyncio.to_thread(_wait_tagged, str(tmp), 5.0)

    ours_med, theirs_med = median(ours), median(theirs)
    return {
        "deploy_healthy": Figure(
            "lensflow.deploy request → Healthy reply, median", ours_med, "s",
            "mlflow models serve spawn → first /ping 200", theirs_med,
            ratio(ours_med, theirs_med), f"≤ {HEALTHY_TARGET_S:.0f} s (every round)",
            max(ours) <= HEALTHY_TARGET_S,
            f"{ROUNDS} rounds each, alternating, after a warm-up of each; ours max "
            f"{max(ours):.2f} s, mlflow max {max(theirs):.2f} s; 1 worker each",
        ),
        "create_cluster": Figure(
            "lensflow.createCluster (Standard_D3_v2, DevTest) request → reply", cluster_s, "s",
            note="one supervisord started; information",
        ),
        "cleanup_service": Figure(
            "lensflow.cleanUp of one service, median", median(cleanups), "s",
            note=f"information; cleanUp all (the cluster) took {all_s:.2f} s",
        ),
        "leftovers": Figure(
            "processes left after cleanUp all + shutdown", len(left), "",
            target="0", ok=not left, note="supervisord, uvicorn, mlflow, store worker",
        ),
    }  # fmt: skip


def run() -> dict[str, Figure]:
    tmp = Path(tempfile.mkdtemp(prefix="lensflow-bench-deploy-"))
    try:
        return asyncio.run(_run(tmp))
    finally:
        killed = _kill_tagged(str(tmp))
        if killed:
            print(f"  bench_deploy: killed leftover processes {killed}", flush=True)
        with contextlib.suppress(ImportError, OSError):
            from lensflow.workspaces.local.state import socket_for

            # supervisord removes its socket on shutdown, but not when it had to be killed.
            socket_for(tmp / "project" / ".lensflow" / "clusters" / CLUSTER).unlink(missing_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    for key, figure in run().items():
        print(key, figure)
