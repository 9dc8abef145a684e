"""Runs a Jupyter notebook, cell by cell, inside a tracked run's bootstrap process.

Loaded by path from `run_bootstrap.py` in the *training* interpreter, so it imports nothing from
Lensflow: the standard library here, nbclient, nbformat and jupyter_client (with ipykernel for
the kernel) when a notebook runs.

The kernel is that interpreter's own ipykernel (no kernelspec is looked up or installed); it
inherits the bootstrap's environment: MLFLOW_TRACKING_URI, MLFLOW_RUN_ID (the notebook's own
`mlflow.start_run()` resumes the run) and MLFLOW_EXPERIMENT_ID. A start-up file run by the kernel
before the first cell pins `mlflow.set_experiment` to the run's experiment, as the bootstrap does
in-process for a script; environment variables alone cannot, since an explicit
`set_experiment('other')` in a cell would win over them and the run would refuse to resume.

Each output is written to this process's stdout/stderr as it arrives (so it streams to the
editor and lands in std_log.txt); the executed notebook, outputs included, is saved in `work_dir`
under the notebook's own name. On any exception in the calling thread (SIGTERM, in practice)
the kernel's process group is killed at once.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
import threading
from typing import Any

MISSING = (
    "lensflow: running a notebook needs nbclient, nbformat and ipykernel in the training "
    "interpreter ({python}): install them there with `pip install 'lensflow[notebooks]'` "
    "(or `pip install nbclient nbformat ipykernel`). Missing: {missing}"
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_PIN = """\
def _lensflow_pin():
    import importlib.util
    spec = importlib.util.spec_from_file_location("_lensflow_bootstrap", {bootstrap!r})
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    import mlflow
    module._pin_experiment(mlflow, {name!r}, {experiment_id!r})
_lensflow_pin()
del _lensflow_pin
"""


def missing_packages() -> list[str]:
    """What this interpreter lacks to run a notebook (ipykernel only runs in the kernel)."""
    from importlib import import_module
    from importlib.util import find_spec

    missing = []
    for name in ("nbclient", "nbformat"):
        try:
            import_module(name)
        except ImportError:
            missing.append(name)
    return missing + (["ipykernel"] if find_spec("ipykernel") is None else [])


def _write(stream: str, text: str) -> None:
    out = sys.stderr if stream == "stderr" else sys.stdout
    if text:
        out.write(text if text.endswith("\n") else text + "\n")
        out.flush()


def _echo(msg: dict[str, Any]) -> None:
    """Writes one output message as a console would show it."""
    kind, content = msg["msg_type"], msg["content"]
    if kind == "stream":
        out = sys.stderr if content.get("name") == "stderr" else sys.stdout
        out.write(content.get("text", ""))
        out.flush()
    elif kind in ("execute_result", "display_data"):
        _write("stdout", content.get("data", {}).get("text/plain", ""))
    elif kind == "error":
        _write("stderr", _ANSI.sub("", "\n".join(content.get("traceback", []))))


def _client(nb: Any, folder: str, work_dir: str, startup: str | None) -> Any:
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from nbclient import NotebookClient

    class InterpreterKernels(KernelSpecManager):
        """This interpreter's ipykernel, whatever kernelspecs the machine has installed."""

        def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
            argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
            return KernelSpec(argv=argv, display_name="Python 3 (ipykernel)", language="python")

    class EchoingClient(NotebookClient):
        def create_kernel_manager(self) -> Any:
            # IPC: the kernel's sockets are files in the run's own folder, not local TCP ports.
            self.km = AsyncKernelManager(
                kernel_name="python3",
                kernel_spec_manager=InterpreterKernels(),
                transport="ipc",
                ip=os.path.join(work_dir, "kernel"),
            )
            return self.km

        def output(self, outs: Any, msg: dict[str, Any], display_id: Any, index: int) -> Any:
            _echo(msg)
            return super().output(outs, msg, display_id, index)

    extra = [f"--IPKernelApp.exec_files={startup}"] if startup else []
    return EchoingClient(
        nb,
        kernel_name="python3",
        timeout=None,
        startup_timeout=120,
        extra_arguments=extra,
        resources={"metadata": {"path": folder}},
    )


def _kill_kernel(client: Any) -> None:
    km = getattr(client, "km", None)
    provisioner = getattr(km, "provisioner", None)
    pid = getattr(provisioner, "pgid", None) or getattr(provisioner, "pid", None)
    if pid:
        # The kernel runs in its own session (jupyter_client starts it so): kill that group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        process = getattr(provisioner, "process", None)
        if process is not None:
            with contextlib.suppress(Exception):
                process.wait(timeout=2)  # reaped: no zombie left behind
    connection_file = getattr(km, "connection_file", "")
    if connection_file:
        with contextlib.suppress(OSError):
            os.remove(connection_file)


def run(
    path: str, work_dir: str, bootstrap: str, experiment: tuple[str, str] | None
) -> tuple[str, int]:
    """Executes every cell in order; (status, exit code). Raises what interrupts it, after
    killing the kernel."""
    if missing := missing_packages():
        print(MISSING.format(python=sys.executable, missing=", ".join(missing)), file=sys.stderr)
        return "FAILED", 1
    import nbformat
    from nbclient.exceptions import CellExecutionError, DeadKernelError

    try:
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # not JSON, not a notebook, an unknown nbformat
        print(f"lensflow: cannot read {path} as a notebook: {exc}", file=sys.stderr)
        return "FAILED", 1
    startup = None
    uses_mlflow = any("mlflow" in cell.source for cell in nb.cells if cell.cell_type == "code")
    if experiment is not None and uses_mlflow:
        startup = os.path.join(work_dir, "lensflow_kernel_startup.py")
        name, experiment_id = experiment
        with open(startup, "w", encoding="utf-8") as file:
            file.write(_PIN.format(bootstrap=bootstrap, name=name, experiment_id=experiment_id))
    client = _client(nb, os.path.dirname(path), work_dir, startup)
    failure: list[BaseException] = []

    def execute() -> None:
        try:
            client.execute()
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=execute, name="notebook", daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(0.2)
    except BaseException:
        _kill_kernel(client)
        worker.join(1.0)
        _kill_kernel(client)  # one that was still starting when the signal came
        raise
    finally:
        with contextlib.suppress(Exception):
            nbformat.write(nb, os.path.join(work_dir, os.path.basename(path)))  # type: ignore[no-untyped-call]
    if not failure:
        return "FINISHED", 0
    error = failure[0]
    if isinstance(error, CellExecutionError):
        print(f"lensflow: the notebook stopped at a cell raising {error.ename}", file=sys.stderr)
    elif isinstance(error, DeadKernelError):
        print(f"lensflow: the notebook's kernel died: {error}", file=sys.stderr)
    else:
        print(f"lensflow: {type(error).__name__}: {error}", file=sys.stderr)
    _kill_kernel(client)
    return "FAILED", 1
