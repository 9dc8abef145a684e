"""What is on disk, record by record: readable records, damaged ones, and leftovers.

Each record stands alone. One that cannot be read is reported by name, with what is wrong and
how to fix it, and every other cluster and service still lists, deploys and cleans up. A folder
with no record at all is what an interrupted createCluster or deploy leaves behind: records are
saved last, under the lock, so a folder seen without one while holding the lock is a leftover.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lensflow_protocol.deployment import DamagedRecord
from lensflow_protocol.errors import Conflict, StoreError

from .state import ClusterRecord, ServiceRecord, Store

_PORT = re.compile(r" --port (\d+)( |$)", re.MULTILINE)


@dataclass(frozen=True)
class Damaged:
    """A record that cannot be read, and what its supervisord program still tells of it."""

    name: str
    error: StoreError
    cluster: str | None = None  # a service's cluster: the one whose supervisord runs it
    port: int | None = None

    def wire(self) -> DamagedRecord:
        path = self.error.details.get("path")
        return DamagedRecord(name=self.name, message=self.error.message, path=path)


@dataclass
class Leftovers:
    clusters: list[str] = field(default_factory=list)  # a folder without cluster.json
    services: list[str] = field(default_factory=list)  # a folder without service.json
    programs: list[tuple[str, str]] = field(default_factory=list)  # (cluster, service): no folder

    def __bool__(self) -> bool:
        return bool(self.clusters or self.services or self.programs)


def clusters(store: Store) -> tuple[list[ClusterRecord], list[Damaged]]:
    found: list[ClusterRecord] = []
    damaged: list[Damaged] = []
    for name in store.cluster_names():
        try:
            record = store.cluster(name)
        except StoreError as exc:
            damaged.append(Damaged(name, exc))
            continue
        if record is not None:
            found.append(record)
    return found, damaged


def services(store: Store) -> tuple[list[ServiceRecord], list[Damaged]]:
    found: list[ServiceRecord] = []
    damaged: list[Damaged] = []
    for name in store.service_names():
        try:
            record = store.service(name)
        except StoreError as exc:
            damaged.append(Damaged(name, exc, *program_of(store, name)))
            continue
        if record is not None:
            found.append(record)
    return found, damaged


def program_of(store: Store, service: str) -> tuple[str | None, int | None]:
    """The cluster that runs the service, and its port, read from its program's config: all
    that is known of a service whose record is damaged."""
    for cluster in store.cluster_names():
        try:
            text = store.program_conf(cluster, service).read_text(encoding="utf-8")
        except OSError:
            continue
        port = _PORT.search(text)
        return cluster, int(port.group(1)) if port else None
    return None, None


def leftovers(store: Store) -> Leftovers:
    """Folders without a record and programs without a folder. Only a holder of the lock may
    take them for leftovers: outside it they may be a create or deploy in progress."""
    found = Leftovers()
    for name in store.cluster_names():
        if not (store.cluster_dir(name) / "cluster.json").exists():
            found.clusters.append(name)
        programs = store.cluster_dir(name) / "programs"
        for conf in sorted(programs.glob("*.conf")) if programs.is_dir() else []:
            if store.valid(conf.stem) and not store.service_dir(conf.stem).exists():
                found.programs.append((name, conf.stem))
    for name in store.service_names():
        if not (store.service_dir(name) / "service.json").exists():
            found.services.append(name)
    return found


def refuse_taken(store: Store, name: str, damaged: list[Damaged]) -> None:
    """A new service cannot take the name of one on disk, readable or damaged."""
    for record in damaged:
        if record.name == name:
            path = record.error.details.get("path", store.service_dir(name))
            raise Conflict(
                f"A service named {name!r} exists, and its record {path} is damaged: clean it "
                "up (lensflow.cleanUp) first, then deploy again.",
                name=name, damaged=True,
            )  # fmt: skip
    if store.service_dir(name).exists():
        raise Conflict(f"A service named {name!r} exists: pick another name or clean it up "
                       "first.", name=name)  # fmt: skip
