"""Where a target URI's workspace is, and a model URI's files: `models:/` through Lensflow's
own registry code (the same rules as the language server's deploy), `runs:/` downloaded.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lensflow_protocol.errors import InvalidPath, NotFound
from lensflow_protocol.settings import Settings

from lensflow import frameworks
from lensflow.settings import resolve
from lensflow.workspaces.local.deployments import ModelArtifact
from lensflow.workspaces.tracking.artifact_paths import safe_artifact_path
from lensflow.workspaces.tracking.mlflow_store import MlflowStore
from lensflow.workspaces.tracking.tags import SCRIPT_TAG

from .errors import invalid

URI_FORMS = "models:/<name>/<version>, models:/<name>/latest, models:/<name>@<alias> or " \
            "runs:/<run_id>/<path>"  # fmt: skip
# A runs:/ model has no registered version: 0 says so where a version number must stand.
UNREGISTERED = 0


@dataclass(frozen=True)
class Target:
    home: Path
    tracking_uri: str


def target_of(target_uri: str) -> Target:
    """`lensflow`: the current folder's workspace; `lensflow:/abs/path`: that folder's. Its home
    follows the language server's default rule (settings.resolve), so both share one state."""
    _, _, rest = target_uri.partition(":")
    root = Path(rest).expanduser() if rest else Path.cwd()
    home = resolve(Settings(), root.absolute()).home
    # MLflow's own variable first, as every MLflow tool reads it; else the workspace's store.
    uri = os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{home / 'mlflow.db'}"
    return Target(home=home, tracking_uri=uri)


def resolve_model(target: Target, model_uri: str, scratch: Path) -> ModelArtifact:
    """The model's local files, name, version, framework and training script."""
    scheme, _, rest = model_uri.partition(":/")
    if scheme not in ("models", "runs") or not rest:
        raise invalid(f"Model URI {model_uri!r} is not one the lensflow target takes: {URI_FORMS}.")
    if target.tracking_uri.startswith("sqlite:///"):
        db = Path(target.tracking_uri.removeprefix("sqlite:///"))
        if not db.exists():  # MLflow would create an empty store here, then find nothing
            raise NotFound(
                f"No tracking store at {db}: train and register a model with Lensflow in "
                f"{target.home.parent} first, or set MLFLOW_TRACKING_URI."
            )
    store = MlflowStore(target.tracking_uri)
    if scheme == "models":
        return _registered(store, rest.strip("/"))
    return _from_run(store, rest.strip("/"), scratch)


def _registered(store: MlflowStore, rest: str) -> ModelArtifact:
    name, at, alias = rest.partition("@")
    version: int | None = None
    if at:
        found = store.client.get_model_version_by_alias(name, alias)
        version = int(found.version)
    else:
        name, _, number = rest.rpartition("/")
        if not name or not (number.isdigit() or number == "latest"):
            raise invalid(f"models:/{rest} names no version: {URI_FORMS}.")
        version = None if number == "latest" else int(number)
    files = store.model_artifact(name, version)
    return ModelArtifact(
        name=files["name"], version=files["version"], framework=files["framework"],
        path=Path(files["path"]), script=files["script"],
    )  # fmt: skip


def _from_run(store: MlflowStore, rest: str, scratch: Path) -> ModelArtifact:
    from mlflow.artifacts import download_artifacts

    run_id, _, path = rest.partition("/")
    if not path:
        raise invalid(f"runs:/{rest} names no artifact path: runs:/<run_id>/<path>.")
    path = safe_artifact_path(path)  # never a file outside the run's artifacts
    run = store.get_run(run_id)  # a clear NotFound before any download
    local = Path(
        download_artifacts(
            artifact_uri=f"runs:/{run_id}/{path}",
            dst_path=tempfile.mkdtemp(dir=scratch),
            tracking_uri=store.tracking_uri,
        )
    )
    if local.is_dir():
        framework = frameworks.of_folder({p.name for p in local.iterdir()})
    else:
        framework = frameworks.of_file(local.name)
    if framework is None:
        raise InvalidPath(
            f"Cannot tell the framework of {path!r} in run {run_id}: Lensflow serves "
            f"{frameworks.spoken(frameworks.FACTS)} models (a .pkl/.joblib file, an .onnx file, "
            "a SavedModel folder or an MLflow model folder).",
            path=path,
        )
    # Named by its URI, since no registered name fits; the run's script lets lenses find it.
    return ModelArtifact(
        name=f"runs:/{run_id}/{path}", version=UNREGISTERED, framework=framework, path=local,
        script=run.tags.get(SCRIPT_TAG),
    )  # fmt: skip
