"""The workspace's services as the editor sees them, watched for crashes and recoveries.

`ServiceMonitor` owns the services last seen, the state last reported for each, the clean-ups
in flight and the watching task. It reports each state change once, through `send` (a
notification to the client) and a progress bar if one is given; lenses read `services`, so
building them never waits on the store. Knows no LSP: the server hands it callbacks.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from lensflow_protocol import names

from .periodic import Periodic

if TYPE_CHECKING:
    from lensflow_protocol.deployment import ListServicesResult, ServiceInfo, Termination

log = logging.getLogger(__name__)
INTERVAL_S = 0.4

Send = Callable[[str, Any], None]


class Reporter:
    """A workspace's `DeployEvents`: each change told once, and shown on a progress bar."""

    def __init__(self, monitor: ServiceMonitor, report: Callable[[str], None] | None) -> None:
        self._monitor, self._report = monitor, report

    def service_updated(self, name: str, state: str, error: str | None) -> None:
        if self._monitor.note_state(name, state, error) and self._report is not None:
            self._report(f"{name}: {state}")

    def cluster_updated(self, name: str, state: str, error: str | None) -> None:
        from lensflow_protocol.deployment import ClusterUpdatedParams

        params = ClusterUpdatedParams(name=name, state=state, error=error)
        self._monitor.send(names.CLUSTER_UPDATED, params.wire())
        if self._report is not None:
            self._report(f"cluster {name}: {state}")


class ServiceMonitor:
    def __init__(
        self,
        list_services: Callable[[], Awaitable[ListServicesResult]],
        send: Send,
        on_services_changed: Callable[[], Awaitable[None]],
    ) -> None:
        self._list = list_services
        self.send = send
        self._on_changed = on_services_changed
        # The services as last seen: lenses read this, cheaply.
        self.services: dict[str, ServiceInfo] = {}
        # Last reported state per service (with a crash loop's count), so each change is sent once.
        self._states: dict[str, str] = {}
        self._kills: dict[str, int] = {}  # OOM kills last reported per service
        self._cleanups = 0
        self._periodic = Periodic(self._look, INTERVAL_S, "service monitor")

    def start(self) -> None:
        """Watch services from now on (the first deployment command, or a warm start)."""
        self._periodic.start()

    async def stop(self) -> None:
        """Stop watching (at shutdown)."""
        await self._periodic.stop()

    def reporter(self, report: Callable[[str], None] | None = None) -> Reporter:
        return Reporter(self, report)

    def note_state(
        self, name: str, state: str, error: str | None, last: Termination | None = None
    ) -> bool:
        """Tells the client of a service's new state; False when it was known already."""
        from lensflow_protocol.deployment import ServiceUpdatedParams

        # In a crash loop each crash is news: its count and next restart are in the error; so
        # is each OOM kill, though the replica it hit may be back before the next look.
        seen = f"{state}: {error}" if state == "CrashLoopBackOff" else state
        kills = last.count if last else 0
        killed = kills > self._kills.get(name, 0)
        if self._states.get(name) == seen and not killed:
            return False
        self._states[name], self._kills[name] = seen, kills
        params = ServiceUpdatedParams(
            service_name=name, state=state, error=error, last_termination=last if killed else None
        )
        self.send(names.SERVICE_UPDATED, params.wire())
        return True

    def deployed(self, info: ServiceInfo) -> None:
        """A deploy answered: lenses show the service now, not at the next look."""
        self.services[info.service_name] = info

    def removed(self, name: str) -> None:
        self._states.pop(name, None)
        self._kills.pop(name, None)
        self.services.pop(name, None)

    @contextlib.asynccontextmanager
    async def cleaning(self) -> AsyncIterator[None]:
        """While services are being deleted they look Failed for a moment: that is no news."""
        self._cleanups += 1
        try:
            yield
        finally:
            self._cleanups -= 1

    async def _look(self) -> None:
        listed = await self._list()  # a bad workspace or a dead cluster: Periodic logs it
        if not self._cleanups:
            await self._seen(listed)

    async def _seen(self, listed: ListServicesResult) -> None:
        before = set(self.services)
        self.services = {s.service_name: s for s in listed.services}
        for name in set(self._states) - set(self.services):
            self._states.pop(name, None)
            self._kills.pop(name, None)
        news = [
            self.note_state(s.service_name, s.state, s.error, s.last_termination)
            for s in listed.services
        ]
        if before != set(self.services) or any(news):  # lenses show each service's state
            await self._on_changed()
