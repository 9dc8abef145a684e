"""MLflow tracking against the Azure ML workspace, for real, over HTTPS to the double.

Child processes log runs with ``MLFLOW_TRACKING_URI=azureml://...``: the installed azureml-mlflow's
tracking store and artifact repository make every request; the double checks the bearer token,
proxies MLflow's REST API to a real ``mlflow server`` and serves the run artifacts' SAS URLs and
blobs (see ``tracking.py``). What arrived is read back from the mlflow server directly.

How azureml-mlflow 1.62 signs its requests decides what these tests do: it uses
``MLFLOW_TRACKING_TOKEN`` (decoded as a JWT for its expiry) only when MLFLOW_RUN_ID and
MLFLOW_EXPERIMENT_ID (or _NAME) are set too, as in an Azure ML job; otherwise it asks a
DefaultAzureCredential chain (the Azure CLI among them) and ignores the token.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from lensflow.workspaces.azureml.workspace import AzureMLWorkspace
from lensflow.workspaces.base import TrackRequest
from lensflow_protocol.tracking import ListRunsArgs
from mlflow.tracking import MlflowClient

from tests.azure_double.children import FAKE_AZ_TOKEN_ENV, FakeAzureCli, child_env_overrides
from tests.azure_double.conftest import StaticTokenCredential
from tests.azure_double.server import AzureDouble, Exchange
from tests.azure_double.tracking import TrackingService

pytestmark = pytest.mark.azure_http

ALPHA = 0.03
MSE = 3424.8567023974488
NOTES = b"lensflow artifact \x00\xff bytes\n"

LOG_A_RUN = textwrap.dedent(
    """
    import json, sys
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_experiment(sys.argv[1])
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", 0.03)
        mlflow.log_metric("mse", 3424.8567023974488)
        mlflow.log_artifact(sys.argv[2])
    run_id = run.info.run_id
    listed = [f.path for f in MlflowClient().list_artifacts(run_id)]
    back = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path="notes.txt")
    print(json.dumps({
        "run_id": run_id,
        "store": type(MlflowClient()._tracking_client.store).__name__,
        "listed": listed,
        "downloaded": open(back, "rb").read().decode("latin-1"),
    }))
    """
)

# Resumes the run named by MLFLOW_RUN_ID, as a script in an Azure ML job does.
LOG_TO_A_GIVEN_RUN = textwrap.dedent(
    """
    import mlflow

    with mlflow.start_run():
        mlflow.log_param("alpha", 0.03)
        mlflow.log_metric("mse", 3424.8567023974488)
    """
)


def _python(
    code: str, env: dict[str, str], *args: str, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _unique(prefix: str) -> str:
    """The mlflow server lives for the session: each test has experiments of its own."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _proxied(double: AzureDouble) -> list[Exchange]:
    return [e for e in double.exchanges if e.mount is not None]


def _mlflow_endpoints(double: AzureDouble) -> set[str]:
    prefix = f"/mlflow/v2.0{double.workspace_id}/api/2.0/mlflow/"
    found = set()
    for exchange in double.requests(path_contains="/mlflow/"):
        assert exchange.path.startswith(prefix), exchange.path
        found.add(f"{exchange.method} {exchange.path.removeprefix(prefix)}")
    return found


@pytest.fixture
def mlflow_direct(azure_tracking: TrackingService) -> MlflowClient:
    """The mlflow server itself, over plain HTTP: what the proxy really stored."""
    url = azure_tracking.upstream.url
    return MlflowClient(tracking_uri=url, registry_uri=url)


@pytest.fixture
def jwt_token(azure_double: AzureDouble) -> Iterator[str]:
    """A JWT the double accepts for this test: azureml-mlflow's token path decodes its expiry."""
    token = jwt.encode(
        {"aud": azure_double.base_url, "exp": int(time.time()) + 3600, "oid": "lensflow-tests"},
        "not-verified-by-anyone-0123456789abcdef",
        algorithm="HS256",
    )
    azure_double.accepted_tokens.add(token)
    yield token
    azure_double.accepted_tokens.discard(token)


