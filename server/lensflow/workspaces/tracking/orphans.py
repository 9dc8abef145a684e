"""Runs whose training process died without recording their end, and how to tell.

run_bootstrap.py writes `tags.PROCESS_TAG` in the child; the store closes a RUNNING run whose
process is gone when it next opens, and says why in `tags.END_REASON_TAG`.
"""

from __future__ import annotations

import json
import os

from ...processes import boot_id, pid_namespace, started_at

ORPHANED = (
    "its training process ended without recording the end (killed with -9, the machine "
    "stopped, or the store could not be written); Lensflow closed it when it next opened the store"
)


def process_gone(tag: str | None) -> bool:
    """True when the process a run's PROCESS_TAG names has surely ended on this machine.

    Unknown (no tag, another host, another container's pid namespace) is not gone. The start
    time guards against a reused pid, the boot id against a restarted machine."""
    try:
        info = json.loads(tag or "")
        pid, start = int(info["pid"]), int(info["start"])
        if info["host"] != os.uname().nodename:
            return False
        if boot_id() != info["bootId"]:
            return True
        if info["pidNs"] != pid_namespace():
            return False
    except (ValueError, KeyError, TypeError, OSError):
        return False
    try:
        now = started_at(pid)
    except OSError:
        return True
    return now != start
