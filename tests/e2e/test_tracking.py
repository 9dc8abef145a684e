"""trackRun and registerModel end to end: real server over stdio, real child, real SQLite store."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from pytest_lsp import LanguageClient

from tests.conftest import error_of, execute, notes


def expected_mse() -> float:
    """Independent truth: the seed's Ridge trained here, in the test process."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    model = Ridge(alpha=0.03).fit(X_train, y_train)
    return float(mean_squared_error(y_test, model.predict(X_test)))


def store_run(project: Path, run_id: str):  # type: ignore[no-untyped-def]
    """The run as MLflow itself reads it from the store the server wrote."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / '.lensflow' / 'mlflow.db'}")
    return client, client.get_run(run_id)


async def test_track_seed_script(client: LanguageClient, project: Path) -> None:
    result = await execute(client, "lensflow.trackRun", {"script": "train.py"})

    assert result["status"] == "FINISHED", result["outputTail"]
    assert result["experimentName"] == "experiment_with_mlflow"
    assert result["params"] == {"alpha": "0.03"}
    assert result["metrics"]["mse"] == pytest.approx(expected_mse(), rel=1e-9)
    assert result["metrics"]["mse"] == pytest.approx(3424.8567, abs=1e-3)
    assert {"model.pkl", "outputs/std_log.txt"} <= set(result["artifacts"])
    assert "Mean Squared Error is 3424.85" in result["outputTail"]

    # The output streamed while it ran, tagged with the run it belongs to.
    streamed = notes(client, "lensflow/runOutput")
    text = "".join(n["text"] for n in streamed)
    assert "Data contains 353 training samples and 89 test samples" in text
    assert {n["runId"] for n in streamed} == {result["runId"]}
    # mlflow loads its plugins (azureml-mlflow's store among them) without a complaint.
    assert "Failure attempting to register store" not in text

    # The store holds the same run: the script's own start_run() wrote into ours.
    mlflow_client, run = store_run(project, result["runId"])
    assert run.info.status == "FINISHED"
    assert run.data.metrics["mse"] == pytest.approx(expected_mse(), rel=1e-9)
    assert mlflow_client.get_experiment(run.info.experiment_id).name == "experiment_with_mlflow"
    assert len(mlflow_client.search_runs([run.info.experiment_id])) == 1
    log_path = mlflow_client.download_artifacts(result["runId"], "outputs/std_log.txt")
    assert "Mean Squared Error is" in Path(log_path).read_text()

    # WAL, and artifacts under .lensflow/, not next to the script.
    with sqlite3.connect(project / ".lensflow" / "mlflow.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert run.info.artifact_uri.startswith(str(project / ".lensflow" / "artifacts"))
    assert not (project / "mlruns").exists()

    updates = notes(client, "lensflow/runUpdated")
    assert [u["status"] for u in updates] == ["RUNNING", "FINISHED"]
    assert client.lens_refreshes >= 1  # type: ignore[attr-defined]

    # Registered twice: versions 1 and 2. (Its own test once, which trained the seed again on
    # a server and store of its own for it.)
    await _register_twice_gives_versions_1_and_2(client, result)


async def _register_twice_gives_versions_1_and_2(
    client: LanguageClient, run: dict[str, Any]
) -> None:
    args = {"runId": run["runId"], "modelName": "diabetes_model", "modelPath": "model.pkl"}

    first = await execute(client, "lensflow.registerModel", args)
    second = await execute(client, "lensflow.registerModel", {**args, "description": "again"})

    assert (first["version"], second["version"]) == (1, 2)
    assert first["modelFramework"] == "ScikitLearn"  # inferred from model.pkl
    # The version is the MLflow model made beside the run's model.pkl (issue 14).
    assert first["source"].endswith(f"{run['runId']}/artifacts/model_mlflow")
    models = await execute(client, "lensflow.listModels")
    (model,) = models["models"]
    assert model["name"] == "diabetes_model"
    assert model["latestVersion"] == 2
    assert [v["modelFramework"] for v in model["versions"]] == ["ScikitLearn", "ScikitLearn"]
    assert {v["runId"] for v in model["versions"]} == {run["runId"]}

    # A framework the file is not: refused with the reason, nothing registered.
    wrong = await error_of(
        client, "lensflow.registerModel", {**args, "modelName": "m2", "modelFramework": "Onnx"}
    )
    assert "model.pkl does not load as Onnx" in wrong.message
    assert [m["name"] for m in (await execute(client, "lensflow.listModels"))["models"]] == [
        "diabetes_model"
    ]


async def test_queries(client: LanguageClient, project: Path) -> None:
    run = await execute(client, "lensflow.trackRun", {"script": "train.py", "runName": "first"})

    experiments = await execute(client, "lensflow.listExperiments")
    by_name = {e["name"]: e for e in experiments["experiments"]}
    assert "experiment_with_mlflow" in by_name
    # MLflow's Default experiment keeps its artifacts in the workspace, not in ./mlruns.
    assert by_name["Default"]["artifactLocation"] == str(project / ".lensflow" / "artifacts" / "0")

    by_script = await execute(client, "lensflow.listRuns", {"script": "train.py"})
    assert [r["runId"] for r in by_script["runs"]] == [run["runId"]]
    assert by_script["runs"][0]["runName"] == "first"
    by_experiment = await execute(
        client, "lensflow.listRuns", {"experimentName": "experiment_with_mlflow", "limit": 5}
    )
    assert [r["runId"] for r in by_experiment["runs"]] == [run["runId"]]

    detail = await execute(client, "lensflow.getRun", {"runId": run["runId"]})
    assert detail["status"] == "FINISHED"
    assert detail["script"] == str(project / "train.py")
    assert detail["experimentName"] == "experiment_with_mlflow"
    assert "outputs/std_log.txt" in detail["artifacts"]
    assert detail["metrics"]["mse"] == pytest.approx(run["metrics"]["mse"])


async def test_failing_script_gives_failed_run(client: LanguageClient, project: Path) -> None:
    (project / "broken.py").write_text(
        "import mlflow\n"
        "with mlflow.start_run():\n"
        "    mlflow.log_param('alpha', 1)\n"
        "    print('about to fail')\n"
        "    1 / 0\n"
    )
    result = await execute(client, "lensflow.trackRun", {"script": "broken.py"})

    assert result["status"] == "FAILED"
    assert result["experimentName"] == "broken"  # no set_experiment: the file's stem
    assert "ZeroDivisionError: division by zero" in result["outputTail"]
    assert result["exitCode"] != 0
    _, run = store_run(project, result["runId"])
    assert run.info.status == "FAILED"
    assert run.data.params == {"alpha": "1"}


async def test_script_without_a_run_still_gets_one(client: LanguageClient, project: Path) -> None:
    (project / "plain.py").write_text("import sys\nprint('hello', sys.argv[1:])\n")
    result = await execute(
        client, "lensflow.trackRun", {"script": str(project / "plain.py"), "args": ["--x", "1"]}
    )
    assert result["status"] == "FINISHED"
    assert "hello ['--x', '1']" in result["outputTail"]
    assert result["artifacts"] == ["outputs/std_log.txt"]
    _, run = store_run(project, result["runId"])
    assert run.info.status == "FINISHED"


async def test_env_and_exit_code(client: LanguageClient, project: Path) -> None:
    (project / "exits.py").write_text(
        "import os, sys\nprint(os.environ['GREETING'], os.getcwd())\nsys.exit(3)\n"
    )
    result = await execute(
        client, "lensflow.trackRun", {"script": "exits.py", "env": {"GREETING": "hi"}}
    )
    assert result["status"] == "FAILED"
    assert result["exitCode"] == 3
    assert f"hi {project}" in result["outputTail"]  # cwd is the script's folder


async def test_experiment_override(client: LanguageClient) -> None:
    # The script sets its own experiment; the caller's explicit choice wins, and says so.
    result = await execute(
        client, "lensflow.trackRun", {"script": "train.py", "experimentName": "other"}
    )
    assert result["status"] == "FINISHED", result["outputTail"]
    assert result["experimentName"] == "other"
    assert "set_experiment('experiment_with_mlflow') redirected" in result["outputTail"]
    experiments = await execute(client, "lensflow.listExperiments")
    assert "experiment_with_mlflow" not in {e["name"] for e in experiments["experiments"]}


async def test_any_experiment_name_keeps_its_artifacts_inside_the_store(
    client: LanguageClient, project: Path
) -> None:
    # ".." put a run's artifacts beside mlflow.db, "." straight into artifacts/, and a
    # 256-character name passed the schema and then failed the run (File name too long).
    (project / "plain.py").write_text("print('hi')\n")
    artifacts = project / ".lensflow" / "artifacts"
    names = ["..", ".", "x" * 256, "a/../../b", "Ünï cødé"]
    for name in names:
        result = await execute(
            client, "lensflow.trackRun", {"script": "plain.py", "experimentName": name}
        )
        assert result["status"] == "FINISHED", result["outputTail"]
        assert result["experimentName"] == name  # MLflow keeps the real name
        store, run = store_run(project, result["runId"])
        location = Path(run.info.artifact_uri.removeprefix("file://")).resolve()
        assert location.is_relative_to(artifacts.resolve()), location
        assert location.parent.parent.parent == artifacts.resolve(), location  # <folder>/<run>/
        assert "hi" in (location / "outputs" / "std_log.txt").read_text()
        assert store.get_experiment(run.info.experiment_id).name == name
    folders = [p for p in artifacts.iterdir() if p.name != "0"]
    assert len(folders) == len(names)  # one each: no two names share a folder
    assert not (project / ".lensflow" / "outputs").exists()
