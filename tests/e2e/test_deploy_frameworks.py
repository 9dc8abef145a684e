"""The seed's other no-code frameworks, deployed through the server: ONNX and a SavedModel."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pytest_lsp import LanguageClient

from tests.conftest import execute
from tests.e2e.mlflow_tools import pyfunc_predict
from tests.e2e.test_deploy import seed_split

ONNX_SCRIPT = """\
import mlflow
from skl2onnx import to_onnx
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
with mlflow.start_run():
    model = Ridge(alpha=0.03).fit(X_train, y_train)
    onx = to_onnx(model, X_train[:1].astype("float32"), target_opset=17)
    with open("model.onnx", "wb") as f:
        f.write(onx.SerializeToString())
    mlflow.log_artifact("model.onnx")
"""

SAVED_MODEL_SCRIPT = """\
import mlflow
import numpy as np
import tensorflow as tf

w = tf.constant(np.arange(1, 11, dtype="float32").reshape(10, 1) / 10)


class Linear(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None, 10], tf.float32)])
    def __call__(self, x):
        return {"y": tf.matmul(x, w) + 1.0}


module = Linear()
with mlflow.start_run():
    tf.saved_model.save(module, "linear", signatures={"serving_default": module.__call__})
    mlflow.log_artifacts("linear", artifact_path="linear")
"""


async def deploy_and_invoke(
    client: LanguageClient, script: str, model_path: str, rows: list[list[float]]
) -> tuple[dict, dict]:  # type: ignore[type-arg]
    run = await execute(client, "lensflow.trackRun", {"script": script})
    assert run["status"] == "FINISHED", run["outputTail"]
    name = script.removesuffix(".py").replace("_", "-")
    registered = await execute(
        client, "lensflow.registerModel",
        {"runId": run["runId"], "modelName": name, "modelPath": model_path},
    )  # fmt: skip
    service = await execute(
        client, "lensflow.deploy",
        {"serviceName": f"{name}-svc", "modelName": name, "clusterName": "dev"},
    )  # fmt: skip
    assert service["state"] == "Healthy", service.get("error")
    answer = await execute(
        client, "lensflow.invokeEndpoint",
        {"serviceName": f"{name}-svc", "input": {"data": rows}},
    )  # fmt: skip
    assert answer["statusCode"] == 200, answer
    return registered, answer


async def test_onnx_and_saved_model(client: LanguageClient, project: Path) -> None:
    # Not onnx.py: the script's folder comes first on sys.path and would shadow the package.
    (project / "ridge_onnx.py").write_text(ONNX_SCRIPT)
    (project / "linear_tf.py").write_text(SAVED_MODEL_SCRIPT)
    await execute(client, "lensflow.createCluster", {"name": "dev", "vmSize": "Standard_D4_v2"})
    x_head, expected = seed_split()

    registered, answer = await deploy_and_invoke(client, "ridge_onnx.py", "model.onnx", x_head)
    assert registered["modelFramework"] == "Onnx"  # inferred from the file
    # float32 inside ONNX: close to sklearn's float64, and not passed off as it.
    assert answer["output"] == pytest.approx(expected, rel=1e-4)
    # The version is an MLflow model (onnx flavor): MLflow's own loader answers the same.
    loaded = pyfunc_predict(project, "models:/ridge-onnx/1", x_head, "float32")
    assert "onnx" in loaded["flavors"]
    assert loaded["values"] == answer["output"]

    rows = [[1.0] * 10, list(range(10))]
    registered, answer = await deploy_and_invoke(client, "linear_tf.py", "linear", rows)
    assert registered["modelFramework"] == "TensorFlow"  # a folder with saved_model.pb
    truth = np.asarray(rows, dtype="float32") @ (np.arange(1, 11).reshape(10, 1) / 10) + 1.0
    got = np.asarray(answer["output"], dtype="float64").reshape(-1)
    assert got == pytest.approx(truth.reshape(-1), rel=1e-5)
    loaded = pyfunc_predict(project, "models:/linear-tf/1", rows)
    assert "tensorflow" in loaded["flavors"] and loaded["dtype"] == "float64"
    assert loaded["values"] == got.tolist()

    deleted = await execute(client, "lensflow.cleanUp", {"all": True})
    assert len(deleted["deleted"]) == 3
