"""A deploy through cgroup v2's code path, end to end but against a double: the deployer finds
a temp folder laid out as a delegated v2 hierarchy, and the real launcher and scoring app (real
supervisord and uvicorn) write into it as they would into the kernel's files. Nothing is
limited for real here (tests/unit/test_cgroups_v2_kernel.py has the kernel's side); this checks
that every caller takes the v2 path and writes what it should, when it should.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from lensflow.scoring import cgroups
from lensflow.workspaces.local.deployments import LocalDeployments

from .test_limits import CLUSTER, MEMORY_GB, cluster, deploy, model, placed, score

__all__ = ["cluster", "model"]  # fixtures, used by name


@pytest.fixture
def v2_double(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "unified"
    root.mkdir()
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("")
    mountinfo, own = tmp_path / "mountinfo", tmp_path / "cgroup"
    mountinfo.write_text(f"41 31 0:38 / {root} rw,relatime - cgroup2 cgroup2 rw\n")
    own.write_text("0::/\n")
    monkeypatch.setattr(cgroups, "_MOUNTINFO", mountinfo)
    monkeypatch.setattr(cgroups, "_OWN", own)
    return root


def test_a_service_on_v2_gets_its_limits_written_by_the_deployer_launcher_and_app(
    cluster: LocalDeployments, model: Path, v2_double: Path
) -> None:
    local = cluster
    deploy(local, model, "unified", memory_gb=MEMORY_GB, cpu_cores=0.2)
    info = local.service("unified")
    assert info.limits_enforced is True and info.limits_note is None
    found = placed(local, "unified")
    assert found.version == 2 and found.cpu_max == "20000 100000"
    ((leaf, same),) = found.replicas
    assert leaf == same and Path(leaf).parent.parent == v2_double / "lensflow"
    assert Path(leaf, "memory.max").read_text() == str(307 << 20)
    assert Path(leaf, "memory.swap.max").read_text() == "0"
    # The launcher put the single process in replica 0 before exec; the app, once its model
    # was loaded, gave the replica its quota.
    pid = int(local._supervisor(CLUSTER).info("unified")["pid"])  # type: ignore[index]
    assert Path(leaf, "cgroup.procs").read_text() == str(pid)
    assert Path(leaf, "cpu.max").read_text() == "20000 100000"
    assert not Path(found.main, "cgroup.procs").exists()  # one process: no master
    assert score(local, "unified", 10) == 200


def test_with_two_replicas_the_master_is_in_main_and_each_worker_in_its_replica(
    cluster: LocalDeployments, model: Path, v2_double: Path
) -> None:
    local = cluster
    deploy(local, model, "pair", replicas=2, cpu_cores=0.5)
    found = placed(local, "pair")
    master = int(local._supervisor(CLUSTER).info("pair")["pid"])  # type: ignore[index]
    assert Path(found.main, "cgroup.procs").read_text() == str(master)
    assert not Path(found.service[0], "cgroup.procs").exists()  # v2: the service holds none
    # Each worker joins a replica, then gets its quota once its model is loaded: Healthy needs
    # one loaded, the other may still be starting.
    want = ["50000 100000"] * 2
    deadline = time.monotonic() + 20
    while quotas(found) != want and time.monotonic() < deadline:
        time.sleep(0.1)
    assert quotas(found) == want
    workers = [int(Path(leaf, "cgroup.procs").read_text()) for leaf, _ in found.replicas]
    assert len(set(workers)) == 2 and master not in workers, (master, workers)
    for worker in workers:  # uvicorn's workers are the master's children
        stat = Path(f"/proc/{worker}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(stat[1]) == master


def quotas(found: cgroups.Placed) -> list[str]:
    return [Path(leaf, "cpu.max").read_text() for leaf, _ in found.replicas]
