"""The token a TCP client must send: made once, kept in a file only its owner can read.

Over TCP anyone who reaches the port could run code (lensflow.trackRun runs a script), so the
server only serves a client that proves it can read this file. stdio needs none: the editor
that started the server is its only client.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

MIN_TOKEN_CHARS = 32
"""A token file written by hand must hold at least this many characters (ours: 43, 256 bits)."""


class TokenFileError(Exception):
    """The token file cannot be used; the message says why and what to do."""


def default_token_path() -> Path:
    """`$XDG_STATE_HOME/lensflow/tcp-token`, else `~/.local/state/lensflow/tcp-token`: state
    the user owns, outside any workspace a repository could ship."""
    state = os.environ.get("XDG_STATE_HOME") or ""
    base = Path(state) if os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "lensflow" / "tcp-token"


def load_or_create_token(path: Path) -> str:
    """The token in `path`, made there first (256 random bits, mode 0600) when it is missing."""
    if not path.exists():
        _create(path)
    return _read(path)


def token_matches(sent: object, token: str) -> bool:
    """Constant time: how long the comparison takes says nothing about the token."""
    return isinstance(sent, str) and hmac.compare_digest(sent.encode(), token.encode())


def _create(path: Path) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)  # 32 bytes: 256 bits
    try:
        # O_EXCL: never writes through a file (or link) someone else put there first.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another server made it meanwhile: read theirs
    except OSError as exc:
        raise TokenFileError(f"cannot create the token file {path}: {exc.strerror}") from None
    with os.fdopen(fd, "w") as file:
        file.write(token + "\n")


def _read(path: Path) -> str:
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise TokenFileError(f"cannot read the token file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise TokenFileError(f"the token file {path} is not a regular file (a link?)")
    posix = os.name == "posix"  # Windows has neither owners by uid nor mode bits
    if posix and info.st_uid != os.getuid():
        raise TokenFileError(f"the token file {path} belongs to another user")
    if posix and info.st_mode & 0o077:
        raise TokenFileError(
            f"the token file {path} can be read by others (mode {stat.S_IMODE(info.st_mode):o});"
            f" make it private with `chmod 600 {path}`, or delete it to get a new token"
        )
    token = path.read_text(encoding="utf-8", errors="replace").strip()
    if len(token) < MIN_TOKEN_CHARS:
        raise TokenFileError(
            f"the token file {path} holds fewer than {MIN_TOKEN_CHARS} characters;"
            " delete it to get a new token"
        )
    return token
