"""Local inference clusters and no-code services (blocking: callers run it in a thread).

A cluster is a supervisord, sized from its VM size; a service is a supervised uvicorn serving
Lensflow's scoring app on 127.0.0.1. Records live under `<home>`, and every answer asks the
processes for their live state, so a restarted server or a second one sees the same services.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lensflow_protocol.deployment import (
    CleanUpResult,
    ClusterInfo,
    CreateClusterArgs,
    Deleted,
    DeployArgs,
    ListClustersResult,
    ListServicesResult,
    ServiceInfo,
    ServiceKeys,
    ServiceLogs,
)
from lensflow_protocol.errors import (
    Conflict,
    InvalidPath,
    LensflowError,
    NotFound,
    StoreError,
    Unreachable,
)

from ...processes import free_port, tail_file
from ...scoring import cgroups
from ..placement import refuse_attach, require_cluster
from . import inventory, live
from .capacity import Pod, admit, cluster_capacity, mebibytes, millicores
from .cleanup import RPC_ERRORS, drop_cluster, drop_service, reap, reap_if_idle, supervisor_of
from .inventory import Damaged
from .state import ClusterRecord, ServiceRecord, Store, socket_for
from .supervisor import Supervisor

log = logging.getLogger(__name__)

WAIT_S = 60.0


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
        return supervisor_of(self.store, name)

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
            reap(self.store)  # an interrupted create's folder must not keep its name taken
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

    def list_clusters(self) -> ListClustersResult:
        reap_if_idle(self.store)
        records, damaged = inventory.clusters(self.store)
        services, damaged_services = inventory.services(self.store)
        on: list[tuple[str | None, str]] = [(s.cluster, s.name) for s in services]
        # A damaged service is on the cluster that runs its program: named there too.
        on += [(d.cluster, d.name) for d in damaged_services]
        return ListClustersResult(
            clusters=[
                r.info(self._supervisor(r.name).alive(), sorted(n for c, n in on if c == r.name))
                for r in records
            ],
            damaged=[d.wire() for d in damaged],
        )

    def clusters(self) -> list[ClusterInfo]:
        return self.list_clusters().clusters

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
            reap(self.store)  # an interrupted deploy's folder must not keep its name taken
            cluster = self._cluster(args.cluster_name)
            services, damaged = inventory.services(self.store)
            inventory.refuse_taken(self.store, args.service_name, damaged)
            supervisor = self._supervisor(cluster.name)
            if cluster.error or not supervisor.alive():
                raise Unreachable(f"Cluster {cluster.name} is not running: clean it up and create "
                                  "it again.", cluster=cluster.name)  # fmt: skip
            if not model.path.exists():
                raise InvalidPath(f"The model's file {model.path} is gone: register it again.")
            nodes = cluster_capacity(
                cluster.vm_size, cluster.node_count, cluster.cluster_purpose
            ).nodes
            # A damaged service's requests cannot be read: it holds no capacity (cleaning it up
            # is the fix), but its port stays taken.
            placed = [
                Pod(node, millicores(s.cpu_cores), mebibytes(s.memory_gb))
                for s in services if s.cluster == cluster.name for node in s.placement
            ]  # fmt: skip
            placement = admit(nodes, placed, args.cpu_cores, args.memory_gb, args.replicas)
            record = ServiceRecord(
                name=args.service_name, cluster=cluster.name, model_name=model.name,
                model_version=model.version, model_framework=model.framework,
                model_path=str(folder / "model" / model.path.name),
                port=free_port({s.port for s in services} | {d.port for d in damaged if d.port}),
                auth_enabled=args.auth_enabled,
                cpu_cores=args.cpu_cores, memory_gb=args.memory_gb, replicas=args.replicas,
                max_request_mb=args.max_request_mb, placement=placement, script=model.script,
            )  # fmt: skip
            try:
                self.store.prepare_service(record, model.path)
                record = self._enforce(record)
                supervisor.add_program(self.store.program(record, self.python))
                self.store.save(record)
            except BaseException as exc:
                drop_service(self.store, args.service_name)
                if isinstance(exc, LensflowError) or not isinstance(exc, Exception):
                    raise
                raise StoreError(f"Could not start service {args.service_name}: {exc}") from exc
        log.info("service %s starting on port %d", record.name, record.port)
        on_state("Transitioning", None)
        if not args.wait:
            return record.info("Transitioning", None)
        return self._wait(record, supervisor, on_state)

    def _enforce(self, record: ServiceRecord) -> ServiceRecord:
        """Each replica's cgroups with its limits, as AKS enforces them, where the machine
        allows them; else the record says why not."""
        hierarchy, why = cgroups.find()
        if hierarchy is None:
            log.info("service %s: limits not enforced: %s", record.name, why)
            return record.model_copy(update={"limits_enforced": False, "limits_note": why})
        folder = self.store.service_dir(record.name)
        memory, cpu = mebibytes(record.memory_gb), millicores(record.cpu_cores)
        cgroups.create(hierarchy, folder, record.replicas, memory, cpu)
        return record.model_copy(update={"limits_enforced": True, "limits_note": None})

    def _wait(
        self, record: ServiceRecord, supervisor: Supervisor,
        on_state: Callable[[str, str | None], None],
    ) -> ServiceInfo:  # fmt: skip
        deadline = time.monotonic() + WAIT_S
        while True:
            if self.store.service(record.name) is None:
                raise NotFound(f"Service {record.name} was cleaned up while it was starting.")
            state, error, _ = live.state(self.store, record, supervisor.alive())
            if state == "Healthy":
                on_state("Healthy", None)
                return record.info(state, None)
            if state in ("Failed", "CrashLoopBackOff") or time.monotonic() > deadline:
                if state != "Failed":  # a crash loop before any /ping: it cannot start
                    why = f"did not answer /ping within {WAIT_S:.0f} s"
                    looped = "could not start: it crashed on every start (CrashLoopBackOff)"
                    why = looped if state == "CrashLoopBackOff" else why
                    error = live.failure(self.store, record, why)
                    # Stopped, it reads Failed from now on instead of Unhealthy.
                    with contextlib.suppress(*RPC_ERRORS):
                        supervisor.rpc(30.0).supervisor.stopProcessGroup(record.name)
                with self.store.lock():
                    if self.store.service(record.name) is not None:
                        self.store.save(record.model_copy(update={"error": error}))
                on_state("Failed", error)
                return record.info("Failed", error)
            time.sleep(0.2)

    def _describe(self, records: list[ServiceRecord]) -> tuple[list[ServiceInfo], list[Damaged]]:
        """Each record's live state; one whose files cannot be read (keys.json) is damaged."""
        alive: dict[str, bool] = {}
        described: list[ServiceInfo] = []
        damaged: list[Damaged] = []
        for record in records:
            if record.cluster not in alive:
                # A damaged cluster.json still has its supervisord: ask that.
                found = self.store.cluster_dir(record.cluster).is_dir()
                alive[record.cluster] = found and self._supervisor(record.cluster).alive()
            try:
                if record.auth_enabled:
                    self.store.keys(record.name)  # keys it cannot hand out: damaged, said so
                now = live.state(self.store, record, alive[record.cluster])
                described.append(record.info(*now))
            except StoreError as exc:
                damaged.append(Damaged(record.name, exc, record.cluster, record.port))
        return described, damaged

    def list_services(self, cluster: str | None = None) -> ListServicesResult:
        reap_if_idle(self.store)
        records, damaged = inventory.services(self.store)
        described, unreadable = self._describe([r for r in records if cluster in (None, r.cluster)])
        # A damaged service whose cluster is unknown might be on any: listed with each.
        damaged = [
            d for d in [*damaged, *unreadable] if cluster in (None, d.cluster) or not d.cluster
        ]
        damaged.sort(key=lambda d: d.name)
        return ListServicesResult(services=described, damaged=[d.wire() for d in damaged])

    def services(self, cluster: str | None = None) -> list[ServiceInfo]:
        return self.list_services(cluster).services

    def service(self, name: str) -> ServiceInfo:
        described, damaged = self._describe([self._service(name)])
        if damaged:
            raise damaged[0].error
        return described[0]

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
                deleted += drop_service(self.store, service)
            if cluster is not None:
                deleted += drop_cluster(self.store, cluster)
            if all:
                for name in self.store.cluster_names():
                    deleted += drop_cluster(self.store, name)
                for name in self.store.service_names():
                    deleted += drop_service(self.store, name)
        return CleanUpResult(deleted=deleted)
