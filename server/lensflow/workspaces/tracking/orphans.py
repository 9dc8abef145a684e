"""Runs whose training process died without recording their end, and how to tell.

run_bootstrap.py writes `tags.PROCESS_TAG` in the child; the store closes a RUNNING run whose
process is gone when it next opens, and says why in `tags.END_REASON_TAG`.
"""

from __future__ import annotations

import json
import os

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
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as boot:
            if boot.read().strip() != info["bootId"]:
                return True
        if info["pidNs"] != os.readlink("/proc/self/ns/pid"):
            return False
    except (ValueError, KeyError, TypeError, OSError):
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return True
    return fields[0] in ("Z", "X") or int(fields[19]) != start
