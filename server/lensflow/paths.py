"""Where a script named on the wire lives on disk."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlparse

from lensflow_protocol.errors import InvalidPath, LensflowError, NotFound

SCRIPT_SUFFIXES = (".py", ".ipynb")


def uri_to_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise InvalidPath(f"Only file URIs can be run, not {uri!r}.", script=uri)
    return Path(unquote(parsed.path))


def script_path(script: str, root: Path) -> Path:
    """The absolute path a wire `script` names (a path or file URI, relative to `root`)."""
    try:
        path = uri_to_path(script) if "://" in script else Path(script).expanduser()
        if not path.is_absolute():
            path = root / path
        return path.resolve()
    # "~nobody/x.py" (no such user), "file://[/x" (no URI), a lone surrogate (no file name)
    except (OSError, ValueError, RuntimeError) as exc:
        raise InvalidPath(f"Cannot use {script!r} as a script path: {exc}", script=script) from exc


def resolve_script(script: str, root: Path) -> Path:
    """An existing training script, as an absolute path; relative paths start at `root`."""
    try:
        path = script_path(script, root)
        is_file = path.is_file()
    except (OSError, ValueError) as exc:  # a name too long, a loop of links, …
        raise InvalidPath(f"Cannot use {script!r} as a script path: {exc}", script=script) from exc
    if not is_file:
        where = "" if path.parent.is_dir() else f" (and {path.parent} does not exist)"
        raise NotFound(f"No script at {path}{where}.", script=str(path))
    if path.suffix not in SCRIPT_SUFFIXES:
        raise InvalidPath(
            f"{path.name} is not a Python script; trackRun runs .py files and .ipynb notebooks.",
            script=str(path),
        )
    return path


def script_key(uri: str) -> str | None:
    """The key a document's runs are kept under: its resolved path (None if not a file)."""
    try:
        return str(uri_to_path(uri).resolve())
    except LensflowError:
        return None
