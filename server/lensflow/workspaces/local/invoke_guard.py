"""Which local service invokeEndpoint may call: a Healthy one, on a port its own process holds.

A service's port is only recorded: once its process is gone, any program may bind that port,
and would receive the request, the service's key with it, and have its answer passed off as the
service's. So the port's holder is checked first, before anything is sent there (the live
state's /ping included), and then the live state: only a Healthy service is called.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensflow_protocol.deployment import ServiceInfo, ServiceState
from lensflow_protocol.errors import Conflict, NotFound, Unreachable

from ... import crashloop
from . import oom
from .cleanup import RPC_ERRORS, supervisor_of
from .port_owner import describe_holder, holder
from .supervisor import UP_STATES

if TYPE_CHECKING:
    from .deployments import LocalDeployments
    from .state import ServiceRecord

_LOGS = "Its log tells why: lensflow.getServiceLogs."


def checked_service(deployments: LocalDeployments, name: str) -> ServiceInfo:
    """The service, live, if it may be invoked; else a domain error, and nothing was sent."""
    record = deployments.store.service(name)
    if record is None:
        raise NotFound(f"No service named {name!r}: deploy a model first (lensflow.deploy).")
    pid, statename, process = _program(deployments, record)
    port = record.port
    unsent = f"Lensflow sent nothing to its port {port}, and not its key."
    if not pid:
        state = _state(deployments, record, statename)
        raise Unreachable(
            f"Service {name} is {state}: its process is not running ({process}). {unsent} "
            f"{_LOGS} If it does not come back, clean it up and deploy it again.",
            serviceName=name, state=state,
        )  # fmt: skip
    owner = holder(pid, port)
    if not owner.listening:
        state = _state(deployments, record, statename)
        raise Unreachable(
            f"Service {name} is {state}: its process {pid} does not listen on port {port} yet. "
            f"{unsent} Invoke it once it is Healthy (lensflow.listServices). {_LOGS}",
            serviceName=name, state=state,
        )  # fmt: skip
    if not owner.owned:
        raise Conflict(
            f"Port {port} of service {name} is held by {describe_holder(port)}, not by the "
            f"service's process {pid}. {unsent} Stop that process, or clean the service up and "
            "deploy it again (it gets a free port).",
            serviceName=name, port=port,
        )  # fmt: skip
    info = deployments.service(name)  # its /ping now reaches its own process
    if info.state != "Healthy":
        why = f": {info.error}" if info.error else ""
        raise Unreachable(
            f"Service {name} is {info.state}{why}\nOnly a Healthy service is invoked: {unsent} "
            f"Try again once lensflow.listServices shows it Healthy. {_LOGS}",
            serviceName=name, state=info.state,
        )  # fmt: skip
    return info


def _program(deployments: LocalDeployments, record: ServiceRecord) -> tuple[int, str, str]:
    """(pid, statename, what supervisord says of the program, in words); pid 0 when the
    program has no process, statename "" when supervisord does not know it or does not answer."""
    try:
        info = supervisor_of(deployments.store, record.cluster).info(record.name)
    except RPC_ERRORS:
        return 0, "", f"its cluster {record.cluster}'s supervisord does not answer"
    if info is None:
        return 0, "", f"unknown to its cluster {record.cluster}'s supervisord"
    statename = str(info.get("statename", ""))
    return int(info.get("pid") or 0), statename, f"supervisord says {statename}"


def _state(deployments: LocalDeployments, record: ServiceRecord, statename: str) -> ServiceState:
    """The state listServices would show, told without a /ping (the port may not be its own)."""
    if statename in UP_STATES:
        folder = deployments.store.service_dir(record.name)
        if crashloop.backing_off(folder, record.name):
            return "CrashLoopBackOff"
        if oom.last(folder, record.memory_gb, record.name)[1]:
            return "OOMKilled"
        return "Unhealthy" if record.healthy_once else "Transitioning"
    return "Failed"
