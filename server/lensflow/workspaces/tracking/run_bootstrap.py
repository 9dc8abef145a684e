"""Runs one training script as a tracked MLflow run, inside the child process.

This file is executed by path with the *training* interpreter (the user's venv), so it imports
nothing from Lensflow: only the standard library and mlflow, which the script needs anyway.
Importing mlflow here, once, is what lets a tracked run cost about the same as `python train.py`.

    python -u run_bootstrap.py SCRIPT [ARGS...]

Environment (set by the server): MLFLOW_TRACKING_URI, LENSFLOW_CONTROL_FD (a pipe for JSON-line
events), LENSFLOW_EXPERIMENT_NAME, LENSFLOW_ARTIFACT_ROOT, LENSFLOW_RUN_NAME, LENSFLOW_SCRIPT.

Events: {"event": "started", runId, experimentId, experimentName, artifactUri}, then
{"event": "ended", status, exitCode, params, metrics, artifacts}; or {"event": "error", message}.
Their types are in events.py beside this file; tests/unit/test_bootstrap_events.py holds the two
in step, as this file cannot import them.
"""

from __future__ import annotations

import contextlib
import json
import os
import runpy
import shutil
import signal
import sys
import tempfile
import traceback
from typing import Any, TextIO


class _Terminated(BaseException):
    """Raised in the script's thread on SIGTERM, so `with mlflow.start_run()` unwinds."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _load(relative: str) -> Any:
    """A stdlib-only file of Lensflow's, by its path from this one: the package is not here."""
    from importlib.util import module_from_spec, spec_from_file_location

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), relative)
    spec = spec_from_file_location(f"_lensflow_{os.path.basename(path)[:-3]}", path)
    assert spec is not None and spec.loader is not None
    module = module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _process_tag() -> dict[str, str]:
    """Who runs the run (host, boot, pid namespace, pid, start time), so a later Lensflow can
    tell this process is gone if nothing recorded the run's end (SIGKILL, a machine restart)."""
    try:
        with open("/proc/self/stat", encoding="utf-8", errors="replace") as stat:
            start = int(stat.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            boot_id = boot.read().strip()
        pid_ns = os.readlink("/proc/self/ns/pid")
    except (OSError, ValueError, IndexError):  # not Linux: nothing to check against later
        return {}
    info = {"host": os.uname().nodename, "bootId": boot_id, "pidNs": pid_ns}
    return {"lensflow.process": json.dumps({**info, "pid": os.getpid(), "start": start})}


def _emit(control: TextIO, event: str, **fields: Any) -> None:
    with contextlib.suppress(OSError):  # the server is gone: the store still has the whole run
        control.write(json.dumps({"event": event, **fields}) + "\n")
        control.flush()


def _list_artifacts(client: Any, run_id: str, path: str | None = None) -> list[str]:
    found: list[str] = []
    for info in client.list_artifacts(run_id, path):
        if info.is_dir:
            found += _list_artifacts(client, run_id, info.path)
        else:
            found.append(info.path)
    return found


# Without it MLflow 3's UI takes an experiment for GenAI and opens it on traces, not runs.
_KIND = ("mlflow.experimentKind", "custom_model_development")


def _experiment_id(client: Any, name: str, artifact_root: str | None) -> str:
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.lifecycle_stage == "deleted":
            client.restore_experiment(experiment.experiment_id)
        if _KIND[0] not in (experiment.tags or {}):
            try:  # an experiment made before Lensflow set the kind, or by the script itself
                client.set_experiment_tag(experiment.experiment_id, *_KIND)
            except Exception as exc:  # a store that refuses tags still runs the script
                print(f"lensflow: experiment kind not set: {exc}", file=sys.stderr)
        return str(experiment.experiment_id)
    location = os.path.join(artifact_root, _folder_name(name)) if artifact_root else None
    return str(client.create_experiment(name, artifact_location=location, tags=dict([_KIND])))


def _folder_name(name: str) -> str:
    """A folder name for any experiment name MLflow takes, always one level inside the root:
    ".." and "." escaped it, and 256 characters were too long for a file name. A name that
    is already safe keeps its folder; another gets a short hash, so two never share one."""
    safe = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in name)
    safe = safe.lstrip(".")[:64]
    if safe == name:
        return safe
    import hashlib

    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:12]
    return f"{safe}-{digest}" if safe else f"experiment-{digest}"


def _pin_experiment(mlflow: Any, name: str, pinned_id: str) -> None:
    """Keeps the script's own set_experiment() on the run's experiment.

    Otherwise its start_run() refuses to resume our run ("experiment ID does not match"),
    e.g. when the caller chose experimentName or the script computes the name.
    """
    original = mlflow.set_experiment

    def set_experiment(experiment_name: Any = None, experiment_id: Any = None, **kw: Any) -> Any:
        asked = experiment_name if experiment_name is not None else experiment_id
        if asked is not None and str(asked) not in (name, pinned_id):
            print(
                f"lensflow: set_experiment({asked!r}) redirected: "
                f"this run is tracked in experiment {name!r}",
                file=sys.stderr,
            )
        return original(experiment_id=pinned_id)

    mlflow.set_experiment = set_experiment
    mlflow.tracking.fluent.set_experiment = set_experiment


