"""Removing services and clusters: supervisord programs, stray processes, folders.

It works whatever state a record is in: readable, damaged (the program is found by its config
in a cluster's supervisord) or never written (an interrupted deploy or createCluster). Callers
hold the store's lock.
"""

from __future__ import annotations

import contextlib
import http.client
import logging
import xmlrpc.client
from pathlib import Path

from lensflow_protocol.deployment import Deleted
from lensflow_protocol.errors import StoreError

from ...processes import kill_pids, pids_with_env
from ...scoring import cgroups
from . import inventory
from .files import socket_for
from .state import ServiceRecord, Store
from .supervisor import Supervisor

log = logging.getLogger(__name__)

RPC_ERRORS = (OSError, xmlrpc.client.Error, http.client.HTTPException)


def supervisor_of(store: Store, name: str) -> Supervisor:
    """The cluster's supervisord, found even when cluster.json is damaged or gone."""
    folder = store.cluster_dir(name)
    with contextlib.suppress(StoreError):
        if (record := store.cluster(name)) is not None:
            return Supervisor(folder, Path(record.socket))
    return Supervisor(folder, socket_for(folder))


def _readable(store: Store, name: str) -> ServiceRecord | None:
    with contextlib.suppress(StoreError):
        return store.service(name)
    return None  # damaged: removed all the same, from every cluster it could be on


def drop_program(store: Store, cluster: str, name: str) -> None:
    """Stops and removes the service's program from the cluster's supervisord."""
    supervisor = supervisor_of(store, cluster)
    try:
        if supervisor.alive():
            supervisor.remove_program(name)
    except RPC_ERRORS as exc:
        log.warning("could not stop %s through its supervisord: %s", name, exc)
    store.program_conf(cluster, name).unlink(missing_ok=True)


def drop_service(store: Store, name: str) -> list[Deleted]:
    folder = store.service_dir(name)
    if not store.valid(name) or not folder.exists():
        return []
    record = _readable(store, name)
    for cluster in [record.cluster] if record else store.cluster_names():
        drop_program(store, cluster, name)
    # Whatever supervisord could not stop (it was killed, or a worker was orphaned).
    kill_pids(pids_with_env(store.marker(name)))
    if stuck := cgroups.remove(folder):  # its processes are gone: nothing should hold them
        log.warning("service %s: cgroups left behind (still in use): %s", name, stuck)
    store.remove(folder)
    log.info("service %s removed", name)
    return [Deleted(kind="service", name=name)]


def drop_cluster(store: Store, name: str) -> list[Deleted]:
    folder = store.cluster_dir(name)
    if not store.valid(name) or not folder.exists():
        return []
    records, damaged = inventory.services(store)
    on_it = [r.name for r in records if r.cluster == name]
    on_it += [d.name for d in damaged if d.cluster == name]
    deleted = [gone for service in on_it for gone in drop_service(store, service)]
    supervisor_of(store, name).shutdown()
    store.remove(folder)
    log.info("cluster %s removed", name)
    return [*deleted, Deleted(kind="cluster", name=name)]


def reap(store: Store) -> list[Deleted]:
    """Removes what an interrupted deploy or createCluster left: a service program nobody
    lists must not run on. The caller holds the lock, so none of it is in progress."""
    found = inventory.leftovers(store)
    deleted: list[Deleted] = []
    for cluster, service in found.programs:
        log.warning("service %s runs on cluster %s with no folder: removing it", service, cluster)
        drop_program(store, cluster, service)
        kill_pids(pids_with_env(store.marker(service)))
    for service in found.services:
        log.warning("service %s has a folder and no record (a deploy was interrupted): "
                    "removing it", service)  # fmt: skip
        deleted += drop_service(store, service)
    for cluster in found.clusters:
        log.warning("cluster %s has a folder and no record (its creation was interrupted): "
                    "removing it", cluster)  # fmt: skip
        deleted += drop_cluster(store, cluster)
    return deleted


def reap_if_idle(store: Store) -> list[Deleted]:
    """`reap`, from a reader: only when leftovers show and no change holds the lock (one in
    progress has a folder without a record until it finishes: not a leftover)."""
    if not inventory.leftovers(store):
        return []
    with store.lock(wait=False) as held:
        return reap(store) if held else []
