"""A real supervisord per cluster: its config quoting, RPC operations, launcher and shutdown."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lensflow.processes import pid_alive, pids_with_env, tail_file
from lensflow.workspaces.local.state import socket_for
from lensflow.workspaces.local.supervisor import Program, Supervisor

from .conftest import SEEN, processes_of

LAUNCHER = Path(__file__).resolve().parents[2] / "server/lensflow/workspaces/local/supervisor.py"


def wait_for(check, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {check}")


@pytest.fixture
def supervisor(home: Path) -> Iterator[Supervisor]:
    folder = home / "clusters" / "c1"
    folder.mkdir(parents=True)
    sup = Supervisor(folder, socket_for(folder))
    sup.write_conf("lensflow-c1")
    pid = sup.start()
    SEEN.append(pid)
    yield sup
    sup.shutdown()
    assert not pid_alive(pid)
    assert processes_of(home) == []


def test_start_alive_shutdown(supervisor: Supervisor) -> None:
    assert supervisor.alive()
    pid = supervisor.pid()
    assert pid is not None and pid_alive(pid)
    assert len(str(supervisor.sock)) < 100 and str(supervisor.sock).startswith("/tmp/lensflow-")
    assert supervisor.sock.parent.stat().st_mode & 0o777 == 0o700
    assert supervisor.start() == pid  # starting twice keeps the running one
    supervisor.shutdown()
    assert not supervisor.alive() and not pid_alive(pid)


def test_program_with_awkward_values(supervisor: Supervisor, home: Path) -> None:
    # Spaces, % signs, quotes and ` ;` / ` #` (inline comments to supervisor) survive the config.
    script = (
        "import json, os, sys, time; "
        "print(json.dumps({'argv': sys.argv[1:], 'cwd': os.getcwd(), 'env': os.environ['ODD']}),"
        " flush=True); time.sleep(60)"
    )
    args = ["a b", "", "50% ;x", "#y", "it's", '"q"']
    program = Program(
        name="odd",
        command=[sys.executable, "-c", script, *args],
        directory=supervisor.folder,
        log_file=supervisor.folder / "odd 5%.log",
        environment={"ODD": "v, a %(x)s l"},
    )
    supervisor.add_program(program)
    info = wait_for(lambda: (i := supervisor.info("odd")) and i["statename"] == "RUNNING" and i)
    assert pid_alive(info["pid"])
    line = wait_for(lambda: tail_file(program.log_file, 1))
    assert json.loads(line[0]) == {
        "argv": args, "cwd": str(supervisor.folder), "env": "v, a %(x)s l"
    }  # fmt: skip
    assert supervisor.tail("odd", 5) == line
    supervisor.remove_program("odd")
    assert supervisor.info("odd") is None
    assert not pid_alive(info["pid"])
    assert not (supervisor.folder / "programs" / "odd.conf").exists()
    supervisor.remove_program("odd")  # removing twice is fine


def test_unwritable_values_are_refused(supervisor: Supervisor) -> None:
    bad_envs = ["a\nb", "a ;b", "both ' and \"", "%(here)s"]
    for bad in [{"X": value} for value in bad_envs] + [{"1X": "a"}]:
        with pytest.raises(ValueError):
            Program("p", ["true"], supervisor.folder, supervisor.folder / "l", bad).conf()


def test_autorestart_and_launcher_reaps_orphans(supervisor: Supervisor) -> None:
    # The program forks a child (like a uvicorn worker); kill -9 of the parent orphans it.
    # supervisord restarts the program and the launcher kills the orphan before exec.
    script = (
        "import subprocess, sys, time; "
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); time.sleep(60)"
    )
    marker = f"LENSFLOW_TEST_MARK={supervisor.folder}"
    launcher = [sys.executable, str(LAUNCHER), "--reap-env", marker, "--"]
    program = Program(
        name="forks",
        command=[*launcher, sys.executable, "-c", script],
        directory=supervisor.folder,
        log_file=supervisor.folder / "forks.log",
        environment={"LENSFLOW_TEST_MARK": str(supervisor.folder)},
    )
    supervisor.add_program(program)
    first = wait_for(lambda: len(pids_with_env(marker)) == 2 and pids_with_env(marker))
    parent = supervisor.info("forks")["pid"]
    orphan = next(p for p in first if p != parent)
    os.kill(parent, signal.SIGKILL)
    wait_for(lambda: not pid_alive(orphan))  # reaped by the restarted launcher
    second = wait_for(lambda: (i := supervisor.info("forks")) and i["pid"] != parent and i)
    assert second["statename"] in ("STARTING", "RUNNING")
    assert "leftovers of an earlier run" in "\n".join(tail_file(program.log_file, 20))
