"""Faults: a service worker, the server, a whole run and the disk fail; each promise is checked
on real processes, real signals and the real store.

A service worker killed with -9 (Healthy again within 5 s, reported as serviceUpdated) is in
test_load.py, after the minute of load; five in a row (CrashLoopBackOff, never FATAL) are in
tests/deploy/test_crashloop.py.

Already covered elsewhere, exactly, and not repeated here:
- supervisord killed → its cluster and service read Failed, and cleanUp still removes both and
  every orphaned process: tests/deploy/test_deploy.py::test_supervisord_killed_under_a_service.
- a truncated cluster.json / a service.json of the wrong shape → StoreError naming the file and
  a .bak copy, clean-up still works: tests/deploy/test_state.py; damaged records listed by name
  while the rest lists, deploys and cleans up: tests/deploy/test_records.py. What this file adds:
  over stdio, and the MLflow store beside it untouched.
- the server killed between adding a service's program and saving its record:
  tests/reliability/test_interrupted_deploy.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lensflow.processes import pid_alive, wait_gone
from lensflow.workspaces.tracking.orphans import process_gone
from lensflow.workspaces.tracking.tags import END_REASON_TAG, PROCESS_TAG
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.conftest import error_of, execute, notes

from .support import (
    SLOW,
    close,
    data,
    forget,
    new_server,
    output_seen,
    server_pid,
    wait_for,
)


def store_of(home: Path) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{home / 'mlflow.db'}")


# --- the server killed with -9 in the middle of trackRun ------------------------------------
async def test_server_kill_9_mid_run_ends_the_run_killed(project: Path) -> None:
    """The common case: the bootstrap's parent-death signal records KILLED, and what the
    script started goes with it."""
    (project / "slow.py").write_text(SLOW)
    client = await new_server(project)
    pending = asyncio.ensure_future(execute(client, "lensflow.trackRun", {"script": "slow.py"}))
    run_id = await output_seen(client, "ready")
    bootstrap, group, child = map(int, (project / "pids.txt").read_text().split())
    assert bootstrap == group and pid_alive(child)

    os.kill(server_pid(client), signal.SIGKILL)
    await forget(client, pending)
    store = store_of(project / ".lensflow")
    await wait_for(lambda: store.get_run(run_id).info.status != "RUNNING", 20, 0.2)
    run = store.get_run(run_id)
    assert run.info.status == "KILLED"
    assert run.data.params == {"alpha": "0.5"} and run.data.metrics == {"loss": 0.25}
    assert wait_gone([bootstrap, child], 10), "the run's processes outlived the server"


async def test_server_and_run_killed_9_closed_at_next_start(project: Path) -> None:
    """Nothing recorded the end (the bootstrap was SIGKILLed with its whole group): the next
    server's store worker finds the RUNNING run whose process is gone and closes it FAILED."""
    (project / "slow.py").write_text(SLOW)
    home = project / ".lensflow"
    client = await new_server(project)
    pending = asyncio.ensure_future(execute(client, "lensflow.trackRun", {"script": "slow.py"}))
    run_id = await output_seen(client, "ready")
    bootstrap, group, child = map(int, (project / "pids.txt").read_text().split())
    store = store_of(home)
    tag = store.get_run(run_id).data.tags[PROCESS_TAG]
    assert json.loads(tag)["pid"] == bootstrap and not process_gone(tag)

    from lensflow.workspaces.tracking.mlflow_store import MlflowStore

    live = MlflowStore(f"sqlite:///{home / 'mlflow.db'}")
    assert live.close_orphaned_runs() == []  # a live run is never closed

    os.kill(server_pid(client), signal.SIGSTOP)  # it must not see the group die and close the run
    os.killpg(group, signal.SIGKILL)
    assert wait_gone([bootstrap, child], 10)
    os.kill(server_pid(client), signal.SIGKILL)
    await forget(client, pending)
    assert store.get_run(run_id).info.status == "RUNNING"  # the premise: nobody recorded the end
    assert process_gone(tag)

    again = await new_server(project)
    try:
        runs = (await execute(again, "lensflow.listRuns", {"script": "slow.py"}))["runs"]
        assert [(r["runId"], r["status"]) for r in runs] == [(run_id, "FAILED")]
        detail = await execute(again, "lensflow.getRun", {"runId": run_id})
        assert "without recording the end" in detail["tags"][END_REASON_TAG]
        assert detail["endTime"] is not None
        assert detail["params"] == {"alpha": "0.5"} and detail["metrics"] == {"loss": 0.25}
    finally:
        await close(again)


