"""OOMKilled, as kubectl shows it: a replica the kernel killed for going over its memory limit.

The kernel counts the kills in each replica's cgroup (`scoring.cgroups.oom_kills`); the last
count seen and when it was first seen are kept in `oom.json` in the service's folder, so every
reader (the monitor, a listing, a second window) agrees on when it happened. The service's state
reads `OOMKilled` while it does not answer `/ping` in the half minute after a kill (the restart
it caused), and its `lastTermination` keeps the kill until the next one, as a pod's `Last
State` does.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from lensflow_protocol.deployment import Termination

from ...scoring import cgroups
from .files import write_json

FILE = "oom.json"
EXIT_CODE = 137  # 128 + SIGKILL: what Kubernetes shows for an OOM-killed container
FRESH_S = 30.0


def _seen(folder: Path) -> tuple[int, float]:
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        data = json.loads((folder / FILE).read_text(encoding="utf-8"))
        return int(data["kills"]), float(data["at"])
    return 0, 0.0


def last(folder: Path, memory_gb: float, name: str) -> tuple[Termination | None, bool]:
    """The service's last OOM kill, if any, and whether it is fresh (seen within FRESH_S); a new
    one is noted with the time it was first seen."""
    kills = cgroups.oom_kills(folder)
    seen, at = _seen(folder)
    if kills > seen:
        at = time.time()
        write_json(folder / FILE, {"kills": kills, "at": at})
    elif kills == 0:
        return None, False
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    termination = Termination(
        reason="OOMKilled", exit_code=EXIT_CODE, finished_at=when, count=max(kills, seen),
        message=(f"A replica of {name} went over its memory limit of {memory_gb:g} GB and the "
                 f"kernel killed it (exit code {EXIT_CODE}); it is restarted. Deploy it with "
                 "more memoryGb, or send fewer rows per request."),
    )  # fmt: skip
    return termination, time.time() - at < FRESH_S
