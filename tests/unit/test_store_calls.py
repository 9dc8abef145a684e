"""StoreClient's typed calls against the worker's dispatch, both built from `store_calls`.

Each client method is routed, as JSON, through the worker's real `handle` onto a fake store:
the "method"/"args" it sends must be what the worker has always read, and the typed value it
returns must be what the store answered.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from lensflow.workspaces.tracking import store_calls
from lensflow.workspaces.tracking.store_calls import CALLS, dispatch
from lensflow.workspaces.tracking.store_client import StoreClient
from lensflow.workspaces.tracking.store_types import ModelFiles, RegistrationPlan, RunData
from lensflow.workspaces.tracking.store_worker import handle
from lensflow_protocol.errors import NotFound, error_from
from lensflow_protocol.tracking import (
    ExperimentInfo,
    ListExperimentsResult,
    ListModelsResult,
    ListRunsResult,
    ModelVersionInfo,
    RegisteredModelInfo,
    RegisterModelArgs,
    RegisterModelResult,
    RunDetail,
    RunInfo,
)

RUN = RunInfo(
    run_id="r1", experiment_id="1", status="FINISHED", params={"a": "1"}, metrics={"m": 0.5}
)
DETAIL = RunDetail(
    **RUN.model_dump(), experiment_name="e", artifact_uri="file:///a", artifacts=["x"], tags={}
)
EXPERIMENTS = ListExperimentsResult(
    experiments=[
        ExperimentInfo(experiment_id="1", name="e", artifact_location="/a", lifecycle_stage="x")
    ]
)
MODELS = ListModelsResult(
    models=[
        RegisteredModelInfo(
            name="m", latest_version=1, versions=[ModelVersionInfo(version=1, source="s")]
        )
    ]
)
REGISTERED = RegisterModelResult(
    model_name="m", version=2, model_framework="ScikitLearn", source="s"
)
REGISTER_ARGS = RegisterModelArgs(run_id="r1", model_name="m", model_path="model.pkl")


class FakeStore:
    """Answers as `MlflowStore` does (wire models, tuples, dicts) and remembers its calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...]]] = []

    def _seen(self, name: str, *args: Any) -> None:
        self.calls.append((name, args))

    def list_experiments(self) -> ListExperimentsResult:
        self._seen("list_experiments")
        return EXPERIMENTS

    def list_runs(self, experiment_name: str | None, script: str | None, limit: int) -> Any:
        self._seen("list_runs", experiment_name, script, limit)
        return ListRunsResult(runs=[RUN])

    def get_run(self, run_id: str) -> RunDetail:
        self._seen("get_run", run_id)
        if run_id != "r1":
            raise NotFound(f"No run {run_id}.", runId=run_id)
        return DETAIL

    def list_models(self) -> ListModelsResult:
        self._seen("list_models")
        return MODELS

    def plan_registration(self, args: RegisterModelArgs) -> dict[str, Any]:
        self._seen("plan_registration", args)
        return {"framework": "ScikitLearn", "path": "model.pkl", "mlflowPath": "model_mlflow",
                "ready": False}  # fmt: skip

    def register_model(self, args: RegisterModelArgs) -> RegisterModelResult:
        self._seen("register_model", args)
        return REGISTERED

    def share_runs_view(self, experiment_id: str) -> str | None:
        self._seen("share_runs_view", experiment_id)
        return "lensflow"

    def finish_run(self, run_id: str, status: str, log_text: str) -> None:
        self._seen("finish_run", run_id, status, log_text)

    def run_data(self, run_id: str) -> tuple[dict[str, str], dict[str, float], list[str]]:
        self._seen("run_data", run_id)
        return {"a": "1"}, {"m": 0.5}, ["outputs/std_log.txt"]

    def model_artifact(self, name: str, version: int | None) -> dict[str, Any]:
        self._seen("model_artifact", name, version)
        return {"name": name, "version": 3, "framework": "Onnx", "path": "/m", "script": None}


