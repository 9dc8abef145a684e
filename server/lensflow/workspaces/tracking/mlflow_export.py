"""Wraps a run's model artifact in an MLflow model folder where Lensflow can (a scikit-learn or
ONNX file, a TensorFlow SavedModel), in a child (`model_export.py`); other artifacts come back
as they are. The folder is made under a scratch folder, and logged into the run if asked.

The child runs with the training interpreter and the store's environment: it has mlflow and
the model's framework, which the language server never imports.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from lensflow_protocol.errors import InvalidPath, NotFound, StoreError

from ..interpreter import cannot_start, check_interpreter

EXPORT_SCRIPT = Path(__file__).with_name("model_export.py")
EXPORT_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class ExportedModel:
    path: Path
    """The folder made, or the artifact path it was logged at in the run (`logged`)."""
    flavor: str
    """mlflow (already an MLflow model), sklearn, onnx or tensorflow; "" for files kept as
    they are."""
    logged: bool = False


async def export_mlflow_model(
    python: str, run_id: str, artifact_path: str, framework: str, out: Path,
    env: dict[str, str] | None, log_as: str | None = None,
) -> ExportedModel:  # fmt: skip
    """The MLflow model folder made under `out` from the run's artifact; with `log_as`, also
    logged into the run at that artifact path."""
    request: dict[str, str] = {
        "runId": run_id, "artifactPath": artifact_path, "framework": framework,
    }  # fmt: skip
    if log_as is not None:
        request["logAs"] = log_as
    check_interpreter(python)
    try:
        proc = await asyncio.create_subprocess_exec(
            python, str(EXPORT_SCRIPT), json.dumps({**request, "out": str(out)}),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env,
        )  # fmt: skip
    except OSError as exc:
        raise cannot_start(python, exc) from None
    try:
        async with asyncio.timeout(EXPORT_TIMEOUT_S):
            stdout, stderr = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise StoreError(
            f"Making an MLflow model of {artifact_path} took more than {EXPORT_TIMEOUT_S:g} s."
        ) from None
    except asyncio.CancelledError:  # the command was cancelled: the child goes too
        proc.kill()
        await asyncio.shield(proc.wait())
        raise
    lines = stdout.decode(errors="replace").strip().splitlines()
    try:
        answer = json.loads(lines[-1]) if lines else {}
    except ValueError:
        answer = {}
    if isinstance(answer, dict) and isinstance(answer.get("path"), str):
        flavor, logged = str(answer.get("flavor", "")), answer.get("logged") is True
        return ExportedModel(Path(answer["path"]), flavor, logged)
    message = answer.get("error") if isinstance(answer, dict) else None
    if not message:
        tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
        message = " / ".join(tail) or f"the export exited with {proc.returncode}"
    if isinstance(answer, dict) and answer.get("notAModel") is True:
        raise InvalidPath(
            f"{message}. Pass the right modelFramework, or register the model's own file.",
            **request,
        )
    if "No such" in message or "not found" in message.lower():
        raise NotFound(f"Run {run_id} has no artifact {artifact_path!r}: {message}", **request)
    raise StoreError(f"Could not make an MLflow model of {artifact_path}: {message}", **request)
