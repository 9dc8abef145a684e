"""Local inference clusters and no-code services (blocking: callers run it in a thread).

A cluster is a supervisord, sized from its VM size; a service is a supervised uvicorn serving
Lensflow's scoring app on 127.0.0.1. Records live under `<home>`, and every answer asks the
processes for their live state, so a restarted server or a second one sees the same services.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import subprocess
import sys
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lensflow_protocol.deployment import (
    CleanUpResult,
    ClusterInfo,
    CreateClusterArgs,
    Deleted,
    DeployArgs,
    ServiceInfo,
    ServiceKeys,
    ServiceLogs,
    ServiceState,
)
from lensflow_protocol.errors import (
    Conflict,
    InvalidPath,
    LensflowError,
    NotFound,
    StoreError,
    Unreachable,
)

from ...processes import free_port, kill_pids, pids_with_env, tail_file
from ..placement import refuse_attach, require_cluster
from .capacity import Pod, admit, cluster_capacity, mebibytes, millicores
from .state import ClusterRecord, ServiceRecord, Store, ping, socket_for
from .supervisor import Supervisor

log = logging.getLogger(__name__)

WAIT_S = 60.0
RPC_ERRORS = (OSError, xmlrpc.client.Error, http.client.HTTPException)


@dataclass(frozen=True)
class ModelArtifact:
    name: str
    version: int
    framework: str
    path: Path
    script: str | None = None  # the training script of the version's run, for lenses


class LocalDeployments:
    def __init__(self, home: Path, python: str = sys.executable) -> None:
        self.store = Store(home)
        self.python = python

    def _supervisor(self, name: str) -> Supervisor:
        """The cluster's supervisord, found even when cluster.json is damaged or gone."""
        folder = self.store.cluster_dir(name)
        with contextlib.suppress(StoreError):
            if (record := self.store.cluster(name)) is not None:
                return Supervisor(folder, Path(record.socket))
        return Supervisor(folder, socket_for(folder))

    def _cluster(self, name: str | None) -> ClusterRecord:
        record = self.store.cluster(name := require_cluster(name, "local"))
        if record is None:
            raise NotFound(f"No cluster named {name!r}: create it first (lensflow.createCluster).")
        return record

    def create_cluster(self, args: CreateClusterArgs) -> ClusterInfo:
        refuse_attach(args, "local")
        capacity = cluster_capacity(args.vm_size, args.node_count, args.cluster_purpose)
        folder = self.store.cluster_dir(args.name)
        with self.store.lock():
            if folder.exists():
                raise Conflict(f"A cluster named {args.name!r} exists: pick another name or "
                               "clean it up first.", name=args.name)  # fmt: skip
            folder.mkdir(parents=True)
            record = ClusterRecord(
                name=args.name, vm_size=capacity.vm.name, node_count=args.node_count,
                cluster_purpose=args.cluster_purpose, location=args.location,
                cpu_cores=capacity.cpu_cores, memory_gb=capacity.memory_gb,
                socket=str(socket_for(folder)),
            )  # fmt: skip
            self.store.save(record)
            supervisor = self._supervisor(record.name)
            try:
                supervisor.write_conf(f"lensflow-{args.name}")
                supervisor.start()
            except (OSError, ValueError, RuntimeError, subprocess.TimeoutExpired) as exc:
                log.error("cluster %s failed to start: %s", args.name, exc)
                record = record.model_copy(update={"error": f"supervisord failed: {exc}"})
                self.store.save(record)
        return record.info(supervisor.alive(), services=[])

    def clusters(self) -> list[ClusterInfo]:
        services = self.store.all_services()
        records = [self.store.cluster(name) for name in self.store.cluster_names()]
        return [
            r.info(self._supervisor(r.name).alive(), services) for r in records if r is not None
        ]

    def _service(self, name: str) -> ServiceRecord:
        record = self.store.service(name)
        if record is None:
            raise NotFound(f"No service named {name!r}: deploy a model first (lensflow.deploy).")
        return record

    def deploy(
        self, args: DeployArgs, model: ModelArtifact, on_state: Callable[[str, str | None], None]
    ) -> ServiceInfo:
        folder = self.store.service_dir(args.service_name)
        with self.store.lock():
            cluster = self._cluster(args.cluster_name)
            if folder.exists():
                raise Conflict(f"A service named {args.service_name!r} exists: pick another name "
                               "or clean it up first.", name=args.service_name)  # fmt: skip
            supervisor = self._supervisor(cluster.name)
            if cluster.error or not supervisor.alive():
                raise Unreachable(f"Cluster {cluster.name} is not running: clean it up and create "
                                  "it again.", cluster=cluster.name)  # fmt: skip
            if not model.path.exists():
                raise InvalidPath(f"The model's file {model.path} is gone: register it again.")
            nodes = cluster_capacity(
                cluster.vm_size, cluster.node_count, cluster.cluster_purpose
            ).nodes
            services = self.store.all_services()
            placed = [
                Pod(node, millicores(s.cpu_cores), mebibytes(s.memory_gb))
                for s in services if s.cluster == cluster.name for node in s.placement
            ]  # fmt: skip
            placement = admit(nodes, placed, args.cpu_cores, args.memory_gb, args.replicas)
            record = ServiceRecord(
                name=args.service_name, cluster=cluster.name, model_name=model.name,
                model_version=model.version, model_framework=model.framework,
                model_path=str(folder / "model" / model.path.name),
                port=free_port({s.port for s in services}), auth_enabled=args.auth_enabled,
                cpu_cores=args.cpu_cores, memory_gb=args.memory_gb, replicas=args.replicas,
                placement=placement, script=model.script,
            )  # fmt: skip
            try:
                self.store.prepare_service(record, model.path)
                supervisor.add_program(self.store.program(record, self.python))
                self.store.save(record)
            except BaseException as exc:
                self._drop_service(args.service_name)
                if isinstance(exc, LensflowError) or not isinstance(exc, Exception):
                    raise
                raise StoreError(f"Could not start service {args.service_name}: {exc}") from exc
        log.info("service %s starting on port %d", record.name, record.port)
        on_state("Transitioning", None)
        if not args.wait:
            return record.info("Transitioning", None)
        return self._wait(record, supervisor, on_state)

    def _wait(
        self, record: ServiceRecord, supervisor: Supervisor,
        on_state: Callable[[str, str | None], None],
    ) -> ServiceInfo:  # fmt: skip
        deadline = time.monotonic() + WAIT_S
        while True:
            if self.store.service(record.name) is None:
                raise NotFound(f"Service {record.name} was cleaned up while it was starting.")
            state, error = self._live(record, supervisor.alive())
            if state == "Healthy":
                on_state("Healthy", None)
                return record.info(state, None)
            if state == "Failed" or time.monotonic() > deadline:
                if state != "Failed":
                    error = self._failure(record, f"did not answer /ping within {WAIT_S:.0f} s")
                    # Stopped, it reads Failed from now on instead of Unhealthy.
                    with contextlib.suppress(*RPC_ERRORS):
                        supervisor.rpc(30.0).supervisor.stopProcessGroup(record.name)
                with self.store.lock():
                    if self.store.service(record.name) is not None:
                        self.store.save(record.model_copy(update={"error": error}))
                on_state("Failed", error)
                return record.info("Failed", error)
            time.sleep(0.2)

    def _failure(self, record: ServiceRecord, why: str) -> str:
        lines = tail_file(self.store.service_dir(record.name) / "service.log", 30)
        return f"Service {record.name} {why}. Its log ends with:\n" + "\n".join(lines)

    def _live(self, record: ServiceRecord, cluster_alive: bool) -> tuple[ServiceState, str | None]:
        """(state, error) from supervisord's view of the process and a /ping."""
        if not cluster_alive:
            return "Failed", f"Its cluster {record.cluster} is not running: clean it up."
        try:
            info = self._supervisor(record.cluster).info(record.name)
        except RPC_ERRORS:
            return "Failed", f"Its cluster {record.cluster} stopped answering."
        status = str(info["statename"]) if info else "unknown to its cluster's supervisord"
        if status in ("RUNNING", "STARTING", "BACKOFF", "EXITED"):
            key = self.store.keys(record.name)["primaryKey"] if record.auth_enabled else None
            if ping(record.port, key):
                if not record.healthy_once:
                    self._mark_healthy(record.name)
                return "Healthy", None
            return ("Unhealthy" if record.healthy_once else "Transitioning"), None
        if record.error:
            return "Failed", record.error
        why = "could not start (FATAL: supervisord gave up retrying)" if status == "FATAL" else ""
        return "Failed", self._failure(record, why or f"is {status}")

    def _mark_healthy(self, name: str) -> None:
        # Remembered so that a later outage reads Unhealthy, not a first start.
        with self.store.lock():
            record = self.store.service(name)
            if record is not None and not record.healthy_once:
                self.store.save(record.model_copy(update={"healthy_once": True}))

    def _describe(self, records: list[ServiceRecord]) -> list[ServiceInfo]:
        alive: dict[str, bool] = {}
        for record in records:
            if record.cluster not in alive:
                found = self.store.cluster(record.cluster) is not None
                alive[record.cluster] = found and self._supervisor(record.cluster).alive()
        return [r.info(*self._live(r, alive[r.cluster])) for r in records]

    def services(self, cluster: str | None = None) -> list[ServiceInfo]:
        return self._describe(
            [s for s in self.store.all_services() if cluster in (None, s.cluster)]
        )

    def service(self, name: str) -> ServiceInfo:
        return self._describe([self._service(name)])[0]

    def keys(self, name: str) -> ServiceKeys:
        keys = self.store.keys(self._service(name).name)
        return ServiceKeys(primary_key=keys["primaryKey"], secondary_key=keys["secondaryKey"])

    def logs(self, name: str, tail: int) -> ServiceLogs:
        folder = self.store.service_dir(self._service(name).name)
        return ServiceLogs(lines=tail_file(folder / "service.log", tail))

    def clean_up(
        self, *, service: str | None = None, cluster: str | None = None, all: bool = False
    ) -> CleanUpResult:
        deleted: list[Deleted] = []
        with self.store.lock():
            if service is not None:
                deleted += self._drop_service(service)
            if cluster is not None:
                deleted += self._drop_cluster(cluster)
            if all:
                for name in self.store.cluster_names():
                    deleted += self._drop_cluster(name)
                for name in self.store.service_names():
                    deleted += self._drop_service(name)
        return CleanUpResult(deleted=deleted)

    def _readable(self, name: str) -> ServiceRecord | None:
        with contextlib.suppress(StoreError):
            return self.store.service(name)
        return None  # damaged: removed all the same, from every cluster it could be on

    def _drop_service(self, name: str) -> list[Deleted]:
        folder = self.store.service_dir(name)
        if not self.store.valid(name) or not folder.exists():
            return []
        record = self._readable(name)
        for cluster_name in [record.cluster] if record else self.store.cluster_names():
            supervisor = self._supervisor(cluster_name)
            try:
                if supervisor.alive():
                    supervisor.remove_program(name)
            except RPC_ERRORS as exc:
                log.warning("could not stop %s through its supervisord: %s", name, exc)
            (supervisor.folder / "programs" / f"{name}.conf").unlink(missing_ok=True)
        # Whatever supervisord could not stop (it was killed, or a worker was orphaned).
        kill_pids(pids_with_env(self.store.marker(name)))
        self.store.remove(folder)
        log.info("service %s removed", name)
        return [Deleted(kind="service", name=name)]

    def _drop_cluster(self, name: str) -> list[Deleted]:
        folder = self.store.cluster_dir(name)
        if not self.store.valid(name) or not folder.exists():
            return []
        deleted: list[Deleted] = []
        for service in self.store.service_names():
            record = self._readable(service)
            if record is not None and record.cluster == name:
                deleted += self._drop_service(service)
        self._supervisor(name).shutdown()
        self.store.remove(folder)
        log.info("cluster %s removed", name)
        return [*deleted, Deleted(kind="cluster", name=name)]
