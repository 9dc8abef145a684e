"""A model registered through Lensflow, used with MLflow's own tools: `models:/` URIs in the
Python API, `mlflow artifacts download` and `mlflow models serve` (issue 14, item 1)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from lsprotocol import types
from pytest_lsp import LanguageClient

from tests.conftest import execute
from tests.e2e.mlflow_tools import invocations, mlflow_cli, models_serve, pyfunc_predict
from tests.e2e.test_deploy import seed_split


async def test_registered_model_loads_with_mlflow(
    client: LanguageClient, project: Path, tmp_path: Path
) -> None:
    x_head, expected = seed_split()
    run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    args = {"runId": run["runId"], "modelName": "diabetes_model", "modelPath": "model.pkl"}
    registered = await execute(client, "lensflow.registerModel", args)
    assert registered["modelFramework"] == "ScikitLearn"
    assert registered["source"].endswith("/artifacts/model_mlflow")
    # A progress bar while it registers, with no Cancel; its end says what was made.
    (bar,) = [
        reports
        for reports in client.progress_reports.values()
        if getattr(reports[0], "title", "") == "Registering diabetes_model"
    ]
    assert isinstance(bar[0], types.WorkDoneProgressBegin) and not bar[0].cancellable
    assert isinstance(bar[-1], types.WorkDoneProgressEnd)
    assert bar[-1].message == "version 1 (ScikitLearn)"

    # MLflow's Python API, by the models:/ URI: exactly the seed's Ridge, in float64.
    loaded = pyfunc_predict(project, "models:/diabetes_model/1", x_head)
    assert loaded["values"] == expected
    assert loaded["dtype"] == "float64"
    assert {"sklearn", "python_function"} <= set(loaded["flavors"])

    # The service Lensflow deploys answers the same numbers.
    await execute(client, "lensflow.createCluster", {"name": "dev"})
    await execute(
        client, "lensflow.deploy",
        {"serviceName": "diabetes-service", "modelName": "diabetes_model", "clusterName": "dev"},
    )  # fmt: skip
    answer = await execute(
        client, "lensflow.invokeEndpoint",
        {"serviceName": "diabetes-service", "input": {"data": x_head}},
    )  # fmt: skip
    assert answer["output"] == loaded["values"]

    # `mlflow artifacts download`: the MLflow model's files, with a 10-column signature.
    out = tmp_path / "download"
    done = mlflow_cli(project, "artifacts", "download", "-u", "models:/diabetes_model/1",
                      "-d", str(out))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    folder = Path(done.stdout.strip().splitlines()[-1])
    names = {p.name for p in folder.iterdir()}
    assert {"MLmodel", "requirements.txt", "python_env.yaml", "conda.yaml"} <= names
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    # skops: MLflow's safe format, and what the environment files ask for
    assert mlmodel["flavors"]["sklearn"]["pickled_model"] in names
    assert "skops==" in (folder / "requirements.txt").read_text()
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert inputs[0]["tensor-spec"]["shape"] == [-1, 10]
    assert inputs[0]["tensor-spec"]["dtype"] == "float64"

    # The run keeps the original file beside the MLflow model; the version says where it was.
    models = await execute(client, "lensflow.listModels")
    version = models["models"][0]["versions"][0]
    assert version["source"] == registered["source"]
    assert version["modelFramework"] == "ScikitLearn"

    # `mlflow models serve --env-manager local`: the same numbers over HTTP.
    with models_serve(project, "models:/diabetes_model/1", tmp_path / "serve.log") as base:
        assert invocations(base, x_head) == expected

    # A second registration of the same run reuses the MLflow model made the first time.
    again = await execute(client, "lensflow.registerModel", args)
    assert again["version"] == 2 and again["source"].endswith("/model_mlflow")

    # Versions whose source is the bare model file (Lensflow before issue 14) deploy as ever;
    # they just do not load with MLflow's tools. (Its own test once: it trained the seed and
    # made a cluster again, for nothing but this.)
    old = _register_bare_file(project, run["runId"], "old_model")
    service = await execute(
        client, "lensflow.deploy",
        {"serviceName": "old-service", "modelName": "old_model", "modelVersion": old,
         "clusterName": "dev"},
    )  # fmt: skip
    assert service["state"] == "Healthy", service.get("error")
    answer = await execute(
        client, "lensflow.invokeEndpoint", {"serviceName": "old-service", "input": {"data": x_head}}
    )
    assert answer["output"] == expected


def _register_bare_file(project: Path, run_id: str, name: str) -> int:
    """What registerModel did before: a version whose source is the run's model.pkl."""
    import subprocess
    import sys

    from tests.e2e.mlflow_tools import store_env

    code = f"""
import mlflow
client = mlflow.MlflowClient()
run = client.get_run({run_id!r})
client.create_registered_model({name!r})
v = client.create_model_version(
    {name!r}, run.info.artifact_uri + "/model.pkl", run_id={run_id!r},
    tags={{"lensflow.modelFramework": "ScikitLearn", "lensflow.modelPath": "model.pkl"}})
print(v.version)
"""
    done = subprocess.run(
        [sys.executable, "-c", code], env=store_env(project), capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return int(done.stdout.strip().splitlines()[-1])


LOG_MODEL_SCRIPT = """\
import mlflow
import mlflow.sklearn
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

X, y = load_diabetes(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
with mlflow.start_run():
    model = Ridge(alpha=0.03).fit(X_train, y_train)
    mlflow.sklearn.log_model(model, name="model", input_example=X_train[:2])
"""


async def test_a_model_logged_with_log_model_registers_as_it_is(
    client: LanguageClient, project: Path
) -> None:
    x_head, expected = seed_split()
    (project / "logged.py").write_text(LOG_MODEL_SCRIPT)
    run = await execute(client, "lensflow.trackRun", {"script": "logged.py"})
    assert run["status"] == "FINISHED", run["outputTail"]
    registered = await execute(
        client, "lensflow.registerModel",
        {"runId": run["runId"], "modelName": "logged_model", "modelPath": "model"},
    )  # fmt: skip
    assert registered["modelFramework"] == "MLflow"
    assert pyfunc_predict(project, "models:/logged_model/1", x_head)["values"] == expected
    await execute(client, "lensflow.createCluster", {"name": "dev"})
    service = await execute(
        client, "lensflow.deploy",
        {"serviceName": "logged-service", "modelName": "logged_model", "clusterName": "dev"},
    )  # fmt: skip
    assert service["state"] == "Healthy", service.get("error")
    answer = await execute(
        client, "lensflow.invokeEndpoint",
        {"serviceName": "logged-service", "input": {"data": x_head}},
    )  # fmt: skip
    assert answer["output"] == expected
