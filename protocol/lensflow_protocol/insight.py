"""Experiment insight: comparing runs, and MLflow's own tracking UI."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from .base import SafeStr, WireModel
from .tracking import Name, RunInfo

RunId = Annotated[str, Field(pattern=r"^[0-9a-zA-Z_-]{1,64}$")]
Key = Annotated[SafeStr, Field(min_length=1, max_length=250)]


class CompareRunsArgs(WireModel):
    run_ids: Annotated[list[RunId], Field(min_length=2, max_length=100)] | None = Field(
        default=None, description="The runs to compare; or give `script`."
    )
    script: Annotated[SafeStr, Field(min_length=1, max_length=4096)] | None = Field(
        default=None, description="Compare this script's latest runs (path or file URI)."
    )
    limit: Annotated[int, Field(ge=2, le=100)] = Field(
        default=10, description="With `script`: how many of its latest runs."
    )
    metric: Key | None = Field(
        default=None, description="The metric to plot; default: the first the runs share."
    )
    param: Key | None = Field(
        default=None,
        description="The parameter to plot the metric against; default: the one parameter "
        "whose value varies across the runs, if only one does.",
    )

    @model_validator(mode="after")
    def _one_source(self) -> CompareRunsArgs:
        if (self.run_ids is None) == (self.script is None):
            raise ValueError("give exactly one of runIds or script")
        if self.run_ids is not None and len(set(self.run_ids)) != len(self.run_ids):
            raise ValueError("runIds names a run twice; give different runs")
        return self


class CompareRunsResult(WireModel):
    runs: list[RunInfo] = Field(description="The runs compared, oldest first.")
    markdown: str = Field(description="Params and metrics side by side, one column per run.")
    metric: str | None = Field(default=None, description="The metric plotted, if any.")
    param: str | None = Field(default=None, description="The parameter it is plotted against.")
    plot_path: str | None = Field(
        default=None, description="The plot (SVG), a file any editor can open."
    )
    plot_uri: str | None = Field(default=None, description="The same file as a file:// URI.")


class OpenTrackingUiArgs(WireModel):
    experiment_name: Name | None = Field(
        default=None, description="The experiment whose runs page to open; default: the latest."
    )
    run_id: RunId | None = Field(default=None, description="Open this run's page instead.")


class OpenTrackingUiResult(WireModel):
    url: str = Field(description="The page: the experiment's runs, or the run.")
    server_url: str = Field(description="The `mlflow server` on 127.0.0.1 serving the store.")
    experiment_id: str | None = None
    run_id: str | None = None
    reused: bool = Field(description="True when a server already running was reused.")
