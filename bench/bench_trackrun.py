"""trackRun: `lensflow.trackRun` of train.py vs `python train.py` run directly.

One warm Lensflow server on a temporary workspace holding a copy of the sample train.py. The
Lensflow figure is the time from sending `workspace/executeCommand` to its reply; the peer is
the same script started directly (same interpreter, cwd the script's folder) with
MLFLOW_TRACKING_URI on the very SQLite store Lensflow uses. One unmeasured warm-up of each,
then the two alternate.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from .common import PYTHON, SAMPLE_SCRIPT, Figure, median, ratio
from .rpc import RpcClient, initialize_params

RUNS = 5
RATIO_TARGET = 1.10
TIMEOUT_S = 300.0


class RunFailed(RuntimeError):
    pass


async def _track(client: RpcClient) -> tuple[float, dict[str, Any]]:
    """Seconds from sending lensflow.trackRun to its reply, and the reply."""
    params = {"command": "lensflow.trackRun", "arguments": [{"script": "train.py"}]}
    started = time.perf_counter()
    result = await client.request("workspace/executeCommand", params, timeout=TIMEOUT_S)
    seconds = time.perf_counter() - started
    if not isinstance(result, dict) or result.get("status") != "FINISHED":
        status = result.get("status") if isinstance(result, dict) else result
        tail = result.get("outputTail", "") if isinstance(result, dict) else ""
        raise RunFailed(f"trackRun ended {status!r}:\n{tail}")
    return seconds, result


async def _direct(script: Path, tracking_uri: str) -> float:
    """Seconds to run `python train.py` to its end, output drained as Lensflow drains it."""
    env = dict(os.environ)
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        env.pop(name, None)
    env["MLFLOW_TRACKING_URI"] = tracking_uri
    started = time.perf_counter()
    proc = await asyncio.create_subprocess_exec(
        PYTHON,
        script.name,
        cwd=str(script.parent),
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        text = (out + err).decode("utf-8", errors="replace")[-2000:]
        raise RunFailed(f"python {script.name} exited {proc.returncode}:\n{text}")
    return seconds


async def _run() -> dict[str, Figure]:
    with tempfile.TemporaryDirectory(prefix="lensflow-bench-") as tmp:
        root = Path(tmp) / "project"
        root.mkdir()
        script = root / "train.py"
        shutil.copy(SAMPLE_SCRIPT, script)
        tracking_uri = f"sqlite:///{root / '.lensflow' / 'mlflow.db'}"

        client = await RpcClient.spawn([PYTHON, "-m", "lensflow"], cwd=root)
        try:
            await client.request("initialize", initialize_params(root), timeout=30)
            client.notify("initialized", {})
            # Warm-ups: the server's first run makes the store and the experiment.
            await _track(client)
            await _direct(script, tracking_uri)
            lensflow: list[float] = []
            child: list[float] = []
            direct: list[float] = []
            for i in range(RUNS):
                for which in ("lensflow", "direct") if i % 2 == 0 else ("direct", "lensflow"):
                    if which == "lensflow":
                        seconds, result = await _track(client)
                        lensflow.append(seconds)
                        child.append(float(result.get("durationS", 0.0)))
                    else:
                        direct.append(await _direct(script, tracking_uri))
        finally:
            await client.close()

    lf_med, direct_med, child_med = median(lensflow), median(direct), median(child)
    run_ratio = ratio(lf_med, direct_med)
    return {
        "trackrun_median": Figure(
            "lensflow.trackRun(train.py) request → reply, median",
            lf_med,
            "s",
            peer="python train.py (same store)",
            peer_value=direct_med,
            ratio=run_ratio,
            target=f"ratio ≤ {RATIO_TARGET}",
            ok=run_ratio <= RATIO_TARGET,
            note=f"{RUNS} runs each, alternating, after a warm-up of each",
        ),
        "trackrun_child_median": Figure(
            "trackRun's own durationS (bootstrap child, spawn → exit), median",
            child_med,
            "s",
            peer="python train.py (same store)",
            peer_value=direct_med,
            ratio=ratio(child_med, direct_med),
            note=f"server-side overhead outside the child: {lf_med - child_med:.3f} s",
        ),
    }


def run() -> dict[str, Figure]:
    return asyncio.run(_run())


if __name__ == "__main__":
    for key, figure in run().items():
        print(key, figure)
