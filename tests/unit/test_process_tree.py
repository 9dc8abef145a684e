"""lensflow.process_tree for real: a subreaper keeps what leaves its group, and ends it all."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from lensflow.process_tree import descendants, end_descendants, kill_descendants
from lensflow.processes import kill_all, pid_alive, register_group, unregister_group

from tests.unit.test_processes import wait_for

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl and /proc")

# A leader in a group of its own that adopts orphans (unless told not to), then starts a daemon
# in a session of its own and an orphan (its parent exits at once), prints both pids, and waits.
LEADER = """\
import subprocess, sys, time
from lensflow.process_tree import adopt_orphans
if sys.argv[1] == "adopt":
    assert adopt_orphans()
quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
daemon = subprocess.Popen(["sh", "-c", "trap '' TERM; sleep 300"], start_new_session=True, **quiet)
orphan = subprocess.run([sys.executable, "-c", "import subprocess; print(subprocess.Popen("
    "['sleep', '301'], start_new_session=True, stdout=-3, stderr=-3).pid)"],  # DEVNULL
    stdout=subprocess.PIPE, text=True).stdout
print(daemon.pid, orphan.strip(), flush=True)
time.sleep(300)
"""


@contextlib.contextmanager
def leader(adopt: bool = True) -> Iterator[tuple[subprocess.Popen[str], int, int]]:
    """The leader, its daemon's pid and its orphan's pid; all killed afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-c", LEADER, "adopt" if adopt else "no"],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    daemon, orphan = map(int, proc.stdout.readline().split())
    try:
        yield proc, daemon, orphan
    finally:
        for pid in (daemon, orphan, proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def test_an_orphan_is_a_descendant_only_of_a_leader_that_adopts_orphans() -> None:
    with leader(adopt=False) as (proc, daemon, orphan):
        assert os.getsid(daemon) == daemon and os.getsid(orphan) == orphan
        # The daemon's sh may still be forking its sleep: wait for the tree to settle.
        assert wait_for(lambda: len(descendants(proc.pid)) == 2)
        found = descendants(proc.pid)
        assert daemon in found and orphan not in found  # init took the orphan
    with leader() as (proc, daemon, orphan):
        assert wait_for(lambda: len(descendants(proc.pid)) == 3)
        assert {daemon, orphan} <= set(descendants(proc.pid))


def test_kill_descendants_ends_the_whole_tree_and_spares_the_leader() -> None:
    with leader() as (proc, daemon, orphan):
        assert wait_for(lambda: len(descendants(proc.pid)) == 3)
        assert kill_descendants(proc.pid) == []
        assert not pid_alive(daemon) and not pid_alive(orphan)
        assert proc.poll() is None


def test_end_descendants_gives_sigterm_its_grace_then_sigkill() -> None:
    with leader() as (proc, daemon, orphan):
        assert wait_for(lambda: len(descendants(proc.pid)) == 3)
        began = time.monotonic()
        assert end_descendants(proc.pid, grace=0.5) == []
        assert time.monotonic() - began >= 0.5  # the daemon's sh is deaf to SIGTERM
        assert descendants(proc.pid) == [] and not pid_alive(daemon) and not pid_alive(orphan)


def test_kill_all_ends_a_registered_tree_beyond_its_group() -> None:
    with leader() as (proc, daemon, orphan):
        assert wait_for(lambda: len(descendants(proc.pid)) == 3)
        register_group(proc.pid, tree=True)
        kill_all()
        assert proc.wait(5) == -signal.SIGKILL
        assert wait_for(lambda: not pid_alive(daemon) and not pid_alive(orphan))


def test_a_registered_group_alone_keeps_killing_only_its_group() -> None:
    with leader() as (proc, daemon, orphan):
        assert wait_for(lambda: len(descendants(proc.pid)) == 3)
        register_group(proc.pid)
        kill_all()
        assert proc.wait(5) == -signal.SIGKILL
        time.sleep(0.3)
        assert pid_alive(daemon) and pid_alive(orphan)
    unregister_group(proc.pid)
