"""MLflow: a model folder with an MLmodel file, loaded as a pyfunc; its signature gives the
input's width, dtype or column names."""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np

from .base import LoadError, Matrix, Model, ScoringError, other_format, plain, reason, width


class MlflowModel(Model):
    framework = "MLflow"

    def __init__(self, path: str) -> None:
        super().__init__()
        # Checked before MLflow's import: a wrong path fails at once, and says so.
        if not os.path.isdir(path):
            where = (
                ": set modelPath to the folder that holds it"
                if os.path.basename(path) == "MLmodel"
                else ""
            )
            raise LoadError(f"the MLflow model {path} is a file, not an MLflow model folder{where}")
        if not os.path.isfile(os.path.join(path, "MLmodel")):
            raise LoadError(
                f"the MLflow model {path} is not an MLflow model folder: it has no MLmodel file"
                + other_format(path)
            )
        mlflow = importlib.import_module("mlflow")
        pyfunc = importlib.import_module("mlflow.pyfunc")
        self.runtime["mlflow"] = mlflow.__version__
        self._error = importlib.import_module("mlflow.exceptions").MlflowException
        try:
            self._model = pyfunc.load_model(path)
        except Exception as exc:
            raise LoadError(f"MLflow cannot load the model {path}: {reason(exc)}") from exc
        self._dtype: Any = None
        schema = self._model.metadata.get_input_schema()
        if schema is not None and schema.is_tensor_spec():
            spec = schema.inputs[0]
            self._dtype, self.n_features = spec.type, width(spec.shape)
        elif schema is not None and schema.has_input_names():
            self.columns = [str(name) for name in schema.input_names()]
            self.n_features = len(self.columns)
        try:
            raw = self._model.get_raw_model()
        except Exception:  # not every flavour exposes its raw model
            raw = None
        self._raw_proba = getattr(raw, "predict_proba", None)
        self.supports_proba = callable(self._raw_proba)

    def _input(self, x: Matrix) -> Any:
        if self.columns is not None:  # pandas only when the signature names columns
            pandas = importlib.import_module("pandas")
            return pandas.DataFrame(x, columns=self.columns)
        return x if self._dtype is None else x.astype(self._dtype)

    def predict(self, x: Matrix) -> list[Any]:
        try:
            out = self._model.predict(self._input(x))
        except self._error as exc:
            # MLflow's schema enforcement says what is wrong with the input: the client's fault.
            raise ScoringError(f"the model refused the input: {str(exc)[:300]}", 422) from exc
        if hasattr(out, "to_numpy"):
            out = out.to_numpy()
        return plain(out) if isinstance(out, np.ndarray) else list(out)

    def predict_proba(self, x: Matrix) -> list[Any]:
        if self._raw_proba is None:
            return super().predict_proba(x)
        data = self._input(x)
        return plain(self._raw_proba(data))
