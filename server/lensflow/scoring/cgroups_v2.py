"""cgroup v2 (the unified hierarchy) for `lensflow.scoring.cgroups`: a delegated subtree.

v2 is one tree, so one folder per cgroup carries both the memory and the CPU limit. Two kernel
rules shape the layout (Documentation/admin-guide/cgroup-v2.rst):

- a cgroup's files can only use the controllers its parent enables in `cgroup.subtree_control`;
- the no-internal-process rule: a cgroup that enables controllers for its children may hold no
  process itself (the hierarchy's root excepted), and a process cannot join one that does.

`<root>` is the server's own cgroup where it may enable controllers (the hierarchy's root, or
a cgroup without processes), else a delegated cgroup whose leaf the server is in (`find`).
So `<root>/lensflow/<key>/` (the service) only holds folders: `replica-<i>/` (one replica, its
limits) and `main/` (uvicorn's master of several workers, unlimited, as a kubelet is outside
its pods; in v1 it stays in the service's folder, which v2 forbids). A replica's CPU quota is
written when its model is loaded (`cpu_max`), not when it joins: v1's start-up CPU boost.
Standard library only, like `cgroups`.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

CONTROLLERS = ("memory", "cpu")
PERIOD_US = 100_000
UNLIMITED_CPU = f"max {PERIOD_US}"
DELEGATE_MARKS = ("trusted.delegate", "user.delegate")  # systemd's, on a Delegate=yes cgroup


def _words(folder: Path, name: str) -> list[str]:
    try:
        return (folder / name).read_text().split()
    except OSError:
        return []


def _write(folder: Path, name: str, value: str) -> None:
    (folder / name).write_text(value)


def enable(folder: Path, controllers: tuple[str, ...]) -> None:
    """The controllers for the folder's children (EBUSY if the folder holds a process)."""
    _write(folder, "cgroup.subtree_control", " ".join(f"+{c}" for c in controllers))


def _delegated(folder: Path) -> bool:
    for mark in DELEGATE_MARKS:
        with contextlib.suppress(OSError):
            if os.getxattr(folder, mark).strip() == b"1":
                return True
    return False


def _enabled(folder: Path, controllers: tuple[str, ...]) -> bool:
    offered = _words(folder, "cgroup.controllers")
    if not set(controllers) <= set(offered):
        return False
    try:
        enable(folder, controllers)
    except OSError:
        return False
    return usable(folder)


def usable(folder: Path) -> bool:
    """A folder can be made (and removed) here."""
    probe = folder / f"lensflow-probe-{os.getpid()}"
    try:
        probe.mkdir()
        probe.rmdir()
        return True
    except OSError:
        return False


def find(
    mount: Path, own: str, controllers: tuple[str, ...] = CONTROLLERS
) -> tuple[Path | None, str]:
    """The folder to put services' cgroups under, or None and why there is none."""
    mine = mount / own.lstrip("/")
    names = " and ".join(controllers)
    offered = _words(mine, "cgroup.controllers")
    if missing := [c for c in controllers if c not in offered]:
        why = (
            f"its cgroup {own} is not delegated the {' and '.join(missing)} controller(s) "
            f"(it has: {' '.join(offered) or 'none'}); run Lensflow's server in a cgroup with "
            f"{names} delegated (systemd: a unit with Delegate=yes; Docker: --cgroupns=private "
            f"on a host whose cgroup v2 enables {names} for containers)"
        )
    else:
        try:
            enable(mine, controllers)  # works in the hierarchy's root, or in an empty cgroup
        except OSError as exc:
            if exc.errno != errno.EBUSY:
                return None, f"cannot enable {names} below its cgroup {own}: {exc.strerror}"
            why = (
                f"its cgroup {own} holds processes, and cgroup v2 enables controllers only for "
                f"a cgroup without processes (the no-internal-process rule); run Lensflow's "
                f"server in a leaf of a delegated cgroup (systemd: Delegate=yes with "
                f"DelegateSubgroup=)"
            )
        else:
            if usable(mine):
                return mine, ""
            return None, f"its cgroup {own} is not writable (run as root or delegate it to you)"
    # We move no process: the one clean alternative is a delegation whose owner put its
    # processes in leaves (systemd: Delegate=yes with DelegateSubgroup=), the server's among
    # them: the leaf's parent, when marked delegated (systemd's xattr) and offering the
    # controllers, which the kernel then lets us enable there (it holds no process).
    parent = mine.parent
    if own.strip("/") and _delegated(parent) and _enabled(parent, controllers):
        return parent, ""
    return None, why


def make_service(service: Path, controllers: tuple[str, ...]) -> Path:
    """`lensflow/<key>/` with the controllers enabled for its replicas, and its `main` leaf."""
    for folder in (service.parent, service):  # neither ever holds a process
        folder.mkdir(exist_ok=True)
        enable(folder, controllers)
    main = service / "main"
    main.mkdir(exist_ok=True)
    return main


def make_replica(leaf: Path, controllers: tuple[str, ...], memory: int) -> None:
    """A replica's folder with its memory limit; its CPU is unlimited until `limit_cpu`."""
    leaf.mkdir(exist_ok=True)
    if "memory" in controllers:
        _write(leaf, "memory.max", str(memory))
        try:  # no swap past the limit either, where the kernel accounts swap
            _write(leaf, "memory.swap.max", "0")
        except OSError:
            if (leaf / "memory.swap.max").exists():
                raise
    if "cpu" in controllers:
        _write(leaf, "cpu.max", UNLIMITED_CPU)


def cpu_max(millicores: int) -> str:
    """`cpu.max` for a quota (in Kubernetes' millicores): "<quota µs> <period µs>"."""
    return f"{max(1000, millicores * PERIOD_US // 1000)} {PERIOD_US}"  # the smallest is 1 ms


def join(leaf: str, boost: bool) -> None:
    """This process into a leaf; with `boost` a replica's CPU is unlimited first: one starting
    again (uvicorn restarts a killed one) gets the start-up boost again."""
    if boost:
        _write(Path(leaf), "cpu.max", UNLIMITED_CPU)
    _write(Path(leaf), "cgroup.procs", str(os.getpid()))


def limit_cpu(leaf: str, cpu: str) -> None:
    """The replica's CPU quota, once its model is loaded."""
    if cpu:
        _write(Path(leaf), "cpu.max", cpu)


def oom_kills(folders: list[str], file: str = "memory.events") -> int:
    """The kernel's OOM kills in these folders: the `oom_kill` line of v2's `memory.events`
    (hierarchical: a leaf's own), or of v1's `memory.oom_control` (`cgroups` asks that)."""
    total = 0
    for folder in folders:
        with contextlib.suppress(OSError, ValueError):
            for line in Path(folder, file).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    total += int(value)
    return total
