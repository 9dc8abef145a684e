"""Arguments and results of the tracking and registry commands."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from .base import EnvName, SafeStr, WireModel
from .frameworks import ModelFramework

RunStatus = Literal["RUNNING", "SCHEDULED", "FINISHED", "FAILED", "KILLED"]
EndedStatus = Literal["FINISHED", "FAILED", "KILLED"]

Name = Annotated[SafeStr, Field(min_length=1, max_length=256)]
# MLflow param/metric keys and env names are short; a huge string is a mistake, not data.
ShortText = Annotated[SafeStr, Field(max_length=4096)]
# Plain str: behind SafeStr's validator, pydantic left the pattern out of the JSON Schema.
RunIdText = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class TrackRunArgs(WireModel):
    script: Annotated[SafeStr, Field(min_length=1, max_length=4096)] = Field(
        description=(
            "Path or file URI of the training script; relative to the first workspace folder."
        )
    )
    experiment_name: Name | None = Field(
        default=None,
        description=(
            "Default: the script's literal mlflow.set_experiment(...) argument, else its stem."
        ),
    )
    args: list[ShortText] = Field(default_factory=list, max_length=256)
    env: dict[Annotated[EnvName, Field(min_length=1, max_length=256)], ShortText] = Field(
        default_factory=dict,
        max_length=256,
        # EnvName's "=" rule, said in the schema too (a validator alone leaves it out).
        json_schema_extra={
            "propertyNames": {"minLength": 1, "maxLength": 256, "pattern": "^[^=]+$"}
        },
    )
    run_name: Name | None = None


class TrackRunResult(WireModel):
    run_id: str
    experiment_id: str
    experiment_name: str
    status: EndedStatus
    params: dict[str, str]
    metrics: dict[str, float]
    artifacts: list[str]
    duration_s: float
    output_tail: str
    exit_code: int | None = None


class RegisterModelArgs(WireModel):
    run_id: RunIdText
    model_name: Name
    model_path: Annotated[SafeStr, Field(min_length=1, max_length=1024)] = Field(
        description=(
            "Artifact path in the run: a file, a SavedModel folder or an MLflow model folder."
        )
    )
    model_framework: ModelFramework | None = None
    description: Annotated[SafeStr, Field(max_length=5000)] | None = None
    tags: dict[Name, ShortText] = Field(default_factory=dict, max_length=100)


class RegisterModelResult(WireModel):
    model_name: str
    version: int
    model_framework: ModelFramework
    source: str


class ListExperimentsArgs(WireModel):
    pass


class ExperimentInfo(WireModel):
    experiment_id: str
    name: str
    artifact_location: str
    lifecycle_stage: str


class ListExperimentsResult(WireModel):
    experiments: list[ExperimentInfo]


class ListRunsArgs(WireModel):
    experiment_name: Name | None = None
    script: Annotated[SafeStr, Field(min_length=1, max_length=4096)] | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 50


class RunInfo(WireModel):
    run_id: str
    experiment_id: str
    run_name: str | None = None
    status: RunStatus
    start_time: int | None = Field(default=None, description="Milliseconds since the epoch.")
    end_time: int | None = None
    script: str | None = None
    params: dict[str, str]
    metrics: dict[str, float]


class ListRunsResult(WireModel):
    runs: list[RunInfo]


class GetRunArgs(WireModel):
    run_id: RunIdText


class RunDetail(RunInfo):
    experiment_name: str
    artifact_uri: str
    artifacts: list[str]
    tags: dict[str, str]


class ListModelsArgs(WireModel):
    pass


class ModelVersionInfo(WireModel):
    version: int
    model_framework: str | None = None
    script: str | None = Field(default=None, description="The training script of its run.")
    source: str
    run_id: str | None = None
    creation_time: int | None = None


class RegisteredModelInfo(WireModel):
    name: str
    latest_version: int | None = None
    versions: list[ModelVersionInfo]


class ListModelsResult(WireModel):
    models: list[RegisteredModelInfo]
