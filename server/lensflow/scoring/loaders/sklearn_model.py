"""ScikitLearn: a joblib or pickle file, loaded with joblib (which reads both)."""

from __future__ import annotations

import importlib
import lzma
import os
import pickle
import struct
import zlib
from typing import Any

import numpy as np

from .base import LoadError, Matrix, Model, first_bytes, head, other_format, reason

# How a joblib or pickle file starts: pickle protocols 2-5, then joblib's compressed formats
# (zlib, gzip, bz2, lzma, xz, lz4) and its pre-0.10 "ZF" files.
_PICKLE_MAGIC = (
    *(bytes([0x80, protocol]) for protocol in range(2, 6)),
    b"x", b"\x1f\x8b", b"BZh", b"]\x00", b"\xfd7zXZ", b'\x04"M\x18', b"ZF",
)  # fmt: skip
# What unpickling or decompressing a cut or corrupted joblib/pickle file raises.
_DAMAGED = (EOFError, pickle.UnpicklingError, struct.error, zlib.error, lzma.LZMAError)


class SklearnModel(Model):
    framework = "ScikitLearn"

    def __init__(self, path: str) -> None:
        super().__init__()
        joblib = importlib.import_module("joblib")
        sklearn = importlib.import_module("sklearn")
        self.runtime["scikit-learn"] = sklearn.__version__
        if os.path.isdir(path):
            raise LoadError(
                f"the ScikitLearn model {path} is a folder, not a joblib/pickle file"
                + other_format(path)
            )
        try:
            self._model = joblib.load(path)  # joblib reads both joblib and plain pickle files
        except Exception as exc:
            # Unpickling anything else fails with the unpickler's internals ("pop from empty
            # list", KeyError 123, …): the file's first bytes say what it really is. Protocol 0/1
            # pickles have no magic, but no scikit-learn model is saved in those any more.
            if not first_bytes(path).startswith(_PICKLE_MAGIC):
                raise LoadError(
                    f"the ScikitLearn model {path} is not a joblib/pickle file: {head(path)}"
                ) from exc
            if isinstance(exc, _DAMAGED):
                raise LoadError(
                    f"the ScikitLearn model {path} is a truncated or damaged joblib/pickle "
                    f"file: {reason(exc)}"
                ) from exc
            raise  # a real pickle that fails (a missing module, another version): said as is
        if not callable(getattr(self._model, "predict", None)):
            raise LoadError(f"{path} holds a {type(self._model).__name__}, which has no predict")
        width = getattr(self._model, "n_features_in_", None)
        self.n_features = int(width) if isinstance(width, int | np.integer) else None
        names = getattr(self._model, "feature_names_in_", None)
        self.columns = [str(name) for name in names] if names is not None else None
        # hasattr is False when a pipeline's last step lacks it (sklearn's available_if).
        self.supports_proba = hasattr(self._model, "predict_proba")
        self._predict = self._model.predict  # bound once: one attribute lookup less per call
        # The app refuses NaN/inf before predict, so sklearn's own finiteness pass (~10 µs a
        # call, a fifth of a small model's predict) is redundant. Same numbers either way; the
        # setting is per thread, and this is the thread that serves.
        sklearn.set_config(assume_finite=True)

    def predict(self, x: Matrix) -> list[Any]:
        # Exactly the model's own answer (float64 in, float64 out): no conversion, no squeeze.
        result: list[Any] = np.asarray(self._predict(x)).tolist()
        return result

    def predict_proba(self, x: Matrix) -> list[Any]:
        if not self.supports_proba:
            return super().predict_proba(x)
        result: list[Any] = np.asarray(self._model.predict_proba(x)).tolist()
        return result