@pytest.fixture
def wired(monkeypatch: pytest.MonkeyPatch) -> tuple[StoreClient, FakeStore, list[str]]:
    """A client whose JSON lines go to the worker's `handle`, not to a child process."""
    store, lines = FakeStore(), []
    methods = dispatch(store)  # type: ignore[arg-type]

    async def request(self: StoreClient, method: str, args: list[object]) -> Any:
        line = json.dumps({"id": len(lines) + 1, "method": method, "args": args})
        lines.append(line)
        reply = json.loads(json.dumps(handle(methods, json.loads(line))))
        if "error" in reply:  # as StoreClient._read raises it
            err = reply["error"]
            raise error_from(err["kind"], err["message"], err.get("details"))
        return reply["result"]

    monkeypatch.setattr(StoreClient, "_request", request)
    return StoreClient("sqlite:///unused.db"), store, lines


async def test_every_call_sends_its_legacy_line_and_decodes_typed(
    wired: tuple[StoreClient, FakeStore, list[str]],
) -> None:
    client, store, lines = wired
    assert await client.list_experiments() == EXPERIMENTS
    assert await client.list_runs("e", None, 5) == ListRunsResult(runs=[RUN])
    assert await client.get_run("r1") == DETAIL
    assert await client.list_models() == MODELS
    assert await client.plan_registration(REGISTER_ARGS) == RegistrationPlan(
        framework="ScikitLearn", path="model.pkl", mlflowPath="model_mlflow", ready=False
    )
    assert await client.register_model(REGISTER_ARGS) == REGISTERED
    assert await client.finish_run("r1", "KILLED", "out") is None
    data = await client.run_data("r1")
    assert data == RunData({"a": "1"}, {"m": 0.5}, ["outputs/std_log.txt"])
    assert isinstance(data, RunData)
    files = await client.model_artifact("m", None)
    assert files == ModelFiles(name="m", version=3, framework="Onnx", path="/m", script=None)
    assert await client.share_runs_view("1") == "lensflow"
    assert await client.ping() == "pong"

    sent = [(line["method"], line["args"]) for line in map(json.loads, lines)]
    assert sent == [
        ("list_experiments", []),
        ("list_runs", ["e", None, 5]),
        ("get_run", ["r1"]),
        ("list_models", []),
        ("plan_registration", [REGISTER_ARGS.wire()]),
        ("register_model", [REGISTER_ARGS.wire()]),
        ("finish_run", ["r1", "KILLED", "out"]),
        ("run_data", ["r1"]),
        ("model_artifact", ["m", None]),
        ("share_runs_view", ["1"]),
        ("ping", []),
    ]
    # The worker hands the store a validated model, not the wire dict.
    assert ("register_model", (REGISTER_ARGS,)) in store.calls
    assert ("plan_registration", (REGISTER_ARGS,)) in store.calls
    assert len(store.calls) == len(CALLS) - 1  # ping is answered by the worker itself


async def test_a_store_error_comes_back_raised(
    wired: tuple[StoreClient, FakeStore, list[str]],
) -> None:
    client, _, _ = wired
    with pytest.raises(NotFound, match="No run nope"):
        await client.get_run("nope")


def test_the_table_names_each_call_once_and_the_client_has_a_method_for_each() -> None:
    names = [call.name for call in CALLS]
    assert len(names) == len(set(names))
    module_calls = {
        v.name for v in vars(store_calls).values() if isinstance(v, store_calls.StoreCall)
    }
    assert module_calls == set(names)  # none defined and left out of the worker's dispatch
    assert all(callable(getattr(StoreClient, name, None)) for name in names)


def test_a_wrong_result_shape_is_refused_by_its_decoding() -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        store_calls.GET_RUN.decode({"runId": "r1"})
    with pytest.raises(KeyError):
        store_calls.MODEL_ARTIFACT.decode({"name": "m"})