def _run_notebook(script: str, work_dir: str, experiment: tuple[str, str]) -> tuple[str, int]:
    """A notebook's cells, in a kernel of this interpreter (`run_notebook.py`, beside us)."""
    here = os.path.abspath(__file__)
    module = _load("run_notebook.py")
    # The kernel inherits these: its own start_run() resumes our run, in our experiment.
    os.environ["MLFLOW_EXPERIMENT_ID"] = experiment[1]
    status, code = module.run(script, work_dir, here, experiment)
    return str(status), int(code)


def _run_script(
    script: str, args: list[str], work_dir: str, experiment: tuple[str, str]
) -> tuple[str, int]:
    sys.argv = [script, *args]
    try:
        if script.endswith(".ipynb"):
            return _run_notebook(script, work_dir, experiment)
        runpy.run_path(script, run_name="__main__")
    except _Terminated:
        print("lensflow: run cancelled", file=sys.stderr)
        return "KILLED", -signal.SIGTERM
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if code != 0 and exc.code is not None and not isinstance(exc.code, int):
            print(exc.code, file=sys.stderr)
        return ("FINISHED" if code == 0 else "FAILED"), code
    except BaseException:
        traceback.print_exc()
        return "FAILED", 1
    return "FINISHED", 0


def _use_tracking_token() -> None:
    """An azureml:// store signs with the server's token: azureml_token.py, beside this file."""
    if os.environ.get("MLFLOW_TRACKING_URI", "").startswith("azureml://"):
        here = os.path.dirname(os.path.abspath(__file__))
        runpy.run_path(os.path.join(here, "azureml_token.py"))["use_tracking_token"]()


def main() -> int:
    control = os.fdopen(int(os.environ.pop("LENSFLOW_CONTROL_FD")), "w", encoding="utf-8")
    script, args = os.path.abspath(sys.argv[1]), sys.argv[2:]
    # As `python script.py` would have it, and before any import: this file's own folder holds
    # lensflow's `azureml` package, which would shadow the real one (azureml-mlflow's plugin).
    sys.path[0] = os.path.dirname(script)
    experiment_name = os.environ.pop("LENSFLOW_EXPERIMENT_NAME")
    artifact_root = os.environ.pop("LENSFLOW_ARTIFACT_ROOT", None)
    run_name = os.environ.pop("LENSFLOW_RUN_NAME", None) or None
    script_tag = os.environ.pop("LENSFLOW_SCRIPT", script)
    signal.signal(signal.SIGTERM, _on_sigterm)
    tree = _load(os.path.join("..", "..", "process_tree.py"))
    tree.die_with_parent()  # the server died, even by -9: the run ends KILLED, not orphaned
    tree.adopt_orphans()  # what the script starts stays our descendant, whatever its session

    try:
        import mlflow
        from mlflow.tracking import MlflowClient

        _use_tracking_token()
        client = MlflowClient()
        experiment_id = _experiment_id(client, experiment_name, artifact_root)
        run = client.create_run(
            experiment_id,
            run_name=run_name,
            tags={
                "mlflow.source.name": script,
                "mlflow.source.type": "LOCAL",
                "lensflow.script": script_tag,
                **_process_tag(),
            },
        )
    except _Terminated:
        _emit(control, "error", message="cancelled before the run started")
        return 3
    except Exception as exc:  # the store is unreachable or refuses us: say so, plainly
        _emit(control, "error", message=f"{type(exc).__name__}: {exc}")
        return 3

    run_id = run.info.run_id
    _pin_experiment(mlflow, experiment_name, experiment_id)
    # The script's own mlflow.start_run() resumes this run instead of starting another.
    os.environ["MLFLOW_RUN_ID"] = run_id
    _emit(
        control,
        "started",
        runId=run_id,
        experimentId=experiment_id,
        experimentName=experiment_name,
        artifactUri=run.info.artifact_uri,
    )

    log_dir = tempfile.mkdtemp(prefix="lensflow-run-")
    log_path = os.path.join(log_dir, "std_log.txt")
    tee = _load("run_tee.py").Tee(log_path)
    status, exit_code = _run_script(script, args, log_dir, (experiment_name, experiment_id))
    # Finishing must not be cut short by a second SIGTERM; the server's SIGKILL still can.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # A run leaves nothing running, ended or cancelled: what the script started ends with it, in
    # our group (we ignore SIGTERM now) and in sessions of its own (adopted: our descendants).
    if os.getpgid(0) == os.getpid():
        with contextlib.suppress(OSError):
            os.killpg(0, signal.SIGTERM)
    tree.end_descendants(os.getpid(), grace=1.0)
    tee.close()

    if mlflow.active_run() is not None:
        mlflow.end_run(status)
    client.log_artifact(run_id, log_path, "outputs")
    executed = os.path.join(log_dir, os.path.basename(script))
    if script.endswith(".ipynb") and os.path.isfile(executed):
        client.log_artifact(run_id, executed, "outputs")  # the notebook with its outputs
    client.set_terminated(run_id, status)
    shutil.rmtree(log_dir, ignore_errors=True)
    data = client.get_run(run_id).data
    _emit(
        control,
        "ended",
        status=status,
        exitCode=exit_code,
        params=dict(data.params),
        metrics={key: float(value) for key, value in data.metrics.items()},
        artifacts=sorted(_list_artifacts(client, run_id)),
    )
    with contextlib.suppress(OSError):
        control.close()
    return 0 if status == "FINISHED" else (exit_code or 1)


if __name__ == "__main__":
    sys.exit(main())
