"""Kubernetes' resource limits for a local service's replicas, enforced by Linux cgroups.

A pod's limits become, for each replica, a memory limit (the kernel kills a process that goes
over it, which kubectl shows as OOMKilled) and a CPU quota (CFS: `cpuCores` × 100 ms of CPU
per 100 ms). cgroup v1's `memory` and `cpu` hierarchies, writable as root, allow it; else a
delegated cgroup v2 subtree offering `memory` and `cpu` (`cgroups_v2`). Elsewhere nothing is
limited, and the service says so (`limitsEnforced: false`, with the reason).

Layout, under this process's own cgroup when it may be used, else the hierarchy's root:
`lensflow/<key>/` is the service, `lensflow/<key>/replica-<i>/` one replica with its limits.
The serving process joins the first free replica's memory cgroup when it starts (one uvicorn
worker, or the single process: the launcher puts itself in replica 0's then, so the
interpreter's start-up counts too), and its CPU cgroup once the model is loaded (a start-up CPU
boost); uvicorn's master of several workers stays in the service's, unlimited, as a kubelet is
outside its pods (v2 differs there and in the CPU boost: `cgroups_v2`). `cgroups.json` in the
service's folder names them all, for the launcher, the scoring app, the live state (OOM kills)
and cleanUp. Standard library only: the launcher and the scoring app import it when they start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import cgroups_v2 as v2

FILE = "cgroups.json"
PERIOD_US = 100_000
_MOUNTINFO = Path("/proc/self/mountinfo")
_OWN = Path("/proc/self/cgroup")


@dataclass(frozen=True)
class Hierarchy:
    """Where services' cgroups go: a folder of the memory hierarchy and one of the cpu's (in
    v2 the same folder twice, with the controllers to use there)."""

    roots: tuple[Path, Path]
    version: int = 1
    controllers: tuple[str, ...] = v2.CONTROLLERS


@dataclass(frozen=True)
class Placed:
    """A service's cgroups, each as [memory folder, cpu folder] (v2: the same folder twice;
    `main` is the leaf of uvicorn's master, `cpu_max` a replica's quota once loaded)."""

    service: list[str]
    replicas: list[list[str]]
    version: int = 1
    main: str = ""
    cpu_max: str = ""

    def all_folders(self) -> list[str]:
        """Deepest first: the order rmdir needs (each once: v2 names its folders twice)."""
        main = [self.main] if self.main else []
        folders = [f for replica in self.replicas for f in replica] + main + self.service
        return list(dict.fromkeys(folders))


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _mounts(mountinfo: str) -> dict[str, Path]:
    """Mount points of v1's 'memory' and 'cpu' hierarchies, and 'v2' of the unified one."""
    found: dict[str, Path] = {}
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        point = Path(fields[4].replace("\\040", " "))
        if tail[0] == "cgroup2":
            found.setdefault("v2", point)
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):
                if option in ("memory", "cpu"):
                    found.setdefault(option, point)
    return found


def _own_paths(cgroup: str) -> dict[str, str]:
    """This process's cgroup in each v1 hierarchy, by controller ('' for v2's `0::` line)."""
    own: dict[str, str] = {}
    with contextlib.suppress(ValueError):
        for line in cgroup.splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                own.setdefault(controller, path)
    return own


_usable = v2.usable  # a folder can be made (and removed) here: the hierarchy is ours to use


def find(
    mountinfo: str | None = None, own_cgroup: str | None = None,
    controllers: tuple[str, ...] = v2.CONTROLLERS,
) -> tuple[Hierarchy | None, str]:  # fmt: skip
    """The hierarchy to use (v1's where usable, else v2's), or None and why there is none.
    The texts of /proc/self/mountinfo and /proc/self/cgroup, and v2's controllers (a test
    asks for others than memory and cpu), may be given."""
    mounts = _mounts(_read(_MOUNTINFO) if mountinfo is None else mountinfo)
    own = _own_paths(_read(_OWN) if own_cgroup is None else own_cgroup)
    v1_why = ""
    if "memory" in mounts and "cpu" in mounts:
        roots = []
        for controller in ("memory", "cpu"):
            mine = mounts[controller] / own.get(controller, "/").lstrip("/")
            # Under this process's own cgroup when it may be used, as a delegation would be.
            roots.append(mine if _usable(mine) else mounts[controller])
        if all(_usable(root) for root in roots):
            return Hierarchy((roots[0], roots[1])), ""
        v1_why = "cgroup v1's memory and cpu hierarchies are not writable (run as root)"
    if "v2" not in mounts:
        return None, v1_why or "this machine has no cgroup memory and cpu hierarchies"
    root, why = v2.find(mounts["v2"], own.get("", "/"), controllers)
    if root is not None:
        return Hierarchy((root, root), 2, controllers), ""
    return None, v1_why or f"this machine has cgroup v2 only, and {why}"


def _write(folder: Path, name: str, value: str) -> None:
    (folder / name).write_text(value)


def _limit(memory_dir: Path, cpu_dir: Path, memory: int, cpu_us: int) -> None:
    _write(memory_dir, "memory.limit_in_bytes", str(memory))
    if (memory_dir / "memory.memsw.limit_in_bytes").exists():  # no swap past the limit either
        _write(memory_dir, "memory.memsw.limit_in_bytes", str(memory))
    _write(cpu_dir, "cpu.cfs_period_us", str(PERIOD_US))
    _write(cpu_dir, "cpu.cfs_quota_us", str(cpu_us))


