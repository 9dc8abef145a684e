"""TensorFlow: a SavedModel folder, called through its `serving_default` signature."""

from __future__ import annotations

import importlib
import os
from typing import Any

from .base import SAVED_MODEL_FILES, LoadError, Matrix, Model, other_format, plain, reason, width


class TensorFlowModel(Model):
    framework = "TensorFlow"

    def __init__(self, path: str) -> None:
        super().__init__()
        # Checked before TensorFlow's import (seconds): a wrong path fails at once.
        if not os.path.isdir(path):
            raise LoadError(f"the TensorFlow model {path} is a file, not a SavedModel folder")
        if not any(os.path.isfile(os.path.join(path, f)) for f in SAVED_MODEL_FILES):
            raise LoadError(
                f"the TensorFlow model {path} is not a SavedModel folder: it has no "
                "saved_model.pb" + other_format(path)
            )
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # TF's INFO banners out of the log
        tf = importlib.import_module("tensorflow")
        self.runtime["tensorflow"] = tf.__version__
        # Same reason as ONNX: one request at a time on a small CPU share.
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        try:
            # Kept on self: a signature whose loaded object is collected loses its variables.
            self._loaded = tf.saved_model.load(path)
        except Exception as exc:
            raise LoadError(f"TensorFlow cannot load the SavedModel {path}: {reason(exc)}") from exc
        signatures = self._loaded.signatures
        if "serving_default" not in signatures:
            found = ", ".join(signatures.keys()) or "none"
            raise LoadError(f"{path} has no 'serving_default' signature (found: {found})")
        self._fn = signatures["serving_default"]
        _, kwargs = self._fn.structured_input_signature
        if len(kwargs) != 1:
            raise LoadError(f"{path}: serving_default takes {len(kwargs)} inputs; one is supported")
        (self._input, spec), *_ = kwargs.items()
        self._dtype = spec.dtype.as_numpy_dtype
        self._tf = tf
        self._tf_dtype = spec.dtype
        self.n_features = width(spec.shape.as_list() if spec.shape.rank is not None else None)
        self._output = next(iter(self._fn.structured_outputs))  # the single (or first) output

    def predict(self, x: Matrix) -> list[Any]:
        tensor = self._tf.constant(x.astype(self._dtype), dtype=self._tf_dtype)
        return plain(self._fn(**{self._input: tensor})[self._output].numpy())
