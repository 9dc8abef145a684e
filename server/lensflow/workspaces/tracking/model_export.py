"""Makes an MLflow model folder of a run's model artifact, inside a child process.

Executed by path with the *training* interpreter, which has mlflow and the model's framework;
it imports nothing from Lensflow. Azure ML (SDK v2) deploys a model with no scoring script only
when it is an MLflow model, so a model file (the seed's `model.pkl`) is wrapped in one:

    python model_export.py '{"runId", "artifactPath", "framework", "out": DIR, "logAs"?}'

Environment: MLFLOW_TRACKING_URI (and the store's credentials). The artifact is downloaded
from the run; an MLflow model folder is kept as it is, a ScikitLearn pickle or joblib file is
saved with the `sklearn` flavor, an ONNX file with the `onnx` flavor (a signature from the
model's inputs), a TensorFlow SavedModel with the `tensorflow` flavor, and anything else is
kept as it is (flavor ""). With "logAs", the MLflow model is also logged into the run at that
artifact path (the local workspace's registry points its versions there). The last stdout line
is JSON: {"path", "flavor"} or {"error"}.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile
from typing import Any


def _sklearn_signature(model: Any) -> Any:
    """Columns by name when the model was fitted on a frame, else a float64 matrix."""
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema, TensorSpec

    names = getattr(model, "feature_names_in_", None)
    width = getattr(model, "n_features_in_", None)
    if names is not None:
        inputs = Schema([ColSpec("double", str(n)) for n in names])
    elif isinstance(width, int):
        inputs = Schema([TensorSpec(np.dtype("float64"), (-1, width))])
    else:
        return None
    return ModelSignature(inputs=inputs, outputs=Schema([TensorSpec(np.dtype("float64"), (-1,))]))


def _requirements(*modules: str) -> list[str]:
    """Pinned to this interpreter's versions: MLflow would otherwise infer them, slowly."""
    from importlib.metadata import PackageNotFoundError, version

    pins = []
    for name in ("mlflow", *modules):
        try:
            pins.append(f"{name}=={version(name)}")
        except PackageNotFoundError:
            pins.append(name)
    return pins


def _tensorflow_module(saved_model: str) -> Any:
    """A tf.Module around the SavedModel's serving_default: float64 in and out, as pyfunc
    callers (and the scoring service's JSON) have it, whatever dtype the model computes in."""
    tf = importlib.import_module("tensorflow")  # no stubs: Any
    loaded = tf.saved_model.load(saved_model)
    fn = loaded.signatures["serving_default"]
    _, kwargs = fn.structured_input_signature
    if len(kwargs) != 1:
        raise ValueError(f"serving_default takes {len(kwargs)} inputs; one is supported")
    ((name, spec),) = kwargs.items()
    output = next(iter(fn.structured_outputs))

    module: Any = tf.Module

    class Served(module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.model = loaded  # tracked: its variables are saved with this module

        @tf.function(input_signature=[tf.TensorSpec(spec.shape, tf.float64)])  # type: ignore[untyped-decorator]
        def __call__(self, x: Any) -> Any:
            serve = self.model.signatures["serving_default"]
            return tf.cast(serve(**{name: tf.cast(x, spec.dtype)})[output], tf.float64)

    return Served(), spec.shape.as_list()


def _save_tensorflow(source: str, target: str) -> None:
    import mlflow.tensorflow
    import numpy as np
    from mlflow.models import ModelSignature
    from mlflow.types import Schema, TensorSpec

    module, shape = _tensorflow_module(source)
    dims = tuple(-1 if d is None else int(d) for d in shape)
    signature = ModelSignature(
        inputs=Schema([TensorSpec(np.dtype("float64"), dims)]),
        outputs=Schema([TensorSpec(np.dtype("float64"), (-1,))]),
    )
    mlflow.tensorflow.save_model(
        module, target, signature=signature,
        pip_requirements=_requirements("tensorflow", "numpy"),
    )  # fmt: skip


class NotAModel(Exception):
    """The artifact does not load as the framework it was registered as."""


def _save(framework: str, source: str, target: str) -> str:
    """Saves the model at `source` as an MLflow model at `target`; its flavor, or "" when
    Lensflow makes no MLflow model of this framework (nothing is saved)."""
    import mlflow

    if framework == "ScikitLearn" and os.path.isfile(source):
        import joblib  # scikit-learn's own dependency; it reads plain pickles too
        import mlflow.sklearn

        model = joblib.load(source)
        # skops (MLflow's default: loading it runs no pickle code) where the interpreter has it
        fmt = "skops" if importlib.util.find_spec("skops") else "cloudpickle"
        mlflow.sklearn.save_model(
            model, target, signature=_sklearn_signature(model), serialization_format=fmt,
            pip_requirements=_requirements("scikit-learn", "numpy", fmt),
        )  # fmt: skip
        return "sklearn"
    if framework == "Onnx" and os.path.isfile(source):
        import mlflow.onnx
        import onnx

        onnx_model = onnx.load(source)
        requirements = _requirements("onnx", "onnxruntime")
        mlflow.onnx.save_model(onnx_model, target, pip_requirements=requirements)
        return "onnx"
    if framework == "TensorFlow" and os.path.isdir(source):
        _save_tensorflow(source, target)
        return "tensorflow"
    return ""


def export(
    run_id: str, artifact_path: str, framework: str, out: str, log_as: str | None = None
) -> dict[str, Any]:
    import mlflow

    # Run by path, this file's folder is sys.path[0]: its sibling signs azureml:// requests
    # with the server's token (MLFLOW_TRACKING_TOKEN).
    from azureml_token import use_tracking_token  # type: ignore[import-not-found]

    use_tracking_token()

    scratch = tempfile.mkdtemp(prefix="download-", dir=out)
    source = mlflow.artifacts.download_artifacts(
        run_id=run_id, artifact_path=artifact_path, dst_path=scratch
    )
    target = os.path.join(out, "model")
    if os.path.isdir(source) and os.path.isfile(os.path.join(source, "MLmodel")):
        flavor = "mlflow"
    else:
        try:
            flavor = _save(framework, source, target)
        except Exception as exc:  # the file is not what the framework says: the user's to fix
            raise NotAModel(f"{artifact_path} does not load as {framework}: {exc}") from exc
    if not os.path.exists(target):  # kept as it is: an MLflow model, or no flavor for it
        shutil.move(source, target)
    shutil.rmtree(scratch, ignore_errors=True)
    logged = log_as is not None and flavor not in ("", "mlflow")
    if logged:
        # Beside the original, in the same run: the registry's version points at it.
        mlflow.MlflowClient().log_artifacts(run_id, target, log_as)
    return {"path": log_as if logged else target, "flavor": flavor, "logged": logged}


def main() -> int:
    try:
        request = json.loads(sys.argv[1])
        log_as = request.get("logAs")
        result = export(
            str(request["runId"]), str(request["artifactPath"]), str(request["framework"]),
            str(request["out"]), None if log_as is None else str(log_as),
        )  # fmt: skip
    except NotAModel as exc:
        result = {"error": str(exc), "notAModel": True}
    except Exception as exc:  # the server shows the message; the trace goes to stderr
        import traceback

        traceback.print_exc()
        result = {"error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result), flush=True)
    return 0 if "path" in result else 1


if __name__ == "__main__":
    sys.exit(main())
