"""One real supervisord per local cluster, driven over XML-RPC on its own unix socket.

Also runnable as a script (`python supervisor.py --reap-env NAME=VALUE -- argv…`): the launcher
of every supervised program. It kills what an earlier run of the same program left behind
(uvicorn workers orphaned by a `kill -9` of their master hold the port), waits the crash loop's
back-off if given `--back-off FOLDER` (`lensflow.crashloop`), joins the service's cgroups named
in that folder (`lensflow.scoring.cgroups`), and then execs argv. Only the standard library,
`lensflow.processes`, `lensflow.crashloop`, `lensflow.scoring.cgroups` (standard library only)
and `supervisor` are imported, so the launcher starts fast.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
import socket
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lensflow.crashloop import next_launch
from lensflow.processes import kill_pids, pid_alive, pids_with_env, tail_file, wait_gone

# Absolute, not relative: run by path this file has no package. `lensflow` is importable there
# all the same: the program the launcher execs (uvicorn serving lensflow.scoring) needs it too,
# from the same interpreter and environment.
from lensflow.scoring.cgroups import join_launcher

log = logging.getLogger(__name__)

UP_STATES = ("RUNNING", "STARTING", "BACKOFF", "EXITED")
"""supervisord's states of a program it runs, or will run again (autorestart)."""
_SAFE_ARG = re.compile(r"^[A-Za-z0-9_@+=:,./-]+$")


def _value(text: str, expansions: int = 1) -> str:
    """A literal ini value: supervisor expands %(x)s in values (log file names twice), cuts a
    value at ` ;` or ` #`, and replaces `%(here)s` before any escape applies."""
    bad = any(c in text for c in "\r\n\x00") or "%(here)s" in text or text != text.strip()
    if bad or re.search(r"\s[;#]", text):
        raise ValueError(f"cannot be written to a supervisor config: {text!r}")
    return text.replace("%", "%" * 2**expansions)


def _command(argv: Sequence[str]) -> str:
    # supervisor splits `command` with shlex (POSIX): escape every special character with a
    # backslash, which also keeps `;` and `#` from looking like an inline comment.
    def arg(a: str) -> str:
        return a if _SAFE_ARG.match(a) else re.sub(r"([^A-Za-z0-9_])", r"\\\1", a) or "''"

    return _value(" ".join(arg(a) for a in argv))


def _environment(env: Mapping[str, str]) -> str:
    # supervisor reads it with a non-POSIX shlex: quotes group, nothing escapes.
    pairs = []
    for key, val in env.items():
        quote = '"' if '"' not in val else "'"
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", key) or quote in val:
            raise ValueError(f"cannot pass {key}={val!r} through a supervisor config")
        pairs.append(f"{key}={quote}{val}{quote}")
    return _value(",".join(pairs))


@dataclass(frozen=True)
class Program:
    name: str
    command: Sequence[str]
    directory: Path
    log_file: Path
    environment: Mapping[str, str] = field(default_factory=dict)
    startsecs: int = 1
    startretries: int = 3
    stopwaitsecs: int = 10

    def conf(self) -> str:
        return "\n".join([
            f"[program:{self.name}]",
            f"command={_command(self.command)}",
            f"directory={_value(str(self.directory))}",
            f"environment={_environment(self.environment)}",
            "autostart=true",
            "autorestart=true",
            f"startsecs={self.startsecs}",
            f"startretries={self.startretries}",
            f"stopwaitsecs={self.stopwaitsecs}",
            "stopasgroup=true",  # uvicorn workers are children: signal the whole group
            "killasgroup=true",
            "redirect_stderr=true",
            f"stdout_logfile={_value(str(self.log_file), expansions=2)}",
            "stdout_logfile_maxbytes=10MB",
            "stdout_logfile_backups=2",
            "",
        ])  # fmt: skip


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.path)
        self.sock = sock


