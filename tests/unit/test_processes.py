"""lensflow.processes for real: process groups that ignore SIGTERM, /proc, log tails and ports."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from lensflow.processes import (
    boot_id,
    free_port,
    group_members,
    kill_all,
    kill_pids,
    pid_alive,
    pid_namespace,
    pids_with_env,
    register_group,
    started_at,
    stop_group,
    tail_file,
    unregister_group,
)

# A shell and two sleeps in one group, all deaf to SIGTERM (an ignored signal stays ignored
# across fork and exec): only SIGKILL ends them.
STUBBORN = "trap '' TERM; sleep 60 & sleep 60 & wait"
OBEDIENT = "sleep 60 & sleep 60 & wait"


def wait_for(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@contextlib.contextmanager
def group(script: str) -> Iterator[subprocess.Popen[bytes]]:
    """A new process group running `script`, up with its three members; killed afterwards
    whatever the test did."""
    proc = subprocess.Popen(["sh", "-c", script], start_new_session=True)
    try:
        assert wait_for(lambda: len(group_members(proc.pid)) == 3)
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_stubborn_group_survives_sigterm() -> None:
    # What the tests below rely on: without SIGKILL, this group stays.
    with group(STUBBORN) as proc:
        os.killpg(proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        assert len(group_members(proc.pid)) == 3 and proc.poll() is None


def test_kill_all_ends_every_registered_group() -> None:
    with group(STUBBORN) as first, group(OBEDIENT) as second:
        register_group(first.pid)
        register_group(second.pid)
        kill_all()
        assert first.wait(5) == -signal.SIGKILL and second.wait(5) == -signal.SIGKILL
        assert wait_for(lambda: not group_members(first.pid) and not group_members(second.pid))


def test_kill_all_spares_unregistered_groups() -> None:
    with group(STUBBORN) as proc:
        register_group(proc.pid)
        unregister_group(proc.pid)
        kill_all()
        time.sleep(0.3)
        assert proc.poll() is None and len(group_members(proc.pid)) == 3


def test_registered_group_dies_with_the_interpreter(tmp_path: Path) -> None:
    # No explicit kill_all: registering is enough for the exit of the process to end the group.
    script = (
        "import subprocess, time\n"
        "from lensflow.processes import group_members, register_group\n"
        # A survivor must not hold our pipes open: the test would hang instead of failing.
        f"proc = subprocess.Popen(['sh', '-c', {STUBBORN!r}], start_new_session=True,\n"
        "    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "register_group(proc.pid)\n"
        "while len(group_members(proc.pid)) < 3: time.sleep(0.02)\n"
        "print(proc.pid, flush=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    pgid = int(done.stdout)
    try:
        assert wait_for(lambda: not group_members(pgid)), "the group outlived its interpreter"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)


async def test_stop_group_escalates_after_the_grace() -> None:
    with group(STUBBORN) as proc:
        started = time.monotonic()
        assert await stop_group(proc.pid, grace=0.5) == []
        assert time.monotonic() - started >= 0.5  # SIGTERM had its grace
        assert proc.wait(5) == -signal.SIGKILL


async def test_stop_group_lets_an_obedient_group_end_by_sigterm() -> None:
    with group(OBEDIENT) as proc:
        started = time.monotonic()
        assert await stop_group(proc.pid, grace=10.0) == []
        assert time.monotonic() - started < 5.0
        assert proc.wait(5) == -signal.SIGTERM


async def test_stop_group_cuts_the_grace_short_once_stopped() -> None:
    # The runner's case: its leader has exited; what is left of the group gets SIGKILL at once.
    with group(STUBBORN) as proc:
        started = time.monotonic()
        assert await stop_group(proc.pid, grace=10.0, stopped=lambda: True) == []
        assert time.monotonic() - started < 5.0
        assert proc.wait(5) == -signal.SIGKILL


def test_kill_pids_escalates_to_sigkill() -> None:
    deaf = subprocess.Popen(["sh", "-c", "trap '' TERM; while :; do sleep 0.05; done"])
    obedient = subprocess.Popen(["sleep", "60"])
    try:
        time.sleep(0.2)  # let the shell set its trap
        kill_pids([deaf.pid, obedient.pid], grace=0.3)
        assert deaf.wait(5) == -signal.SIGKILL
        assert obedient.wait(5) == -signal.SIGTERM
    finally:
        for proc in (deaf, obedient):
            proc.kill()
            proc.wait()


def test_pid_alive_counts_a_zombie_as_gone() -> None:
    proc = subprocess.Popen(["sleep", "60"])
    try:
        assert pid_alive(proc.pid)
        proc.send_signal(signal.SIGKILL)
        # Not reaped yet: the pid still exists, as a zombie.
        assert wait_for(lambda: Path(f"/proc/{proc.pid}/stat").read_text().split()[2] == "Z")
        assert not pid_alive(proc.pid)
    finally:
        proc.kill()
        proc.wait()
    assert not pid_alive(proc.pid)


def test_pids_with_env_finds_the_marked_processes_only(tmp_path: Path) -> None:
    entry = f"LENSFLOW_TEST_MARK={tmp_path}"
    marked = subprocess.Popen(
        ["sleep", "60"], env={**os.environ, "LENSFLOW_TEST_MARK": str(tmp_path)}
    )
    other = subprocess.Popen(["sleep", "60"])
    try:
        assert pids_with_env(entry) == [marked.pid]
        assert pids_with_env(f"{entry}-not") == []
    finally:
        for proc in (marked, other):
            proc.kill()
            proc.wait()


def test_tail_file(tmp_path: Path) -> None:
    log = tmp_path / "service.log"
    assert tail_file(log, 5) == []  # no file yet
    # Far more than one 64 KiB block, so the tail is read back across block boundaries.
    log.write_text("".join(f"line {i} {'x' * 50}\n" for i in range(5000)))
    assert tail_file(log, 3) == [f"line {i} {'x' * 50}" for i in (4997, 4998, 4999)]
    assert len(tail_file(log, 4000)) == 4000
    assert tail_file(log, 4000)[0] == f"line 1000 {'x' * 50}"
    log.write_bytes(b"first\nbad \xff byte\nno newline")
    assert tail_file(log, 2) == ["bad \ufffd byte", "no newline"]
    assert tail_file(log, 10) == ["first", "bad \ufffd byte", "no newline"]


def test_free_port_is_bindable() -> None:
    port = free_port()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # raises if the port was not free


def test_free_port_avoids_taken_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kernel picks ports at random: make it offer the taken ones first.
    offers = iter([5001, 5002, 5001, 5003])

    class Probe(socket.socket):
        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", next(offers))

    monkeypatch.setattr(socket, "socket", Probe)
    assert free_port({5001, 5002}) == 5003


def test_started_at_tells_a_running_process_from_an_ended_one() -> None:
    child = subprocess.Popen(["sleep", "30"])
    try:
        first = started_at(child.pid)
        assert isinstance(first, int) and first > 0
        assert started_at(child.pid) == first  # stable while it runs
    finally:
        child.kill()
        child.wait()
    assert started_at(child.pid) is None  # reaped: no such process


def test_boot_id_and_pid_namespace_name_this_machine() -> None:
    assert len(boot_id()) == 36  # a UUID, the same for the whole boot
    assert boot_id() == boot_id()
    assert pid_namespace().startswith("pid:[")
