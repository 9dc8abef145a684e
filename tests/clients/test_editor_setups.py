"""The Neovim and Emacs set-ups (client-sample/editors), tried headless as a new user would:
open the training script, see the lenses (and, in Emacs, the code actions), track a run from
the editor's own command, and from the lens / code action, and see the lenses change.

Each trial is a script beside the set-up (neovim/try.lua, emacs/try.el) that writes what it saw
to a folder; these tests read it. Both editors come from Debian: `bash scripts/install-editors.sh`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, SAMPLE
from tests.reliability.test_tcp import Server
from tests.setup_jobs import wait_for

EDITORS = REPO / "client-sample" / "editors"
TRIAL_TIMEOUT_S = 180
MSE = 3424.8567
# The line of `with mlflow.start_run():` (where the Track run lens is) and of log_artifact.
LINES = SAMPLE.read_text(encoding="utf-8").splitlines()
TRACK = 1 + next(i for i, line in enumerate(LINES) if line.startswith("with mlflow.start_run"))
REGISTER = 1 + next(i for i, line in enumerate(LINES) if "mlflow.log_artifact(" in line)
INSTALL = "run `bash scripts/install-editors.sh` (Debian's neovim, emacs-nox and elpa-eglot)"

pytestmark = pytest.mark.slow


def editor(name: str) -> str:
    wait_for("system-packages")  # scripts/test.sh installs the editors in the background
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: {INSTALL}", pytrace=False)
    return path


def trial(cmd: list[str], tmp_path: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """Runs one editor on a copy of train.py; returns (its output folder, the project)."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(SAMPLE, project / "train.py")
    out = tmp_path / "out"
    proc = subprocess.run(
        [*cmd, str(project / "train.py")],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=TRIAL_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
        env={
            **os.environ,
            **env,
            "LENSFLOW_PYTHON": sys.executable,
            "LENSFLOW_TRIAL_OUT": str(out),
        },
    )
    if proc.returncode != 0 or (out / "error.txt").exists():
        seen = {
            name: read(out / name)
            for name in ("error.txt", "messages.txt", "output.txt")
            if (out / name).exists()
        }
        pytest.fail(
            f"{cmd[0]} exited {proc.returncode}\n{seen}\n"
            f"stdout: {proc.stdout[-3000:]}\nstderr: {proc.stderr[-3000:]}",
            pytrace=False,
        )
    return out, project


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def result(path: Path) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(read(path))
    return value


def last_run_lens(lenses: list[str]) -> bool:
    return any(t.startswith(f"line {TRACK}: Last run: ✓ FINISHED · mse=3424.86") for t in lenses)


def assert_finished(run: dict[str, Any]) -> None:
    assert run["status"] == "FINISHED", run
    assert run["metrics"]["mse"] == pytest.approx(MSE, rel=1e-6)
    assert "model.pkl" in run["artifacts"]


@pytest.fixture(params=["stdio", "tcp"])
def transport(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    """The trial's environment: nothing (a server over stdio), or a `lensflow --tcp` server's
    address and token file, which the set-up reads the token from."""
    if request.param == "stdio":
        yield {}
        return
    token_file = tmp_path / "state" / "tcp-token"
    server = Server(tmp_path, token_file, log=tmp_path / "server.log")
    try:
        yield {"LENSFLOW_TRIAL_TCP": f"127.0.0.1:{server.port}",
               "LENSFLOW_TRIAL_TOKEN_FILE": str(token_file)}  # fmt: skip
        # The editor's client was served (the trial passed), and its leaving ends the server.
        assert server.proc.wait(30) == 0, read(server.log)[-3000:]
        log = read(server.log)
        assert "serving the TCP client" in log and "refused" not in log, log[-3000:]
        assert read(token_file).strip() not in log
    finally:
        server.stop()


def test_neovim_lenses_and_track_run(tmp_path: Path, transport: dict[str, str]) -> None:
    nvim = editor("nvim")
    state = tmp_path / "xdg"  # the user's own Neovim state, logs and shada stay untouched
    env = {f"XDG_{kind}_HOME": str(state / kind.lower()) for kind in ("CONFIG", "DATA", "STATE")}
    env["XDG_CACHE_HOME"] = str(state / "cache")
    env.update(transport)
    out, _ = trial(
        [nvim, "--headless", "-i", "NONE", "-u", str(EDITORS / "neovim" / "try.lua")],
        tmp_path,
        env,
    )

    lenses = read(out / "lenses.txt").splitlines()
    assert f"line {TRACK}: ▶ Track run" in lenses, lenses
    assert f"line {TRACK}: No runs yet" in lenses, lenses
    assert_finished(result(out / "result.json"))
    # The "▶ Track run" lens, run with the lens key (vim.lsp.codelens.run).
    assert_finished(result(out / "lens-result.json"))
    after = read(out / "lenses-after.txt").splitlines()
    assert last_run_lens(after), after
    assert f"line {REGISTER}: Register model train_model" in after, after
    output = read(out / "output.txt")
    assert "| Mean Squared Error is 3424.856" in output, output
    assert "FINISHED" in read(out / "messages.txt")


def test_emacs_code_actions_lenses_and_track_run(tmp_path: Path, transport: dict[str, str]) -> None:
    emacs = editor("emacs")
    probe = subprocess.run(
        [emacs, "--batch", "--eval", "(progn (package-initialize) (require 'eglot))"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    if probe.returncode != 0:
        pytest.fail(f"this Emacs has no eglot: {INSTALL}\n{probe.stderr[-1000:]}", pytrace=False)
    out, project = trial(
        [emacs, "--batch", "-l", str(EDITORS / "emacs" / "try.el")],
        tmp_path,
        transport,
    )

    actions = read(out / "code-actions.txt").splitlines()
    assert "Lensflow: Track run" in actions, actions
    lenses = read(out / "lenses.txt").splitlines()
    assert f"line {TRACK}: ▶ Track run" in lenses, lenses
    assert_finished(result(out / "result.json"))
    # "Lensflow: Track run" picked from eglot-code-actions' menu.
    assert_finished(result(out / "action-result.json"))
    after = read(out / "lenses-after.txt").splitlines()
    assert last_run_lens(after), after
    actions_after = read(out / "code-actions-after.txt").splitlines()
    assert "Lensflow: Register model train_model (model.pkl)" in actions_after, actions_after
    # The initializationOptions survive eglot's empty workspace/didChangeConfiguration.
    workspace = result(out / "workspace.json")
    assert workspace["home"] == str(project / ".lensflow-emacs"), workspace
    assert "Mean Squared Error is 3424.856" in read(out / "output.txt")