class Supervisor:
    """A supervisord with its state in `folder` and its RPC socket at `sock`."""

    def __init__(self, folder: Path, sock: Path) -> None:
        self.folder = folder
        self.sock = sock
        self.conf = folder / "supervisord.conf"
        self.pid_file = folder / "supervisord.pid"
        self.log_file = folder / "supervisord.log"

    def rpc(self, timeout: float = 5.0) -> Any:
        from supervisor.xmlrpc import SupervisorTransport  # type: ignore[import-untyped]

        transport = SupervisorTransport(None, None, f"unix://{self.sock}")
        # The stock transport has no timeout: a hung supervisord would hang the caller.
        transport._get_connection = lambda: _UnixConnection(str(self.sock), timeout)
        return xmlrpc.client.ServerProxy("http://localhost", transport=transport)

    def write_conf(self, identifier: str) -> None:
        (self.folder / "programs").mkdir(parents=True, exist_ok=True)
        self.conf.write_text("\n".join([
            "[unix_http_server]", f"file={_value(str(self.sock))}", "chmod=0700", "",
            "[supervisord]", f"logfile={_value(str(self.log_file))}",
            f"pidfile={_value(str(self.pid_file))}", f"childlogdir={_value(str(self.folder))}",
            f"identifier={identifier}", "logfile_maxbytes=5MB", "logfile_backups=1",
            "minfds=256", "minprocs=64", "",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface", "",
            # Relative to this file's folder, so a home with spaces in its path still works.
            "[include]", "files = programs/*.conf", "",
        ]))  # fmt: skip

    def start(self, timeout: float = 15.0) -> int:
        """Starts supervisord (it daemonizes) and waits until its RPC answers; returns its pid."""
        if self.alive():
            return self.pid() or 0
        self.sock.unlink(missing_ok=True)
        cmd = [sys.executable, "-m", "supervisor.supervisord", "-c", str(self.conf)]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        deadline = time.monotonic() + timeout
        while not self.alive():
            if done.returncode != 0 or time.monotonic() > deadline:
                why = (done.stderr or done.stdout).strip()
                why = why or "\n".join(tail_file(self.log_file, 20))
                raise RuntimeError(f"supervisord did not start: {why}")
            time.sleep(0.05)
        pid = self.pid() or 0
        log.info("supervisord %d serves %s", pid, self.folder)
        return pid

    def alive(self) -> bool:
        try:
            return bool(self.rpc(2.0).supervisor.getState()["statename"] == "RUNNING")
        except (OSError, xmlrpc.client.Error, http.client.HTTPException):
            return False

    def pid(self) -> int | None:
        """The supervisord pid from its pid file, if that process is still supervisord."""
        try:
            pid = int(self.pid_file.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if str(self.conf).encode() in cmdline and pid_alive(pid) else None

    def add_program(self, program: Program) -> None:
        (self.folder / "programs" / f"{program.name}.conf").write_text(program.conf())
        server = self.rpc(10.0).supervisor
        server.reloadConfig()
        try:
            server.addProcessGroup(program.name)
        except xmlrpc.client.Fault as fault:
            if "ALREADY_ADDED" not in fault.faultString:
                raise
            # A leftover of an interrupted clean-up: replace it with the new definition.
            self.remove_program(program.name, keep_conf=True)
            server.addProcessGroup(program.name)

    def remove_program(self, name: str, keep_conf: bool = False) -> None:
        server = self.rpc(30.0).supervisor
        for call in (server.stopProcessGroup, server.removeProcessGroup):
            try:
                call(name)
            except xmlrpc.client.Fault as fault:
                if "BAD_NAME" not in fault.faultString:
                    raise
        if not keep_conf:
            (self.folder / "programs" / f"{name}.conf").unlink(missing_ok=True)

    def info(self, name: str) -> dict[str, Any] | None:
        """supervisord's view of a program (statename, pid, …); None if it has no such program."""
        try:
            return dict(self.rpc(3.0).supervisor.getProcessInfo(name))
        except xmlrpc.client.Fault as fault:
            if "BAD_NAME" in fault.faultString:
                return None
            raise

    def tail(self, name: str, lines: int) -> list[str]:
        text = self.rpc(5.0).supervisor.tailProcessStdoutLog(name, 0, 200 * lines)[0]
        return str(text).splitlines()[-lines:]

    def shutdown(self, timeout: float = 15.0) -> None:
        """Stops every program, then supervisord; kills it if it will not go."""
        pid = self.pid()
        try:
            self.rpc(5.0).supervisor.shutdown()
        except (OSError, xmlrpc.client.Error, http.client.HTTPException) as exc:
            log.info("supervisord of %s did not take shutdown: %s", self.folder, exc)
        if pid is not None and not wait_gone([pid], timeout):
            log.warning("supervisord %d ignored shutdown: SIGKILL", pid)
            kill_pids([pid], grace=0)
        self.sock.unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """Launcher: `--reap-env NAME=VALUE [--back-off FOLDER] -- program args…`."""
    back_off = None
    if argv[3:4] and argv[2] == "--back-off":
        back_off, argv = Path(argv[3]), argv[:2] + argv[4:]
    if len(argv) < 4 or argv[0] != "--reap-env" or argv[2] != "--":
        print(
            "usage: supervisor.py --reap-env NAME=VALUE [--back-off FOLDER] -- program [args…]",
            file=sys.stderr,
        )
        return 2
    os.environ["PYTHONUNBUFFERED"] = "1"
    leftovers = [p for p in pids_with_env(argv[1]) if p != os.getppid()]
    if leftovers:
        print(f"lensflow: stopping leftovers of an earlier run: {leftovers}", file=sys.stderr)
        kill_pids(leftovers, grace=0)
    if back_off is not None:
        # Before the wait, the leftovers are gone: nothing answers on the port meanwhile.
        launch = next_launch(back_off)
        if launch.delay > 0:
            print(f"lensflow: crashed {launch.crashes} times in a row (CrashLoopBackOff): "
                  f"restarting in {launch.delay:.0f} s", file=sys.stderr)  # fmt: skip
            time.sleep(launch.delay)
        try:  # the service's cgroups, when its limits are enforced (lensflow.scoring.cgroups)
            join_launcher(back_off)
        except OSError as exc:
            print(f"lensflow: cannot join the service's cgroups: {exc}", file=sys.stderr)
            return 1
    os.execv(argv[3], argv[3:])


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
