"""cgroup v2 on the real kernel: the layout, processes joining it, the no-internal-process rule,
delegation, and removal.

Where memory and cpu are bound to cgroup v1 (this machine), v2 offers other controllers only:
the driver is asked for `hugetlb` in their place, so the kernel's rules on enabling controllers
and moving processes still apply for real; the limit files are checked in test_cgroups_v2.py.
Every cgroup made here goes, and the unified root's subtree_control is restored.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from lensflow.scoring import cgroups

CONTROLLER = "hugetlb"


def _unified() -> Path | None:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        if right.split()[:1] == ["cgroup2"]:
            return Path(left.split()[4])
    return None


UNIFIED = _unified() or Path("/nonexistent")


def read(folder: Path, name: str) -> str:
    return (folder / name).read_text()


def offered() -> list[str]:
    try:
        return read(UNIFIED, "cgroup.controllers").split()
    except OSError:
        return []


pytestmark = pytest.mark.skipif(
    os.geteuid() != 0
    or CONTROLLER not in offered()
    or "0::/\n" not in Path("/proc/self/cgroup").read_text(),
    reason=f"needs root in the root of a cgroup2 mount offering {CONTROLLER}",
)


def mountinfo() -> str:
    return f"41 31 0:38 / {UNIFIED} rw,relatime - cgroup2 cgroup2 rw\n"


@pytest.fixture
def parent() -> Iterator[Path]:
    """A cgroup of the test's own, with the controller offered to it."""
    before = read(UNIFIED, "cgroup.subtree_control").split()
    if CONTROLLER not in before:
        (UNIFIED / "cgroup.subtree_control").write_text(f"+{CONTROLLER}")  # the root may
    folder = UNIFIED / f"lensflow-test-{os.getpid()}"
    folder.mkdir()
    try:
        yield folder
    finally:
        for path, _, _ in sorted(os.walk(folder), key=lambda w: -len(w[0])):
            os.rmdir(path)
        if CONTROLLER not in before:
            (UNIFIED / "cgroup.subtree_control").write_text(f"-{CONTROLLER}")
    assert not folder.exists()


@pytest.fixture
def procs(parent: Path) -> Iterator[list[subprocess.Popen[str]]]:
    """Processes a test starts: killed before its cgroups are removed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait()


JOIN = """import sys, time
from pathlib import Path
from lensflow.scoring import cgroups
print(getattr(cgroups, sys.argv[1])(Path(sys.argv[2])), flush=True)
time.sleep(120)
"""


def join(procs: list[subprocess.Popen[str]], how: str, service_dir: Path) -> tuple[int, str]:
    """A process that joins the service's cgroups as the launcher or a replica does."""
    proc = subprocess.Popen(
        [sys.executable, "-c", JOIN, how, str(service_dir)], stdout=subprocess.PIPE, text=True
    )
    procs.append(proc)
    assert proc.stdout is not None
    return proc.pid, proc.stdout.readline().strip()


def sleeper(procs: list[subprocess.Popen[str]], folder: Path) -> int:
    proc = subprocess.Popen(["sleep", "120"], text=True)
    procs.append(proc)
    (folder / "cgroup.procs").write_text(str(proc.pid))
    return proc.pid


def cgroup_of(pid: int) -> str:
    return next(
        line[3:]
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        if line.startswith("0::")
    )


def test_memory_and_cpu_not_offered_to_v2_here_is_the_reason_given() -> None:
    found, why = cgroups.find(mountinfo(), "0::/\n")
    assert found is None
    has = " ".join(offered())
    assert f"its cgroup / is not delegated the memory and cpu controller(s) (it has: {has})" in why