def test_process_tag_checks_host_boot_and_start_time() -> None:
    """Real /proc: this process is alive; a reused pid, another boot or a dead pid are gone;
    another host, another pid namespace or a missing tag are unknown, so never closed."""
    fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    me: dict[str, Any] = {
        "host": os.uname().nodename,
        "bootId": boot,
        "pidNs": os.readlink("/proc/self/ns/pid"),
        "pid": os.getpid(),
        "start": int(fields[19]),
    }
    assert not process_gone(json.dumps(me))
    assert process_gone(json.dumps({**me, "start": me["start"] + 1}))  # the pid was reused
    assert process_gone(json.dumps({**me, "bootId": "another-boot"}))  # the machine restarted
    dead = subprocess.Popen(["true"])
    dead.wait()
    assert process_gone(json.dumps({**me, "pid": dead.pid}))
    assert not process_gone(json.dumps({**me, "host": "elsewhere", "bootId": "x"}))
    assert not process_gone(json.dumps({**me, "pidNs": "pid:[1]", "pid": dead.pid}))  # a container
    assert not process_gone(None) and not process_gone("not json")


# --- damaged state files: listed by name, a backup, and the MLflow store untouched ---------
TINY = """\
import pickle, mlflow
mlflow.log_param("alpha", 0.03)
for step in range(5):
    mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
pickle.dump({"weights": [1, 2, 3]}, open("model.pkl", "wb"))
mlflow.log_artifact("model.pkl")
"""


def dump(db: Path) -> list[str]:
    """The whole database as SQL, read through SQLite (the WAL included)."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return list(conn.iterdump())


async def test_damaged_state_files_leave_the_mlflow_store_untouched(
    client: LanguageClient, project: Path
) -> None:
    home = project / ".lensflow"
    (project / "tiny.py").write_text(TINY)
    run = await execute(client, "lensflow.trackRun", {"script": "tiny.py"})
    assert run["status"] == "FINISHED", run["outputTail"]
    await execute(
        client, "lensflow.registerModel",
        {"runId": run["runId"], "modelName": "tiny", "modelPath": "model.pkl",
         "modelFramework": "ScikitLearn"},
    )  # fmt: skip
    await execute(client, "lensflow.createCluster", {"name": "dev"})
    runs_before = await execute(client, "lensflow.listRuns", {})
    models_before = await execute(client, "lensflow.listModels")
    before = dump(home / "mlflow.db")

    cluster_file = home / "clusters" / "dev" / "cluster.json"
    cluster_file.write_bytes(cluster_file.read_bytes()[:40])  # truncated mid-write
    ghost = home / "services" / "ghost" / "service.json"
    for command, damaged in (
        ("lensflow.listClusters", cluster_file),
        ("lensflow.listServices", ghost),  # a service.json cut short, written here
    ):
        if damaged == ghost:
            ghost.parent.mkdir(parents=True)
            ghost.write_text('{"name": "ghost", "port": ')
        listed = await execute(client, command, {})
        assert listed[command.removeprefix("lensflow.list").lower()] == [], command
        (record,) = listed["damaged"]
        assert (record["name"], record["kind"]) == (damaged.parent.name, "storeError"), command
        assert record["path"] == str(damaged)
        assert str(damaged) in record["message"] and "is damaged" in record["message"]
        backup = damaged.with_name(damaged.name + ".bak")
        assert backup.read_bytes() == damaged.read_bytes()  # the evidence
    error = await error_of(client, "lensflow.getServiceKeys", {"serviceName": "ghost"})
    assert (error.code, data(error)["kind"]) == (-32008, "storeError")
    assert data(error)["path"] == str(ghost) and "lensflow.cleanUp" in error.message

    # Tracking and the registry never looked at those files: same answers, same database.
    assert await execute(client, "lensflow.listRuns", {}) == runs_before
    assert await execute(client, "lensflow.listModels") == models_before
    detail = await execute(client, "lensflow.getRun", {"runId": run["runId"]})
    assert detail["metrics"] == {"loss": 0.2} and detail["params"] == {"alpha": "0.03"}
    deleted = await execute(client, "lensflow.cleanUp", {"all": True})
    assert {(d["kind"], d["name"]) for d in deleted["deleted"]} == {
        ("cluster", "dev"), ("service", "ghost"),
    }  # fmt: skip
    assert dump(home / "mlflow.db") == before
    history = store_of(home).get_metric_history(run["runId"], "loss")
    assert [(m.step, m.value) for m in history] == [(s, 1.0 / (s + 1)) for s in range(5)]


# --- a full disk while logging ---------------------------------------------------------------
FILL_ARTIFACT = """\
import mlflow
for step in range(50):
    mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
