"""Onnx: an .onnx file run by onnxruntime on one CPU thread."""

from __future__ import annotations

import importlib
import os
from typing import Any

import numpy as np

from .base import LoadError, Matrix, Model, head, other_format, plain, reason, width

_ONNX_TYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


class OnnxModel(Model):
    framework = "Onnx"

    def __init__(self, path: str) -> None:
        super().__init__()
        ort = importlib.import_module("onnxruntime")
        self.runtime["onnxruntime"] = ort.__version__
        options = ort.SessionOptions()
        # One thread: requests are served one at a time and the service's CPU share is small;
        # idle spinning pool threads would steal the cores uvicorn needs.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        if os.path.isdir(path):
            raise LoadError(
                f"the Onnx model {path} is a folder, not an .onnx file" + other_format(path)
            )
        try:
            self._session = ort.InferenceSession(
                path, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            # Anything but an ONNX protobuf: InvalidProtobuf, or a protobuf with no graph.
            if type(exc).__name__ == "InvalidProtobuf" or "No graph was found" in str(exc):
                raise LoadError(f"the Onnx model {path} is not an ONNX file: {head(path)}") from exc
            raise LoadError(
                f"onnxruntime cannot load the Onnx model {path}: {reason(exc)}"
            ) from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise LoadError(f"{path} has {len(inputs)} inputs ({names}); one matrix is supported")
        self._input = inputs[0].name
        dtype = _ONNX_TYPES.get(inputs[0].type)
        if dtype is None:
            raise LoadError(f"{path}: input type {inputs[0].type} is not supported")
        self._dtype = dtype
        self.n_features = width(inputs[0].shape)
        outputs = self._session.get_outputs()
        self._label = outputs[0].name
        # skl2onnx classifiers: (label, probabilities); regressors have one output.
        named = [o.name for o in outputs if o.name == "probabilities"]
        self._proba = named[0] if named else (outputs[1].name if len(outputs) == 2 else None)
        self.supports_proba = self._proba is not None

    def _run(self, output: str, x: Matrix) -> Any:
        return self._session.run([output], {self._input: x.astype(self._dtype)})[0]

    def predict(self, x: Matrix) -> list[Any]:
        return plain(self._run(self._label, x))

    def predict_proba(self, x: Matrix) -> list[Any]:
        if self._proba is None:
            return super().predict_proba(x)
        value = self._run(self._proba, x)
        if isinstance(value, list):  # ZipMap: one {class: probability} dict per row
            return [list(row.values()) for row in value]
        return plain(value)