def test_the_layout_holds_replicas_and_the_master_in_leaves_and_goes_on_remove(
    parent: Path, procs: list[subprocess.Popen[str]], tmp_path: Path
) -> None:
    found, why = cgroups.find(mountinfo(), f"0::/{parent.name}\n", (CONTROLLER,))
    assert found == cgroups.Hierarchy((parent, parent), 2, (CONTROLLER,)), why
    assert read(parent, "cgroup.subtree_control").split() == [CONTROLLER]
    placed = cgroups.create(found, tmp_path, 2, 307, 200)
    service = Path(placed.service[0])
    assert placed.cpu_max == ""  # no cpu controller asked for: no quota to write
    for leaf in ("replica-0", "replica-1", "main"):  # enabled all the way down, by the kernel
        assert read(service / leaf, "cgroup.controllers").split() == [CONTROLLER]
    first, second = join(procs, "join_replica", tmp_path), join(procs, "join_replica", tmp_path)
    master = join(procs, "join_launcher", tmp_path)
    assert (first[1], second[1], master[1]) == ("0", "1", "None")
    relative = f"/{parent.name}/lensflow/{service.name}"
    assert cgroup_of(first[0]) == f"{relative}/replica-0"
    assert cgroup_of(second[0]) == f"{relative}/replica-1"
    assert cgroup_of(master[0]) == f"{relative}/main"
    assert read(service, "cgroup.procs") == ""
    with pytest.raises(OSError) as refused:  # why the master needs a leaf of its own
        (service / "cgroup.procs").write_text(str(master[0]))
    assert refused.value.errno == errno.EBUSY
    assert cgroups.remove(tmp_path) == [*(r[0] for r in placed.replicas), placed.main, str(service)]
    for proc in procs:
        proc.kill()
        proc.wait()
    assert cgroups.remove(tmp_path) == []
    assert not service.exists() and list(service.parent.iterdir()) != []  # lensflow/ stays


def test_a_cgroup_holding_a_process_is_left_as_it_is_and_the_reason_says_why(
    parent: Path, procs: list[subprocess.Popen[str]]
) -> None:
    pid = sleeper(procs, parent)
    with pytest.raises(OSError) as refused:  # the kernel's rule, for real
        (parent / "cgroup.subtree_control").write_text(f"+{CONTROLLER}")
    assert refused.value.errno == errno.EBUSY
    found, why = cgroups.find(mountinfo(), f"0::/{parent.name}\n", (CONTROLLER,))
    assert found is None
    assert f"its cgroup /{parent.name} holds processes" in why
    assert "no-internal-process rule" in why and "DelegateSubgroup=" in why
    assert read(parent, "cgroup.procs").split() == [str(pid)]  # nothing moved
    assert read(parent, "cgroup.subtree_control").split() == []


@pytest.mark.parametrize("enabled_by_owner", [True, False])
def test_a_delegated_cgroup_with_the_server_in_a_leaf_is_used_beside_it(
    parent: Path, procs: list[subprocess.Popen[str]], tmp_path: Path, enabled_by_owner: bool
) -> None:
    if enabled_by_owner:  # the server's leaf then has the controller, and refuses to enable it
        (parent / "cgroup.subtree_control").write_text(f"+{CONTROLLER}")
    server = parent / "server"
    server.mkdir()
    pid = sleeper(procs, server)
    own = f"0::/{parent.name}/server\n"
    found, why = cgroups.find(mountinfo(), own, (CONTROLLER,))
    assert found is None  # not marked delegated: left alone
    if enabled_by_owner:
        assert f"its cgroup /{parent.name}/server holds processes" in why
    else:
        assert f"/{parent.name}/server is not delegated the {CONTROLLER} controller" in why
        assert read(parent, "cgroup.subtree_control").split() == []
    os.setxattr(parent, "trusted.delegate", b"1")  # as systemd marks a Delegate=yes cgroup
    found, why = cgroups.find(mountinfo(), own, (CONTROLLER,))
    assert found == cgroups.Hierarchy((parent, parent), 2, (CONTROLLER,)), why
    assert read(parent, "cgroup.subtree_control").split() == [CONTROLLER]
    placed = cgroups.create(found, tmp_path, 1, 307, 200)
    assert Path(placed.replicas[0][0]).parent.parent == parent / "lensflow"
    assert read(Path(placed.replicas[0][0]), "cgroup.controllers").split() == [CONTROLLER]
    assert read(server, "cgroup.procs").split() == [str(pid)]  # the server stays in its leaf
    assert cgroups.remove(tmp_path) == []