print("50 metrics logged", flush=True)
with open("big.bin", "wb") as out:  # in the project: the copy into the store fills the disk
    out.write(bytes(48 << 20))
mlflow.log_artifact("big.bin")
print("artifact logged", flush=True)
"""

FILL_DISK = """\
import os, sqlite3, time, mlflow
for step in range(50):
    mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
print("50 metrics logged", flush=True)
# SQLite's WAL reuses its file once checkpointed: empty it, so that the next write must grow it.
db = sqlite3.connect(os.environ["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"), timeout=10)
for _ in range(100):
    busy, frames, done = db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    if not busy:
        break
    time.sleep(0.1)
db.close()
print("WAL emptied:", (busy, frames, done) == (0, 0, 0), flush=True)
try:  # someone else fills the disk, and it stays full
    with open(os.environ["FILLER"], "wb") as out:
        while True:
            out.write(bytes(1 << 20))
except OSError as exc:
    print("disk filled:", exc, flush=True)
for step in range(50, 100):
    mlflow.log_metric("loss", 1.0 / (step + 1), step=step)
print("100 metrics logged", flush=True)
"""


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MiB tmpfs: a real ENOSPC. Mounting needs root (CAP_SYS_ADMIN), as in CI here."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m,mode=0700", "tmpfs", str(disk)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if mounted.returncode != 0:
        pytest.fail(f"this test mounts a tmpfs and needs root: {mounted.stderr.strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def loss_history(home: Path, run_id: str) -> list[tuple[int, float]]:
    return [(m.step, m.value) for m in store_of(home).get_metric_history(run_id, "loss")]


async def test_full_disk_gives_a_clear_error_and_keeps_earlier_data(
    small_disk: Path, client: LanguageClient, project: Path
) -> None:
    home = small_disk / "home"
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"home": str(home)}})
    )
    earlier = [(step, 1.0 / (step + 1)) for step in range(50)]

    # 1. The artifact does not fit: the script fails, the run says why, the metrics stay.
    (project / "fill_artifact.py").write_text(FILL_ARTIFACT)
    first = await execute(client, "lensflow.trackRun", {"script": "fill_artifact.py"})
    assert first["status"] == "FAILED"
    assert "No space left on device" in first["outputTail"]
    assert "artifact logged" not in first["outputTail"]
    assert loss_history(home, first["runId"]) == earlier
    assert "big.bin" not in first["artifacts"] and "outputs/std_log.txt" in first["artifacts"]

    # 2. The disk stays full: the store cannot even record the end. A clear error, naming the
    # run and the cause; what was logged before is kept and readable.
    (project / "fill_disk.py").write_text(FILL_DISK)
    filler = small_disk / "filler.bin"
    with pytest.raises(JsonRpcException) as caught:
        await execute(
            client, "lensflow.trackRun",
            {"script": "fill_disk.py", "env": {"FILLER": str(filler)}},
        )  # fmt: skip
    error = caught.value
    run_id = str(data(error)["runId"])
    print(f"\nfull disk → {error.code} {error.message}")
    assert (error.code, data(error)["kind"]) == (-32008, "storeError")
    assert run_id in error.message and "disk is full" in error.message
    assert "database or disk is full" in data(error)["outputTail"]
    streamed = "".join(
        n["text"] for n in notes(client, "lensflow/runOutput") if n["runId"] == run_id
    )
    assert "WAL emptied: True" in streamed and "disk filled" in streamed
    assert "100 metrics logged" not in streamed
    assert loss_history(home, run_id) == earlier
    runs = await execute(client, "lensflow.listRuns", {})  # readable while the disk is full
    assert {r["runId"]: r["status"] for r in runs["runs"]} == {
        first["runId"]: "FAILED", run_id: "RUNNING",
    }  # fmt: skip

    # Space again: the next server closes the run FAILED, and nothing was lost.
    filler.unlink()
    again = await new_server(project, home=str(home))
    try:
        runs = await execute(again, "lensflow.listRuns", {})
        assert {r["runId"]: r["status"] for r in runs["runs"]} == {
            first["runId"]: "FAILED", run_id: "FAILED",
        }  # fmt: skip
        assert loss_history(home, run_id) == earlier and loss_history(home, first["runId"])
        third = await execute(again, "lensflow.trackRun", {"script": "fill_artifact.py"})
        assert third["status"] == "FAILED" and loss_history(home, third["runId"]) == earlier
    finally:
        await close(again)
    with contextlib.closing(sqlite3.connect(home / "mlflow.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
