"""What the server knows of each model framework, keyed by the protocol's `ModelFramework`.

How a model's files show its framework, which module carries its version, and what Azure ML
(SDK v1) calls it. Every such table in the server is derived from `FACTS`, so a framework is
added in one place. Plain Python: the language server may import it at start-up.
"""

from __future__ import annotations

import posixpath
from collections.abc import Collection
from dataclasses import dataclass

from lensflow_protocol.frameworks import ModelFramework


@dataclass(frozen=True)
class Facts:
    name: ModelFramework
    suffixes: tuple[str, ...] = ()
    """A model file with one of these suffixes (lowercase) is of this framework."""
    marker: str | None = None
    """A model folder holding this file is of this framework."""
    module: str | None = None
    """The module whose `__version__` is the framework's version in a training interpreter."""
    azure: str | None = None
    """Its attribute of azureml's `Model.Framework`; None: Azure v1 cannot deploy it no-code."""
    flavor: str | None = None
    """The MLflow flavor registerModel saves such a model with."""


# Order matters: folders are matched against markers in it (an MLflow model folder may hold
# another framework's files beside its MLmodel), and Azure's frameworks are listed in it.
_TABLE = (
    Facts("MLflow", marker="MLmodel"),
    Facts(
        "ScikitLearn",
        suffixes=(".pkl", ".pickle", ".joblib"),
        module="sklearn",
        azure="SCIKITLEARN",
        flavor="sklearn",
    ),
    Facts(
        "TensorFlow",
        marker="saved_model.pb",
        module="tensorflow",
        azure="TENSORFLOW",
        flavor="tensorflow",
    ),
    Facts("Onnx", suffixes=(".onnx",), module="onnx", azure="ONNX", flavor="onnx"),
)
FACTS: dict[ModelFramework, Facts] = {facts.name: facts for facts in _TABLE}

BY_SUFFIX: dict[str, ModelFramework] = {
    suffix: facts.name for facts in _TABLE for suffix in facts.suffixes
}
VERSION_MODULES: dict[ModelFramework, str] = {
    facts.name: facts.module for facts in _TABLE if facts.module
}
# The frameworks Azure ML (SDK v1) registers and serves with no scoring script.
AZURE_NAMES: dict[ModelFramework, str] = {
    facts.name: facts.azure for facts in _TABLE if facts.azure
}


def of_file(path: str) -> ModelFramework | None:
    """The framework a model file's suffix names (any case), or None."""
    return BY_SUFFIX.get(posixpath.splitext(path)[1].lower())


def of_folder(names: Collection[str]) -> ModelFramework | None:
    """The framework a model folder's own file names (`names`) show, or None."""
    return next((f.name for f in _TABLE if f.marker is not None and f.marker in names), None)


def spoken(names: Collection[str], last: str = "or") -> str:
    """'A, B or C': names as a message lists them."""
    *rest, final = names
    return f"{', '.join(rest)} {last} {final}" if rest else final
