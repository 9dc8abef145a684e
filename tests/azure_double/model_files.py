"""A registered model version's files, written out of the double's blob store for a scorer."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.azure_double.server import ArmError

if TYPE_CHECKING:
    from tests.azure_double.server import AzureDouble

_MODEL_ID = re.compile(r"/models/(?P<name>[^/]+)/versions/(?P<version>[^/]+)/?$", re.IGNORECASE)


@dataclass(frozen=True)
class ModelFiles:
    name: str
    version: str
    framework: str  # lensflow.scoring.config.FRAMEWORKS: "MLflow", "ScikitLearn", ...
    path: Path  # the MLflow folder (with MLmodel), or the model's file


def materialize(double: AzureDouble, model_id: str, folder: Path) -> ModelFiles:
    """Resolve ``.../models/<name>/versions/<v>`` and write its blobs under ``folder``.

    A 400 (ArmError) names what is missing, as Azure ML refuses a deployment of a model it
    cannot find; the modelUri's blobs are the ones the SDK uploaded to workspaceblobstore.
    """
    match = _MODEL_ID.search(model_id)
    if match is None:
        raise ArmError(400, "BadRequest", f"properties.model {model_id!r} is not a model version.")
    name, version = match["name"], match["version"]
    with double._lock:
        record = double.models.get(name)
        stored = record.versions.get(version) if record is not None else None
        if stored is None:
            raise ArmError(400, "BadRequest", f"Model {name}:{version} was not found.")
        model_uri = str(stored.body.get("modelUri") or "")
        model_type = str(stored.body.get("modelType") or "")
        tags = dict(stored.body.get("tags") or {})
        prefix = model_uri.partition("/paths/")[2].rstrip("/")
        blobs = {
            blob_name: blob.content
            for (container, blob_name), blob in double.blobs.items()
            if container == double.blob_container
            and prefix
            and (blob_name == prefix or blob_name.startswith(prefix + "/"))
        }
    if not blobs:
        raise ArmError(400, "BadRequest", f"Model {name}:{version} has no files at {model_uri!r}.")
    if model_type == "mlflow_model":
        framework = "MLflow"
    elif "modelFramework" in tags:
        framework = tags["modelFramework"]
    else:
        raise ArmError(
            400,
            "BadRequest",
            f"Model {name}:{version} is a {model_type or 'custom'} model without a "
            "modelFramework tag: the double cannot tell how to score it.",
        )
    parent = prefix.rpartition("/")[0]
    for blob_name, content in blobs.items():
        target = folder / blob_name.removeprefix(parent).lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    path = folder / prefix.removeprefix(parent).lstrip("/")
    return ModelFiles(name=name, version=version, framework=framework, path=path)
