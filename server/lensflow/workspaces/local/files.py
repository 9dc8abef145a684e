"""The local cluster's files: JSON written atomically, and the private folder for its sockets.

A damaged state file is kept aside (`.bak`) and reported as a `StoreError` that says how to
start afresh: a person can act on it, and nothing overwrites the evidence first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from lensflow_protocol.errors import StoreError

log = logging.getLogger(__name__)


def write_json(path: Path, data: Any, mode: int = 0o644) -> None:
    """Writes whole or not at all: a crash leaves the old file or the new one, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=2)
            out.write("\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_json(path: Path) -> Any:
    """The file's JSON, or None when it does not exist; a damaged file raises `StoreError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise damaged(path, str(exc)) from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise damaged(path, f"not valid JSON: {exc}") from exc


def damaged(path: Path, why: str) -> StoreError:
    """The error for a damaged state file, once a copy of it is kept beside it."""
    backup = path.with_name(path.name + ".bak")
    # Listings meet a damaged file at every call: copied and logged once, not at every look.
    if not _same(path, backup):
        with contextlib.suppress(OSError):
            shutil.copy2(path, backup)  # keep the evidence before anyone rewrites or deletes it
        log.error("state file %s is damaged (%s); copy kept in %s", path, why, backup)
    return StoreError(
        f"Lensflow's state file {path} is damaged ({why}). A copy is in {backup}. Clean up "
        f"this {path.parent.parent.name[:-1]} (lensflow.cleanUp) or delete {path.parent} "
        "to start afresh.",
        path=str(path),
        backup=str(backup),
    )


def _same(path: Path, backup: Path) -> bool:
    try:
        return path.read_bytes() == backup.read_bytes()
    except OSError:
        return False


def runtime_dir() -> Path:
    """A short, private folder for unix sockets (their paths are limited to ~107 bytes)."""
    folder = Path(f"/tmp/lensflow-{os.getuid()}")
    folder.mkdir(mode=0o700, exist_ok=True)
    info = folder.lstat()
    if info.st_uid != os.getuid() or not folder.is_dir() or folder.is_symlink():
        raise StoreError(f"{folder} belongs to someone else; remove it and try again.")
    if info.st_mode & 0o077:
        folder.chmod(0o700)
    return folder


def socket_for(folder: Path) -> Path:
    """The supervisord socket of the cluster in `folder`: the same for every reader of it."""
    digest = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:16]
    return runtime_dir() / f"{digest}.sock"
