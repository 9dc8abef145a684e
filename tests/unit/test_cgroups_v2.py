"""cgroup v2 limits against a double: a temp folder laid out as the unified hierarchy.

The kernel here binds memory and cpu to v1, so what the driver writes into v2's limit files
(memory.max, memory.swap.max, cpu.max) and reads from them (memory.events) is checked on plain
files. The kernel's own v2 rules are exercised for real in test_cgroups_v2_kernel.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from lensflow.scoring import cgroups

MEMORY_MIB = round(0.3 * 1024)  # memoryGb 0.3, as the deployer converts it
MILLICORES = 200  # cpuCores 0.2


def mountinfo(mount: Path) -> str:
    return f"41 31 0:38 / {mount} rw,relatime - cgroup2 cgroup2 rw\n"


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    """The double's root: the server's own cgroup, offering cpu and memory."""
    root = tmp_path / "unified"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    return root


@pytest.fixture
def hierarchy(mount: Path) -> cgroups.Hierarchy:
    found, why = cgroups.find(mountinfo(mount), "0::/\n")
    assert found is not None, why
    return found


def read(folder: str | Path, name: str) -> str:
    return Path(folder, name).read_text()


def test_a_v2_only_machine_with_memory_and_cpu_delegated_gives_a_v2_hierarchy(
    mount: Path, hierarchy: cgroups.Hierarchy
) -> None:
    assert hierarchy == cgroups.Hierarchy((mount, mount), 2, ("memory", "cpu"))
    assert read(mount, "cgroup.subtree_control") == "+memory +cpu"
    assert sorted(p.name for p in mount.iterdir()) == [
        "cgroup.controllers",
        "cgroup.subtree_control",
    ]


def test_v1_is_preferred_where_its_memory_and_cpu_hierarchies_are_usable(
    tmp_path: Path, mount: Path
) -> None:
    memory, cpu = tmp_path / "memory", tmp_path / "cpu"
    memory.mkdir()
    cpu.mkdir()
    text = (
        f"32 31 0:29 / {cpu} rw,relatime - cgroup cgroup rw,cpu\n"
        f"35 31 0:32 / {memory} rw,relatime - cgroup cgroup rw,memory\n" + mountinfo(mount)
    )
    found, why = cgroups.find(text, "4:memory:/\n1:cpu:/\n0::/\n")
    assert (found, why) == (cgroups.Hierarchy((memory, cpu)), "")
    assert read(mount, "cgroup.subtree_control") == ""  # v2 not even tried


def test_without_memory_delegated_the_reason_names_what_is_missing_and_how_to_get_it(
    mount: Path,
) -> None:
    (mount / "cgroup.controllers").write_text("cpu pids\n")
    found, why = cgroups.find(mountinfo(mount), "0::/\n")
    assert found is None
    assert why.startswith("this machine has cgroup v2 only, and its cgroup / is not delegated")
    assert "the memory controller(s) (it has: cpu pids)" in why
    assert "Delegate=yes" in why and "--cgroupns=private" in why
    assert read(mount, "cgroup.subtree_control") == ""  # nothing enabled


def test_the_server_own_cgroup_is_looked_up_below_the_mount(mount: Path) -> None:
    server = mount / "user.slice" / "lensflow.service"
    server.mkdir(parents=True)
    (server / "cgroup.controllers").write_text("memory cpu\n")
    found, _ = cgroups.find(mountinfo(mount), "0::/user.slice/lensflow.service\n")
    assert found is not None and found.roots == (server, server)
    assert read(server, "cgroup.subtree_control") == "+memory +cpu"


def test_create_writes_each_replica_limits_in_kubernetes_units(
    tmp_path: Path, hierarchy: cgroups.Hierarchy, mount: Path
) -> None:
    service_dir = tmp_path / "service"
    service_dir.mkdir()
    placed = cgroups.create(hierarchy, service_dir, 2, MEMORY_MIB, MILLICORES)
    (service,) = set(placed.service)
    assert Path(service).parent == mount / "lensflow"
    assert placed.main == f"{service}/main" and Path(placed.main).is_dir()
    assert placed.replicas == [[f"{service}/replica-{i}"] * 2 for i in range(2)]
    for folder in (mount / "lensflow", Path(service)):  # controllers for the folders below
        assert read(folder, "cgroup.subtree_control") == "+memory +cpu"
    for leaf, _ in placed.replicas:
        assert read(leaf, "memory.max") == str(307 << 20) == "321912832"
        assert read(leaf, "memory.swap.max") == "0"
        assert read(leaf, "cpu.max") == "max 100000"  # the quota comes once the model is loaded
    assert not Path(placed.main, "memory.max").exists()  # uvicorn's master: unlimited
    data = json.loads(read(service_dir, cgroups.FILE))
    assert data["version"] == 2 and data["cpu_max"] == "20000 100000"
    assert cgroups.read_placed(service_dir) == placed


@pytest.mark.parametrize(
    ("millicores", "quota"), [(200, "20000 100000"), (1500, "150000 100000"), (1, "1000 100000")]
)
def test_cpu_max_is_the_quota_per_100_ms(
    tmp_path: Path, hierarchy: cgroups.Hierarchy, millicores: int, quota: str
) -> None:
    placed = cgroups.create(hierarchy, tmp_path, 1, MEMORY_MIB, millicores)
    assert placed.cpu_max == quota


def test_a_replica_joins_unlimited_and_gets_its_quota_once_loaded(
    tmp_path: Path, hierarchy: cgroups.Hierarchy
) -> None:
    placed = cgroups.create(hierarchy, tmp_path, 2, MEMORY_MIB, MILLICORES)
    (leaf0, _), (leaf1, _) = placed.replicas
    Path(leaf0, "cgroup.procs").write_text(str(os.getppid()))  # a live process has replica 0
    assert cgroups.join_replica(tmp_path) == 1
    assert read(leaf1, "cgroup.procs") == str(os.getpid())
    assert read(leaf1, "cpu.max") == "max 100000"  # the start-up boost
    cgroups.join_cpu(tmp_path, 1)
    assert read(leaf1, "cpu.max") == "20000 100000"
    assert read(leaf0, "cpu.max") == "max 100000"
    # Restarted after a kill (its pid gone from the folder): unlimited again till loaded.
    Path(leaf1, "cgroup.procs").write_text("")
    assert cgroups.join_replica(tmp_path) == 1
    assert read(leaf1, "cpu.max") == "max 100000"


def test_the_launcher_joins_main_for_several_workers_and_replica_0_for_one(
    tmp_path: Path, hierarchy: cgroups.Hierarchy
) -> None:
    several, one = tmp_path / "several", tmp_path / "one"
    several.mkdir()
    one.mkdir()
    placed = cgroups.create(hierarchy, several, 2, MEMORY_MIB, MILLICORES)
    cgroups.join_launcher(several)
    assert read(placed.main, "cgroup.procs") == str(os.getpid())
    assert not Path(placed.service[0], "cgroup.procs").exists()  # v2: it may hold none
    assert read(placed.replicas[0][0], "cpu.max") == "max 100000"
    placed = cgroups.create(hierarchy, one, 1, MEMORY_MIB, MILLICORES)
    Path(placed.replicas[0][0], "cpu.max").write_text("20000 100000")  # a previous run's
    cgroups.join_launcher(one)
    assert read(placed.replicas[0][0], "cgroup.procs") == str(os.getpid())
    assert read(placed.replicas[0][0], "cpu.max") == "max 100000"


def test_oom_kills_are_read_from_each_leaf_memory_events(
    tmp_path: Path, hierarchy: cgroups.Hierarchy
) -> None:
    placed = cgroups.create(hierarchy, tmp_path, 2, MEMORY_MIB, MILLICORES)
    assert cgroups.oom_kills(tmp_path) == 0
    events = "low 0\nhigh 0\nmax 9\noom {0}\noom_kill {0}\noom_group_kill 0\n"
    Path(placed.replicas[0][0], "memory.events").write_text(events.format(2))
    Path(placed.replicas[1][0], "memory.events").write_text(events.format(1))
    Path(placed.service[0], "memory.oom_control").write_text("oom_kill 7\n")  # v1's: not read
    assert cgroups.oom_kills(tmp_path) == 3


def test_v1_placements_read_and_write_as_before(tmp_path: Path) -> None:
    placed = cgroups.Placed(["/m/lensflow/k", "/c/lensflow/k"], [["/m/r0", "/c/r0"]])
    cgroups.write_placed(tmp_path, placed)
    assert json.loads(read(tmp_path, cgroups.FILE)) == {
        "service": ["/m/lensflow/k", "/c/lensflow/k"], "replicas": [["/m/r0", "/c/r0"]]
    }  # fmt: skip
    assert cgroups.read_placed(tmp_path) == placed
    assert placed.all_folders() == ["/m/r0", "/c/r0", "/m/lensflow/k", "/c/lensflow/k"]