def test_a_child_logs_a_run_through_azureml_mlflow(
    azure_tracking: TrackingService,
    azure_double: AzureDouble,
    azure_child_env: dict[str, str],
    fake_az: FakeAzureCli,
    mlflow_direct: MlflowClient,
    tmp_path: Path,
) -> None:
    token = next(iter(azure_double.accepted_tokens))
    notes = tmp_path / "notes.txt"
    notes.write_bytes(NOTES)
    experiment = _unique("lensflow-http")
    env = {
        **azure_child_env,
        "MLFLOW_TRACKING_URI": azure_tracking.tracking_uri(),
        "MLFLOW_TRACKING_TOKEN": token,
    }

    done = _python(LOG_A_RUN, env, experiment, str(notes))

    assert done.returncode == 0, done.stderr[-4000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["store"] == "AzureMLRestStore"  # the azureml plugin, not MLflow's own RestStore
    assert out["listed"] == ["notes.txt"]
    assert out["downloaded"].encode("latin-1") == NOTES
    # The mlflow server has it all, exactly.
    stored = mlflow_direct.get_experiment_by_name(experiment)
    assert stored is not None
    assert stored.artifact_location == azure_tracking.artifact_location(experiment)
    [run] = mlflow_direct.search_runs([stored.experiment_id])
    assert run.info.run_id == out["run_id"] and run.info.status == "FINISHED"
    assert run.data.params == {"alpha": str(ALPHA)}
    assert run.data.metrics == {"mse": MSE}
    [mse] = mlflow_direct.get_metric_history(run.info.run_id, "mse")
    assert mse.value == MSE
    assert run.info.artifact_uri == (
        f"{azure_tracking.artifact_location(experiment)}/{run.info.run_id}/artifacts"
    )
    # The artifact itself went to the workspace's blob storage through a SAS URL.
    [blob] = [
        blob.content
        for (_, name), blob in azure_double.blobs.items()
        if name == f"ExperimentRun/dcid.{run.info.run_id}/notes.txt"
    ]
    assert blob == NOTES
    # Every request went through the double, signed with the token the CLI handed out.
    proxied = _proxied(azure_double)
    assert proxied and all(e.request_headers["authorization"] == f"Bearer {token}" for e in proxied)
    assert all(e.status == 200 for e in proxied if "get-by-name" not in e.path)
    assert {
        "GET experiments/get-by-name",
        "POST experiments/create",
        "POST runs/create",
        "POST runs/log-parameter",
        "POST runs/log-metric",
        "GET runs/get",
        "POST runs/update",
    } <= _mlflow_endpoints(azure_double)
    history = f"/history/v1.0{azure_double.workspace_id}/experiments/{experiment}/runs/"
    history += f"{run.info.run_id}/artifacts"
    assert [
        (e.method, e.path.removeprefix(history))
        for e in azure_double.requests(path_contains="/history/")
    ] == [
        ("POST", "/batch/metadata"),  # log_artifact: a SAS URL to put the file at
        ("GET", ""),  # list_artifacts
        ("GET", ""),  # download_artifacts: is it a folder?
        ("GET", "/contentinfo"),  # a SAS URL to get it from
    ]
    [get] = [e for e in azure_double.exchanges if e.is_blob and e.method == "GET"]
    assert get.status == 206 and get.request_headers["x-ms-range"].startswith("bytes=0-")
    # MLFLOW_TRACKING_TOKEN was not what signed them: without MLFLOW_RUN_ID, azureml-mlflow
    # asks DefaultAzureCredential, whose Azure CLI is the fake one.
    resource = ["account", "get-access-token", "--output", "json", "--resource"]
    assert fake_az.calls() and all(
        call == [*resource, azure_double.base_url] for call in fake_az.calls()
    )


def test_mlflow_tracking_token_signs_a_run_of_an_azure_ml_job(
    azure_tracking: TrackingService,
    azure_double: AzureDouble,
    azure_child_env: dict[str, str],
    fake_az: FakeAzureCli,
    mlflow_direct: MlflowClient,
    jwt_token: str,
) -> None:
    experiment = _unique("lensflow-job")
    experiment_id = mlflow_direct.create_experiment(
        experiment, artifact_location=azure_tracking.artifact_location(experiment)
    )
    run_id = mlflow_direct.create_run(experiment_id).info.run_id
    env = {
        **azure_child_env,
        "MLFLOW_TRACKING_URI": azure_tracking.tracking_uri(),
        "MLFLOW_TRACKING_TOKEN": jwt_token,
        "MLFLOW_RUN_ID": run_id,
        "MLFLOW_EXPERIMENT_ID": experiment_id,
        FAKE_AZ_TOKEN_ENV: "a-token-the-double-rejects",  # the CLI cannot be what signs in
    }

    done = _python(LOG_TO_A_GIVEN_RUN, env)

    assert done.returncode == 0, done.stderr[-4000:]
    run = mlflow_direct.get_run(run_id)
    assert run.data.params == {"alpha": str(ALPHA)} and run.data.metrics == {"mse": MSE}
    assert run.info.status == "FINISHED"
    proxied = _proxied(azure_double)
    assert proxied and {e.request_headers["authorization"] for e in proxied} == {
        f"Bearer {jwt_token}"
    }
    assert fake_az.calls() == []


def test_a_token_the_double_rejects_fails_the_child_with_401(
    azure_tracking: TrackingService,
    azure_double: AzureDouble,
    azure_child_env: dict[str, str],
    mlflow_direct: MlflowClient,
) -> None:
    experiment = _unique("lensflow-rejected")
    env = {
        **azure_child_env,
        "MLFLOW_TRACKING_URI": azure_tracking.tracking_uri(),
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
        FAKE_AZ_TOKEN_ENV: "a-token-the-double-rejects",
    }

    done = _python(LOG_A_RUN, env, experiment, __file__)

    assert done.returncode == 1
    # MLflow reads the ARM error body: its code is not one of MLflow's, hence INTERNAL_ERROR.
    assert done.stderr.strip().splitlines()[-1] == (
        "mlflow.exceptions.RestException: INTERNAL_ERROR: Response: {'error': "
        "{'code': 'InvalidAuthenticationToken', 'message': 'The access token is invalid.'}}"
    )
    proxied = _proxied(azure_double)
    assert proxied and all(e.status == 401 for e in proxied)
    assert proxied[0].response_json == {
        "error": {"code": "InvalidAuthenticationToken", "message": "The access token is invalid."}
    }
    assert mlflow_direct.get_experiment_by_name(experiment) is None


def test_a_wrong_mlflow_tracking_token_of_a_job_is_refused(
    azure_tracking: TrackingService,
    azure_double: AzureDouble,
    azure_child_env: dict[str, str],
    mlflow_direct: MlflowClient,
) -> None:
    experiment = _unique("lensflow-job-rejected")
    experiment_id = mlflow_direct.create_experiment(experiment)
    run_id = mlflow_direct.create_run(experiment_id).info.run_id
    wrong = jwt.encode({"exp": int(time.time()) + 3600}, "another-key-0123456789abcdef-xyz")
    env = {
        **azure_child_env,
        "MLFLOW_TRACKING_URI": azure_tracking.tracking_uri(),
        "MLFLOW_TRACKING_TOKEN": wrong,
        "MLFLOW_RUN_ID": run_id,
        "MLFLOW_EXPERIMENT_ID": experiment_id,
        "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0",
    }

    done = _python(LOG_TO_A_GIVEN_RUN, env)

    assert done.returncode == 1
    assert "'code': 'InvalidAuthenticationToken'" in done.stderr.strip().splitlines()[-1]
    assert {e.status for e in _proxied(azure_double)} == {401}
    assert mlflow_direct.get_run(run_id).data.params == {}


def test_the_fake_azure_cli_signs_azure_identity_in(
    azure_double: AzureDouble,
    azure_child_env: dict[str, str],
    fake_az: FakeAzureCli,
    tmp_path: Path,
) -> None:
    config = azure_double.write_config(tmp_path)
    code = textwrap.dedent(
        """
        import json, sys, time
        from azure.identity import AzureCliCredential
        from lensflow.workspaces.azureml.sdk_v2 import AzureMLSdkV2

        token = AzureCliCredential().get_token(sys.argv[1] + "/.default")
        tracking = AzureMLSdkV2(__import__("pathlib").Path(sys.argv[2]), "cli").tracking()
        print(json.dumps({
            "token": token.token,
            "expires_in": token.expires_on - time.time(),
            "uri": tracking.uri,
            "tracking_token": tracking.token,
        }))
        """
    )

    done = _python(code, azure_child_env, azure_double.base_url, str(config))

    assert done.returncode == 0, done.stderr[-4000:]
    out: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    token = next(iter(azure_double.accepted_tokens))
    assert out["token"] == token and out["tracking_token"] == token
    assert 3500 < out["expires_in"] <= 3600
    assert out["uri"] == (
        f"azureml://127.0.0.1:{azure_double.port}/mlflow/v2.0{azure_double.workspace_id}"
    )
    resource = ["account", "get-access-token", "--output", "json", "--resource"]
    # Once here, then once for azure-ai-ml's request and once for the tracking token.
    assert fake_az.calls() == [[*resource, azure_double.base_url]] * 3
    [get] = azure_double.requests("GET", "/workspaces/")
    assert get.request_headers["authorization"] == f"Bearer {token}" and get.status == 200


class _Events:
    def __init__(self) -> None:
        self.started_runs: list[tuple[str, str]] = []
        self.text: list[str] = []

    def started(self, run_id: str, experiment_name: str) -> None:
        self.started_runs.append((run_id, experiment_name))

    def output(self, run_id: str, stream: str, text: str) -> None:
        self.text.append(text)


async def test_lensflow_tracks_a_run_and_reads_it_back_through_the_workspace(
    azure_tracking: TrackingService,
    azure_double: AzureDouble,
    fake_az: FakeAzureCli,
    mlflow_direct: MlflowClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    # Lensflow's children (the training run, the store worker) inherit the server's environment
    # and get MLFLOW_TRACKING_TOKEN. azureml-mlflow alone would ignore it outside an Azure ML
    # job and sign in afresh (DefaultAzureCredential, then a browser): azureml_token.py makes
    # them sign with it. The fake Azure CLI hands out a token the double refuses, so a child
    # that signed in on its own would fail, and it must not even be asked.
    for name, value in child_env_overrides(azure_double, fake_az).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LENSFLOW_FAKE_AZ_TOKEN", "a-token-the-double-refuses")
    fake_az.forget_calls()
    config = azure_double.write_config(tmp_path)
    script = tmp_path / "train.py"
    script.write_text(
        textwrap.dedent(
            """
            import mlflow

            with mlflow.start_run():
                mlflow.log_param("alpha", 0.03)
                mlflow.log_metric("mse", 3424.8567023974488)
            print("trained")
            """
        )
    )
    from lensflow.workspaces.azureml.sdk_v2 import AzureMLSdkV2

    token = next(iter(azure_double.accepted_tokens))
    sdk = AzureMLSdkV2(config, credential=StaticTokenCredential(token))
    workspace = AzureMLWorkspace(config, sys.executable, azure_sdk="v2", sdk=sdk)
    experiment = _unique("lensflow-workspace")
    events = _Events()
    try:
        result = await workspace.track_run(
            TrackRequest(script, experiment), events, asyncio.Event()
        )
        runs = await workspace.list_runs(ListRunsArgs(experiment_name=experiment))
        detail = await workspace.get_run(result.run_id)
    finally:
        await workspace.close()

    assert result.status == "FINISHED", result.output_tail
    assert (result.params, result.metrics) == ({"alpha": str(ALPHA)}, {"mse": MSE})
    assert result.artifacts == ["outputs/std_log.txt"]
    assert events.started_runs == [(result.run_id, experiment)]
    assert "trained\n" in "".join(events.text)
    [listed] = runs.runs
    assert (listed.run_id, listed.status, listed.script) == (
        result.run_id,
        "FINISHED",
        str(script),
    )
    assert (detail.params, detail.metrics) == ({"alpha": str(ALPHA)}, {"mse": MSE})
    assert detail.artifacts == ["outputs/std_log.txt"]
    assert detail.artifact_uri == (
        f"{azure_tracking.artifact_location(experiment)}/{result.run_id}/artifacts"
    )
    # The run's log went to blob storage, and the mlflow server holds the run itself.
    log_blob = f"ExperimentRun/dcid.{result.run_id}/outputs/std_log.txt"
    assert b"trained\n" in azure_double.blobs[(azure_double.blob_container, log_blob)].content
    assert mlflow_direct.get_run(result.run_id).data.metrics == {"mse": MSE}
    assert all(
        e.request_headers["authorization"] == f"Bearer {token}" for e in _proxied(azure_double)
    )
    assert fake_az.calls() == []


async def test_a_tensorflow_model_registers_as_an_mlflow_model_on_sdk_v2(
    azure_tracking: TrackingService,
    azure_double: AzureDouble,
    fake_az: FakeAzureCli,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """A SavedModel folder is made an MLflow model (the tensorflow flavor) before it goes up,
    so Azure serves it with no scoring script; a folder TensorFlow cannot load is refused
    with the reason, not uploaded."""
    from tests.e2e.test_deploy_frameworks import SAVED_MODEL_SCRIPT

    for name, value in child_env_overrides(azure_double, fake_az).items():
        monkeypatch.setenv(name, value)
    config = azure_double.write_config(tmp_path)
    script = tmp_path / "train.py"
    script.write_text(
        SAVED_MODEL_SCRIPT
        + textwrap.dedent(
            """
            import os
            os.makedirs("fake/variables", exist_ok=True)
            open("fake/saved_model.pb", "wb").write(b"not a saved model")
            run_id = mlflow.last_active_run().info.run_id
            mlflow.MlflowClient().log_artifacts(run_id, "fake", "fake")
            """
        )
    )
    from lensflow.workspaces.azureml.sdk_v2 import AzureMLSdkV2
    from lensflow_protocol.errors import InvalidPath
    from lensflow_protocol.tracking import RegisterModelArgs

    sdk = AzureMLSdkV2(config, credential=StaticTokenCredential(azure_double_token(azure_double)))
    workspace = AzureMLWorkspace(config, sys.executable, sdk=sdk)
    try:
        run = await workspace.track_run(
            TrackRequest(script, _unique("lensflow-tf")), _Events(), asyncio.Event()
        )
        assert run.status == "FINISHED", run.output_tail
        registered = await workspace.register_model(
            RegisterModelArgs(
                run_id=run.run_id,
                model_name="tf-model",
                model_path="linear",
                model_framework="TensorFlow",
            )
        )
        with pytest.raises(InvalidPath, match="fake does not load as TensorFlow"):
            await workspace.register_model(
                RegisterModelArgs(
                    run_id=run.run_id,
                    model_name="tf-fake",
                    model_path="fake",
                    model_framework="TensorFlow",
                )
            )
    finally:
        await workspace.close()

    assert (registered.model_name, registered.version) == ("tf-model", 1)
    [put] = [
        e for e in azure_double.requests("PUT", "/models/tf-model/versions/") if e.status < 300
    ]
    properties = put.request_json["properties"]
    assert properties["modelType"] == "mlflow_model"
    assert properties["tags"]["modelFramework"] == "TensorFlow"
    assert properties["tags"]["modelPath"] == "linear"
    uploaded = {name.rsplit("/model/", 1)[-1] for name in azure_double.blob_names()}
    assert "MLmodel" in uploaded
    assert any(name.startswith("tf2model/") for name in uploaded), uploaded
    assert not azure_double.requests("PUT", "/models/tf-fake/")


def azure_double_token(double: AzureDouble) -> str:
    return next(iter(double.accepted_tokens))
