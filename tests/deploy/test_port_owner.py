"""Which sockets take a connection to 127.0.0.1:<port>, and whether a process tree holds them:
real sockets and real processes, asked of the kernel (sock_diag) and of /proc, which agree."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
from lensflow.workspaces.local.listeners import _from_proc, listening
from lensflow.workspaces.local.port_owner import PortHolder, describe_holder, holder

# A process whose child listens on a port and says which: the child holds the socket, the
# parent (a "program") does not. Both wait until the test ends them.
TREE = """
import socket, subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", '''
import os, socket, sys, time
sock = socket.create_server(("127.0.0.1", 0))
print(os.getpid(), sock.getsockname()[1], flush=True)
time.sleep(120)
'''], stdout=sys.stdout)
time.sleep(120)
"""


def inode(sock: socket.socket) -> int:
    return os.fstat(sock.fileno()).st_ino


def port(sock: socket.socket) -> int:
    return int(sock.getsockname()[1])


@pytest.fixture
def tree() -> Iterator[tuple[int, int, int]]:
    """(the parent's pid, its child's, the port the child listens on)."""
    parent = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    child = 0
    try:
        assert parent.stdout is not None
        child, held = (int(word) for word in parent.stdout.readline().split())
        yield parent.pid, child, held
    finally:
        for pid in (child, parent.pid):
            if pid:
                os.kill(pid, signal.SIGKILL)
        parent.wait(5)


def test_listeners_on_loopback_and_wildcards_and_nothing_else() -> None:
    loopback = socket.create_server(("127.0.0.1", 0))
    wildcard = socket.create_server(("0.0.0.0", 0))
    other = socket.create_server(("127.0.0.2", 0))  # 127.0.0.1 does not reach it
    bound = socket.socket()
    bound.bind(("127.0.0.1", 0))  # bound, never listening: takes no connection
    with loopback, wildcard, other, bound:
        for sock in (loopback, wildcard):
            assert listening(port(sock)) == _from_proc(port(sock)) == {inode(sock)}
        for sock in (other, bound):
            assert listening(port(sock)) == _from_proc(port(sock)) == set()
        if socket.has_ipv6:
            try:
                dual = socket.create_server(("::", 0), family=socket.AF_INET6, dualstack_ipv6=True)
            except OSError:
                return  # no IPv6 on this machine
            with dual:
                assert listening(port(dual)) == _from_proc(port(dual)) == {inode(dual)}


def test_a_port_held_below_the_program_is_its_own(tree: tuple[int, int, int]) -> None:
    program, child, held = tree
    assert holder(program, held) == PortHolder(listening=True, owned=True)  # by its child
    assert holder(child, held) == PortHolder(listening=True, owned=True)


def test_a_port_held_by_another_process_is_not(tree: tuple[int, int, int]) -> None:
    program, child, held = tree
    assert holder(child, held).owned and not holder(os.getpid() + 10**6, held).owned
    with socket.create_server(("127.0.0.1", 0)) as mine:
        verdict = holder(program, port(mine))
        assert verdict.listening and not verdict.owned
        assert describe_holder(port(mine)).startswith(f"pid {os.getpid()} (")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = port(probe)
    verdict = holder(program, free)
    assert not verdict.listening and not verdict.owned
