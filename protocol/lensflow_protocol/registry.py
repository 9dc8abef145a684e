"""Which model types each command and notification carries: one table that the server,
the schema export and the tests all read, so the three cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass

from . import names
from .base import WireModel
from .deployment import (
    CleanUpArgs,
    CleanUpResult,
    ClusterInfo,
    ClusterUpdatedParams,
    CreateClusterArgs,
    DeployArgs,
    GetServiceLogsArgs,
    InvokeEndpointArgs,
    InvokeEndpointResult,
    ListClustersArgs,
    ListClustersResult,
    ListServicesArgs,
    ListServicesResult,
    ServiceInfo,
    ServiceKeys,
    ServiceLogs,
    ServiceNameArgs,
    ServiceUpdatedParams,
)
from .insight import CompareRunsArgs, CompareRunsResult, OpenTrackingUiArgs, OpenTrackingUiResult
from .notifications import RunOutputParams, RunUpdatedParams
from .settings import GetWorkspaceArgs, Settings, WorkspaceInfo
from .tracking import (
    GetRunArgs,
    ListExperimentsArgs,
    ListExperimentsResult,
    ListModelsArgs,
    ListModelsResult,
    ListRunsArgs,
    ListRunsResult,
    RegisterModelArgs,
    RegisterModelResult,
    RunDetail,
    TrackRunArgs,
    TrackRunResult,
)


@dataclass(frozen=True)
class CommandSpec:
    name: str
    arguments: type[WireModel]
    result: type[WireModel]
    summary: str


COMMANDS: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        CommandSpec(
            names.TRACK_RUN,
            TrackRunArgs,
            TrackRunResult,
            "Run a training script as a tracked MLflow run.",
        ),
        CommandSpec(
            names.REGISTER_MODEL,
            RegisterModelArgs,
            RegisterModelResult,
            "Register an artifact of a run as a new model version.",
        ),
        CommandSpec(
            names.LIST_EXPERIMENTS,
            ListExperimentsArgs,
            ListExperimentsResult,
            "List the experiments of the tracking store.",
        ),
        CommandSpec(
            names.LIST_RUNS,
            ListRunsArgs,
            ListRunsResult,
            "List runs, newest first, by experiment or script.",
        ),
        CommandSpec(names.GET_RUN, GetRunArgs, RunDetail, "One run with its artifacts and tags."),
        CommandSpec(
            names.LIST_MODELS,
            ListModelsArgs,
            ListModelsResult,
            "List registered models and their versions.",
        ),
        CommandSpec(
            names.CREATE_CLUSTER,
            CreateClusterArgs,
            ClusterInfo,
            "Create an inference cluster (AKS, or a local supervisord cluster).",
        ),
        CommandSpec(
            names.DEPLOY,
            DeployArgs,
            ServiceInfo,
            "Deploy a registered model version as a no-code scoring service.",
        ),
        CommandSpec(
            names.INVOKE_ENDPOINT,
            InvokeEndpointArgs,
            InvokeEndpointResult,
            "Call a service's scoring URI with its key.",
        ),
        CommandSpec(
            names.CLEAN_UP,
            CleanUpArgs,
            CleanUpResult,
            "Delete a service, a cluster with its services, or everything.",
        ),
        CommandSpec(
            names.LIST_CLUSTERS,
            ListClustersArgs,
            ListClustersResult,
            "List inference clusters with their live state.",
        ),
        CommandSpec(
            names.LIST_SERVICES,
            ListServicesArgs,
            ListServicesResult,
            "List services with their live state.",
        ),
        CommandSpec(
            names.GET_SERVICE_KEYS,
            ServiceNameArgs,
            ServiceKeys,
            "A service's primary and secondary keys.",
        ),
        CommandSpec(
            names.GET_SERVICE_LOGS, GetServiceLogsArgs, ServiceLogs, "The tail of a service's log."
        ),
        CommandSpec(
            names.GET_WORKSPACE,
            GetWorkspaceArgs,
            WorkspaceInfo,
            "Which workspace the settings select (for a status bar); never signs in.",
        ),
        CommandSpec(
            names.COMPARE_RUNS,
            CompareRunsArgs,
            CompareRunsResult,
            "Params and metrics of runs side by side, with a plot of a metric over them.",
        ),
        CommandSpec(
            names.OPEN_TRACKING_UI,
            OpenTrackingUiArgs,
            OpenTrackingUiResult,
            "Start (or reuse) MLflow's tracking UI on the local store; the page's URL.",
        ),
    )
}

NOTIFICATIONS: dict[str, type[WireModel]] = {
    names.RUN_OUTPUT: RunOutputParams,
    names.RUN_UPDATED: RunUpdatedParams,
    names.SERVICE_UPDATED: ServiceUpdatedParams,
    names.CLUSTER_UPDATED: ClusterUpdatedParams,
    names.WORKSPACE_CHANGED: WorkspaceInfo,
}

SETTINGS: type[WireModel] = Settings
