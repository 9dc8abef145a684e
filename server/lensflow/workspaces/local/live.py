"""A local service's live state: supervisord's view of its process, a /ping, the crash loop's
count and the kernel's OOM kills, read afresh on every look (listServices, the monitor, a
deploy waiting for Healthy), so every window of a workspace sees the same thing."""

from __future__ import annotations

from lensflow_protocol.deployment import ServiceState, Termination

from ... import crashloop
from ...processes import tail_file
from . import oom
from .cleanup import RPC_ERRORS, supervisor_of
from .state import ServiceRecord, Store, ping
from .supervisor import UP_STATES


def failure(store: Store, record: ServiceRecord, why: str) -> str:
    lines = tail_file(store.service_dir(record.name) / "service.log", 30)
    return f"Service {record.name} {why}. Its log ends with:\n" + "\n".join(lines)


def state(
    store: Store, record: ServiceRecord, cluster_alive: bool
) -> tuple[ServiceState, str | None, Termination | None]:
    """(state, error, last termination)."""
    folder = store.service_dir(record.name)
    killed, fresh = oom.last(folder, record.memory_gb, record.name)
    if not cluster_alive:
        return "Failed", f"Its cluster {record.cluster} is not running: clean it up.", killed
    try:
        info = supervisor_of(store, record.cluster).info(record.name)
    except RPC_ERRORS:
        return "Failed", f"Its cluster {record.cluster} stopped answering.", killed
    status = str(info["statename"]) if info else "unknown to its cluster's supervisord"
    if status in UP_STATES:
        if ping(record.port):
            if not record.healthy_once:
                _mark_healthy(store, record.name)
            crashloop.served(folder)
            return "Healthy", None, killed
        if looping := crashloop.backing_off(folder, record.name):
            return "CrashLoopBackOff", looping, killed
        if fresh and killed is not None:  # kubectl's STATUS until the restart answers
            return "OOMKilled", killed.message, killed
        return ("Unhealthy" if record.healthy_once else "Transitioning"), None, killed
    if record.error:
        return "Failed", record.error, killed
    why = "could not start (FATAL: supervisord gave up retrying)" if status == "FATAL" else ""
    return "Failed", failure(store, record, why or f"is {status}"), killed


def _mark_healthy(store: Store, name: str) -> None:
    # Remembered so that a later outage reads Unhealthy, not a first start.
    with store.lock():
        record = store.service(name)
        if record is not None and not record.healthy_once:
            store.save(record.model_copy(update={"healthy_once": True}))