def create(
    hierarchy: Hierarchy, service_dir: Path, replicas: int, memory_mib: int, millicores: int
) -> Placed:
    """Makes the service's cgroups with its limits (per replica, in Kubernetes' units), and
    writes `cgroups.json` naming them."""
    key = hashlib.sha256(str(service_dir.resolve()).encode()).hexdigest()[:16]
    memory = memory_mib << 20
    if hierarchy.version == 2:
        return _create_v2(hierarchy, service_dir, key, replicas, memory, millicores)
    cpu_us = max(1000, millicores * PERIOD_US // 1000)  # the kernel's smallest quota is 1 ms
    service = [root / "lensflow" / key for root in hierarchy.roots]
    placed = Placed(service=[str(f) for f in service], replicas=[])
    # Named before they exist: an interrupted create still gets cleaned up.
    write_placed(service_dir, placed)
    for folder in service:
        folder.mkdir(parents=True, exist_ok=True)
    for i in range(replicas):
        memory_dir, cpu_dir = (folder / f"replica-{i}" for folder in service)
        placed.replicas.append([str(memory_dir), str(cpu_dir)])
        write_placed(service_dir, placed)
        memory_dir.mkdir(exist_ok=True)
        cpu_dir.mkdir(exist_ok=True)
        _limit(memory_dir, cpu_dir, memory, cpu_us)
    return placed


def _create_v2(
    hierarchy: Hierarchy, service_dir: Path, key: str, replicas: int, memory: int, millicores: int
) -> Placed:
    """v2: one folder per cgroup, named twice in `Placed` so callers need not know."""
    service = hierarchy.roots[0] / "lensflow" / key
    cpu = v2.cpu_max(millicores) if "cpu" in hierarchy.controllers else ""
    placed = Placed([str(service)] * 2, [], version=2, main=str(service / "main"), cpu_max=cpu)
    write_placed(service_dir, placed)  # named before they exist, as in v1
    v2.make_service(service, hierarchy.controllers)
    for i in range(replicas):
        leaf = service / f"replica-{i}"
        placed.replicas.append([str(leaf)] * 2)
        write_placed(service_dir, placed)
        v2.make_replica(leaf, hierarchy.controllers, memory)
    return placed


def write_placed(service_dir: Path, placed: Placed) -> None:
    data: dict[str, object] = {"service": placed.service, "replicas": placed.replicas}
    if placed.version == 2:  # v1's file stays as it was
        data.update(version=2, main=placed.main, cpu_max=placed.cpu_max)
    tmp = service_dir / f".{FILE}.tmp"
    tmp.write_text(json.dumps(data))
    os.replace(tmp, service_dir / FILE)


def read_placed(service_dir: Path) -> Placed | None:
    try:
        data = json.loads((service_dir / FILE).read_text())
        return Placed(
            list(data["service"]), list(data["replicas"]), int(data.get("version", 1)),
            str(data.get("main", "")), str(data.get("cpu_max", "")),
        )  # fmt: skip
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _join(folders: list[str]) -> None:
    pid = str(os.getpid())
    for folder in folders:
        Path(folder, "cgroup.procs").write_text(pid)


def join_launcher(service_dir: Path) -> None:
    """The launcher, before it execs uvicorn: the memory cgroup of replica 0 when it is the
    only replica, else the service's."""
    if (placed := read_placed(service_dir)) is not None:
        if placed.version == 2:  # v2: the service's folder holds no process, `main` does
            one = len(placed.replicas) == 1
            v2.join(placed.replicas[0][0] if one else placed.main, one and bool(placed.cpu_max))
            return
        memory = placed.replicas[0][0] if len(placed.replicas) == 1 else placed.service[0]
        _join([memory])


def _others(folder: str) -> list[int]:
    try:
        pids = [int(p) for p in Path(folder, "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []
    return [p for p in pids if p != os.getpid() and os.path.exists(f"/proc/{p}")]


def join_replica(service_dir: Path) -> int | None:
    """A serving process, before it loads the model: joins the memory cgroup of the first
    replica no other process is in (the one a killed replica left, when uvicorn restarts it).
    Its index, or None with no cgroups."""
    placed = read_placed(service_dir)
    if placed is None or not placed.replicas:
        return None
    with open(service_dir / f".{FILE}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two workers starting together take different ones
        load = [len(_others(replica[0])) for replica in placed.replicas]
        index = load.index(min(load))
        if placed.version == 2:
            v2.join(placed.replicas[index][0], bool(placed.cpu_max))
        else:
            _join([placed.replicas[index][0]])
    return index


def join_cpu(service_dir: Path, index: int) -> None:
    """The serving process, once its model is loaded: its CPU quota from now on. Starting at
    full speed is GKE's startup CPU boost: a 0.1-core replica would take ten times as long to
    import and load. (v2: the replica's folder gets its quota; it was unlimited till now.)"""
    if (placed := read_placed(service_dir)) is not None:
        if placed.version == 2:
            v2.limit_cpu(placed.replicas[index][1], placed.cpu_max)
        else:
            _join([placed.replicas[index][1]])


def oom_kills(service_dir: Path) -> int:
    """How many of the service's processes the kernel killed for memory, so far."""
    placed = read_placed(service_dir)
    if placed is None:
        return 0
    if placed.version == 2:
        return v2.oom_kills([placed.main, *(replica[0] for replica in placed.replicas)])
    folders = [placed.service[0], *(replica[0] for replica in placed.replicas)]
    return v2.oom_kills(folders, "memory.oom_control")


def remove(service_dir: Path) -> list[str]:
    """Removes the service's cgroups (its processes are gone); the folders that would not go."""
    placed = read_placed(service_dir)
    if placed is None:
        return []
    stuck = []
    for folder in placed.all_folders():
        try:
            os.rmdir(folder)
        except FileNotFoundError:
            pass
        except OSError:
            stuck.append(folder)
    return stuck
