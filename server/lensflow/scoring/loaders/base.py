"""What every framework's model shares: the interface, the two errors, and the small helpers
that turn a library's answer or failure into what the scoring app sends back."""

from __future__ import annotations

import os
import platform
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]
SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


class ScoringError(Exception):
    """A request this model cannot answer: the client's mistake, sent back with `status`."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class LoadError(Exception):
    """The model cannot be loaded: the service refuses to start, with this message."""


class Model:
    """A loaded model. `n_features` is None when the model does not say its input width."""

    framework = ""
    n_features: int | None = None
    columns: list[str] | None = None  # the input's column names, when the model knows them
    supports_proba = False

    def __init__(self) -> None:
        self.runtime: dict[str, str] = {
            "python": platform.python_version(),
            "numpy": np.__version__,
        }

    @property
    def methods(self) -> list[str]:
        return ["predict", "predict_proba"] if self.supports_proba else ["predict"]

    def predict(self, x: Matrix) -> list[Any]:
        raise NotImplementedError

    def predict_proba(self, x: Matrix) -> list[Any]:
        raise ScoringError(
            f"this {self.framework} model has no predict_proba: use method 'predict'", 422
        )


def plain(value: Any) -> list[Any]:
    """A JSON-ready list; a (n, 1) column (ONNX, TF outputs) becomes n scalars."""
    array = np.asarray(value)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    result: list[Any] = array.tolist()
    return result


def reason(exc: BaseException) -> str:
    """A library's error as one short line: a service that cannot start logs just one line."""
    text = " ".join(str(exc).split())
    return (text[:400] + " …" if len(text) > 400 else text) or type(exc).__name__


def first_bytes(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read(24)


def head(path: str) -> str:
    """What a file that is not the expected format starts with (a Git LFS pointer, a CSV, …)."""
    head = first_bytes(path)
    return f"it starts with {head!r}" if head else "it is empty"


def other_format(path: str) -> str:
    """A hint when a folder is a model of another framework."""
    if os.path.isfile(os.path.join(path, "MLmodel")):
        return " (it is an MLflow model: use framework MLflow)"
    if any(os.path.isfile(os.path.join(path, f)) for f in SAVED_MODEL_FILES):
        return " (it is a TensorFlow SavedModel: use framework TensorFlow)"
    return ""


def width(shape: Any) -> int | None:
    """The feature count of a (batch, n) input shape, when it is a fixed number."""
    dims = list(shape) if shape is not None else []
    last = dims[-1] if len(dims) == 2 else None
    return int(last) if isinstance(last, int | np.integer) and last > 0 else None
