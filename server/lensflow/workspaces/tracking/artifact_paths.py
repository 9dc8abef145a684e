"""Artifact paths a registration may use: inside the run's artifacts, and no links out of them."""

from __future__ import annotations

import os
import posixpath

from lensflow_protocol.errors import InvalidPath


def safe_artifact_path(path: str) -> str:
    """The artifact path, normalised; refuses any path that leaves the run's artifact folder."""
    cleaned = path.replace("\\", "/").strip()
    normal = posixpath.normpath(cleaned)
    if cleaned.startswith("/") or normal == ".." or normal.startswith("../") or normal == ".":
        raise InvalidPath(
            f"Artifact path {path!r} leaves the run's artifacts; give a path inside the run, "
            "such as 'model.pkl' or 'outputs/model'.",
            path=path,
        )
    return normal


def mlflow_folder_for(path: str) -> str:
    """Where registerModel logs the MLflow model made of a run's model file: beside it, named
    after it (`model.pkl` → `model_mlflow`, `out/net` → `out/net_mlflow`)."""
    folder, name = posixpath.split(path)
    return posixpath.join(folder, f"{posixpath.splitext(name)[0] or name}_mlflow")


def local_path(uri: str) -> str | None:
    """The file-system path of a local artifact URI (a path or file://), else None."""
    if uri.startswith("file://"):
        return uri.removeprefix("file://")
    return uri if "://" not in uri and ":" not in uri.split("/", 1)[0] else None


def refuse_escapes(root: str, path: str) -> None:
    """Refuses `path` under `root` when it, or anything inside it, resolves outside `root`:
    a symlink a script planted among its artifacts must not lend the registry another file."""
    top = os.path.realpath(root)
    target = os.path.join(root, path)
    found = [target]
    if os.path.isdir(target) and not os.path.islink(target):
        for folder, dirs, files in os.walk(target):
            found += [os.path.join(folder, name) for name in dirs + files]
    for entry in found:
        if os.path.commonpath([top, os.path.realpath(entry)]) != top:
            raise InvalidPath(
                f"Artifact {path!r} leads out of the run's artifacts ({entry} is a link to "
                f"{os.path.realpath(entry)}); log the model file itself, not a link to it.",
                path=path,
            )
