"""One model per framework behind one small interface: `predict`, `predict_proba`, `n_features`.

Each framework's library is imported only when a model of that framework is loaded, so a
ScikitLearn service never pays for onnxruntime or TensorFlow (and the other way round).
"""

from __future__ import annotations

import importlib
import lzma
import os
import pickle
import platform
import struct
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

Matrix = npt.NDArray[np.float64]


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


def _plain(value: Any) -> list[Any]:
    """A JSON-ready list; a (n, 1) column (ONNX, TF outputs) becomes n scalars."""
    array = np.asarray(value)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    result: list[Any] = array.tolist()
    return result


def _reason(exc: BaseException) -> str:
    """A library's error as one short line: a service that cannot start logs just one line."""
    text = " ".join(str(exc).split())
    return (text[:400] + " …" if len(text) > 400 else text) or type(exc).__name__


def _first_bytes(path: str) -> bytes:
    with open(path, "rb") as file:
        return file.read(24)


def _head(path: str) -> str:
    """What a file that is not the expected format starts with (a Git LFS pointer, a CSV, …)."""
    head = _first_bytes(path)
    return f"it starts with {head!r}" if head else "it is empty"


def _other_format(path: str) -> str:
    """A hint when a folder is a model of another framework."""
    if os.path.isfile(os.path.join(path, "MLmodel")):
        return " (it is an MLflow model: use framework MLflow)"
    if any(os.path.isfile(os.path.join(path, f)) for f in _SAVED_MODEL_FILES):
        return " (it is a TensorFlow SavedModel: use framework TensorFlow)"
    return ""


# How a joblib or pickle file starts: pickle protocols 2-5, then joblib's compressed formats
# (zlib, gzip, bz2, lzma, xz, lz4) and its pre-0.10 "ZF" files.
_PICKLE_MAGIC = (
    *(bytes([0x80, protocol]) for protocol in range(2, 6)),
    b"x", b"\x1f\x8b", b"BZh", b"]\x00", b"\xfd7zXZ", b'\x04"M\x18', b"ZF",
)  # fmt: skip
# What unpickling or decompressing a cut or corrupted joblib/pickle file raises.
_DAMAGED = (EOFError, pickle.UnpicklingError, struct.error, zlib.error, lzma.LZMAError)
_SAVED_MODEL_FILES = ("saved_model.pb", "saved_model.pbtxt")


def _width(shape: Any) -> int | None:
    """The feature count of a (batch, n) input shape, when it is a fixed number."""
    dims = list(shape) if shape is not None else []
    last = dims[-1] if len(dims) == 2 else None
    return int(last) if isinstance(last, int | np.integer) and last > 0 else None


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
                + _other_format(path)
            )
        try:
            self._model = joblib.load(path)  # joblib reads both joblib and plain pickle files
        except Exception as exc:
            # Unpickling anything else fails with the unpickler's internals ("pop from empty
            # list", KeyError 123, …): the file's first bytes say what it really is. Protocol 0/1
            # pickles have no magic, but no scikit-learn model is saved in those any more.
            if not _first_bytes(path).startswith(_PICKLE_MAGIC):
                raise LoadError(
                    f"the ScikitLearn model {path} is not a joblib/pickle file: {_head(path)}"
                ) from exc
            if isinstance(exc, _DAMAGED):
                raise LoadError(
                    f"the ScikitLearn model {path} is a truncated or damaged joblib/pickle "
                    f"file: {_reason(exc)}"
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
                f"the Onnx model {path} is a folder, not an .onnx file" + _other_format(path)
            )
        try:
            self._session = ort.InferenceSession(
                path, sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own exception types
            # Anything but an ONNX protobuf: InvalidProtobuf, or a protobuf with no graph.
            if type(exc).__name__ == "InvalidProtobuf" or "No graph was found" in str(exc):
                raise LoadError(
                    f"the Onnx model {path} is not an ONNX file: {_head(path)}"
                ) from exc
            raise LoadError(
                f"onnxruntime cannot load the Onnx model {path}: {_reason(exc)}"
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
        self.n_features = _width(inputs[0].shape)
        outputs = self._session.get_outputs()
        self._label = outputs[0].name
        # skl2onnx classifiers: (label, probabilities); regressors have one output.
        named = [o.name for o in outputs if o.name == "probabilities"]
        self._proba = named[0] if named else (outputs[1].name if len(outputs) == 2 else None)
        self.supports_proba = self._proba is not None

    def _run(self, output: str, x: Matrix) -> Any:
        return self._session.run([output], {self._input: x.astype(self._dtype)})[0]

    def predict(self, x: Matrix) -> list[Any]:
        return _plain(self._run(self._label, x))

    def predict_proba(self, x: Matrix) -> list[Any]:
        if self._proba is None:
            return super().predict_proba(x)
        value = self._run(self._proba, x)
        if isinstance(value, list):  # ZipMap: one {class: probability} dict per row
            return [list(row.values()) for row in value]
        return _plain(value)


class TensorFlowModel(Model):
    framework = "TensorFlow"

    def __init__(self, path: str) -> None:
        super().__init__()
        # Checked before TensorFlow's import (seconds): a wrong path fails at once.
        if not os.path.isdir(path):
            raise LoadError(f"the TensorFlow model {path} is a file, not a SavedModel folder")
        if not any(os.path.isfile(os.path.join(path, f)) for f in _SAVED_MODEL_FILES):
            raise LoadError(
                f"the TensorFlow model {path} is not a SavedModel folder: it has no "
                "saved_model.pb" + _other_format(path)
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
            raise LoadError(
                f"TensorFlow cannot load the SavedModel {path}: {_reason(exc)}"
            ) from exc
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
        self.n_features = _width(spec.shape.as_list() if spec.shape.rank is not None else None)
        self._output = next(iter(self._fn.structured_outputs))  # the single (or first) output

    def predict(self, x: Matrix) -> list[Any]:
        tensor = self._tf.constant(x.astype(self._dtype), dtype=self._tf_dtype)
        return _plain(self._fn(**{self._input: tensor})[self._output].numpy())


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
                + _other_format(path)
            )
        mlflow = importlib.import_module("mlflow")
        pyfunc = importlib.import_module("mlflow.pyfunc")
        self.runtime["mlflow"] = mlflow.__version__
        self._error = importlib.import_module("mlflow.exceptions").MlflowException
        try:
            self._model = pyfunc.load_model(path)
        except Exception as exc:
            raise LoadError(f"MLflow cannot load the model {path}: {_reason(exc)}") from exc
        self._dtype: Any = None
        schema = self._model.metadata.get_input_schema()
        if schema is not None and schema.is_tensor_spec():
            spec = schema.inputs[0]
            self._dtype, self.n_features = spec.type, _width(spec.shape)
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
        return _plain(out) if isinstance(out, np.ndarray) else list(out)

    def predict_proba(self, x: Matrix) -> list[Any]:
        if self._raw_proba is None:
            return super().predict_proba(x)
        data = self._input(x)
        return _plain(self._raw_proba(data))


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
        raise LoadError(f"cannot load the {framework} model {path}: {_reason(exc)}") from exc
