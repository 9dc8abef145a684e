"""One model per framework behind one small interface: `predict`, `predict_proba`, `n_features`.

Each framework's library is imported only when a model of that framework is loaded, so a
ScikitLearn service never pays for onnxruntime or TensorFlow (and the other way round).
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .base import LoadError, Matrix, Model, ScoringError, reason
from .mlflow_model import MlflowModel
from .onnx_model import OnnxModel
from .sklearn_model import SklearnModel
from .tf_model import TensorFlowModel

__all__ = ["LOADERS", "LoadError", "Matrix", "Model", "ScoringError", "load_model"]


LOADERS: dict[str, Callable[[str], Model]] = {
    "ScikitLearn": SklearnModel,
    "Onnx": OnnxModel,
    "TensorFlow": TensorFlowModel,
    "MLflow": MlflowModel,
}


_EXTRAS = {"Onnx": "onnx", "TensorFlow": "tensorflow"}


def load_model(framework: str, path: str) -> Model:
    """Loads the model at `path` with `framework`'s own library; LoadError says what is wrong."""
    loader = LOADERS.get(framework)
    if loader is None:
        raise LoadError(f"framework {framework!r} is not one of {', '.join(LOADERS)}")
    if not os.path.exists(path):
        raise LoadError(f"the model path {path} does not exist")
    try:
        return loader(path)
    except LoadError:
        raise
    except ImportError as exc:
        extra = _EXTRAS.get(framework, "")
        hint = f" (pip install 'lensflow[{extra}]')" if extra else ""
        raise LoadError(f"a {framework} service needs the {exc.name} package{hint}") from exc
    except Exception as exc:
        raise LoadError(f"cannot load the {framework} model {path}: {reason(exc)}") from exc
