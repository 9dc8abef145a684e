"""Reads and writes an MLflow tracking store and model registry from the server process.

Plain blocking code, meant to run in the workspace's own executor thread: mlflow is imported
on first use there, never at server start-up. Works with any MLflow tracking URI. Runs and
experiments are here; the registry's half is `mlflow_registry.ModelRegistry`.
"""

from __future__ import annotations

import functools
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from lensflow_protocol.errors import NotFound, StoreError
from lensflow_protocol.tracking import (
    ExperimentInfo,
    ListExperimentsResult,
    ListRunsResult,
    RunDetail,
    RunInfo,
)

from .mlflow_registry import ModelRegistry
from .orphans import ORPHANED, process_gone
from .sqlite_tables import has_mlflow_tables
from .tags import (
    END_REASON_TAG,
    LOG_MODEL_TAG_PREFIX,
    PROCESS_TAG,
    SCRIPT_TAG,
    SHARED_VIEW_KEY,
    SHARED_VIEW_TAG_PREFIX,
)

log = logging.getLogger(__name__)
_VIEW_RUNS = 200  # the runs whose params and metrics become the view's columns


class MlflowStore(ModelRegistry):
    def __init__(self, tracking_uri: str, registry_uri: str | None = None) -> None:
        self.tracking_uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri

    @functools.cached_property
    def client(self) -> Any:
        from mlflow.tracking import MlflowClient

        return MlflowClient(tracking_uri=self.tracking_uri, registry_uri=self.registry_uri)

    # --- queries -------------------------------------------------------------------------
    def list_experiments(self) -> ListExperimentsResult:
        return ListExperimentsResult(
            experiments=[
                ExperimentInfo(
                    experiment_id=str(e.experiment_id),
                    name=e.name,
                    artifact_location=e.artifact_location,
                    lifecycle_stage=e.lifecycle_stage,
                )
                for e in self.client.search_experiments()
            ]
        )

    def list_runs(
        self, experiment_name: str | None, script: str | None, limit: int
    ) -> ListRunsResult:
        if experiment_name is not None:
            experiment = self.client.get_experiment_by_name(experiment_name)
            if experiment is None:
                raise NotFound(f"No experiment is named {experiment_name!r}.", name=experiment_name)
            ids = [experiment.experiment_id]
        else:
            ids = [e.experiment_id for e in self.client.search_experiments()]
        if not ids:
            return ListRunsResult(runs=[])
        query = ""
        if script is not None:
            quote = '"' if "'" in script else "'"
            query = f"tags.`{SCRIPT_TAG}` = {quote}{script}{quote}"
        runs = self.client.search_runs(
            ids, filter_string=query, max_results=limit, order_by=["attributes.start_time DESC"]
        )
        return ListRunsResult(runs=[_run_info(r) for r in runs])

    def get_run(self, run_id: str) -> RunDetail:
        run = self._run(run_id)
        experiment = self.client.get_experiment(run.info.experiment_id)
        return RunDetail(
            **_run_info(run).model_dump(),
            experiment_name=experiment.name,
            artifact_uri=run.info.artifact_uri,
            artifacts=self.list_artifacts(run_id),
            tags={k: v for k, v in run.data.tags.items() if not k.startswith(LOG_MODEL_TAG_PREFIX)},
        )

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[str]:
        found: list[str] = []
        for info in self.client.list_artifacts(run_id, path):
            found += self.list_artifacts(run_id, info.path) if info.is_dir else [info.path]
        return sorted(found)

    # --- writes --------------------------------------------------------------------------
    def finish_run(self, run_id: str, status: str, log_text: str) -> None:
        """Mark a run the script could not finish itself (killed, crashed) and keep its output."""
        with tempfile.TemporaryDirectory(prefix="lensflow-log-") as folder:
            log_path = Path(folder, "std_log.txt")
            log_path.write_text(log_text, encoding="utf-8")
            try:
                self.client.log_artifact(run_id, str(log_path), "outputs")
            except Exception:  # the status matters more than the log: keep going
                log.exception("could not keep the output of run %s", run_id)
        self.client.set_terminated(run_id, status)

    def close_orphaned_runs(self) -> list[str]:
        """Marks FAILED the RUNNING runs whose training process is gone from this machine.

        Its bootstrap records the end even when the server dies (parent-death signal); this
        catches what nothing recorded: the bootstrap killed with -9 too, or a machine restart.
        """
        ids = [e.experiment_id for e in self.client.search_experiments()]
        closed: list[str] = []
        token = None
        while ids:
            page = self.client.search_runs(
                ids, "attributes.status = 'RUNNING'", max_results=1000, page_token=token
            )
            for run in page:
                if process_gone(run.data.tags.get(PROCESS_TAG)):
                    self.client.set_tag(run.info.run_id, END_REASON_TAG, ORPHANED)
                    self.client.set_terminated(run.info.run_id, "FAILED")
                    closed.append(run.info.run_id)
            token = page.token
            if not token:
                break
        if closed:
            log.warning("closed %d orphaned run(s) as FAILED: %s", len(closed), closed)
        return closed

    def share_runs_view(self, experiment_id: str) -> str | None:
        """Saves, as MLflow's own shared view of the experiment's runs table, one whose columns
        are its runs' params and metrics (MLflow's default view shows neither); its share key,
        or None when the store refuses the tag."""
        keys: dict[str, set[str]] = {"params": set(), "metrics": set()}
        for run in self.client.search_runs([experiment_id], max_results=_VIEW_RUNS):
            keys["params"].update(run.data.params)
            keys["metrics"].update(run.data.metrics)
        columns = [f"attributes.`{name}`" for name in ("Source", "Models")] + [
            f"{kind}.`{key}`" for kind in ("params", "metrics") for key in sorted(keys[kind])
        ]
        value = json.dumps({"selectedColumns": columns})
        tag = f"{SHARED_VIEW_TAG_PREFIX}{SHARED_VIEW_KEY}"
        try:
            if self.client.get_experiment(experiment_id).tags.get(tag) != value:
                self.client.set_experiment_tag(experiment_id, tag, value)
        except Exception:  # a read-only store: the page opens with MLflow's default columns
            log.warning("no shared runs view for experiment %s", experiment_id, exc_info=True)
            return None
        return SHARED_VIEW_KEY

    def make_tables(self, artifact_root: str) -> None:
        """A new SQLite store gets its tables here, with the Default experiment's artifacts
        under `artifact_root` (MLflow's own default is ./mlruns of whatever folder is current)."""
        db = self.tracking_uri.removeprefix("sqlite:///")
        if db != self.tracking_uri and not has_mlflow_tables(Path(db)):
            from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

            SqlAlchemyStore(self.tracking_uri, artifact_root)  # type: ignore[no-untyped-call]

    def sweep(self) -> None:
        """At the worker's start: close orphaned runs of a store this machine writes itself
        (not a tracking server's or Azure's: their runs are not this machine's to judge)."""
        if self.tracking_uri.split(":", 1)[0].lower() in ("http", "https", "azureml"):
            return
        try:
            self.close_orphaned_runs()
        except Exception:  # queries must still work; the next start tries again
            log.warning("could not look for orphaned runs", exc_info=True)

    def run_data(self, run_id: str) -> tuple[dict[str, str], dict[str, float], list[str]]:
        data = self._run(run_id).data
        metrics = {k: float(v) for k, v in data.metrics.items()}
        return dict(data.params), metrics, self.list_artifacts(run_id)

    # --- helpers -------------------------------------------------------------------------
    def _run(self, run_id: str) -> Any:
        from mlflow.exceptions import MlflowException

        try:
            return self.client.get_run(run_id)
        except MlflowException as exc:
            if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                raise NotFound(f"No run has the id {run_id!r}.", runId=run_id) from exc
            raise StoreError(f"The tracking store failed: {exc.message}") from exc


def _run_info(run: Any) -> RunInfo:
    return RunInfo(
        run_id=run.info.run_id,
        experiment_id=str(run.info.experiment_id),
        run_name=run.info.run_name,
        status=run.info.status,
        start_time=run.info.start_time,
        end_time=run.info.end_time,
        script=run.data.tags.get(SCRIPT_TAG),
        params=dict(run.data.params),
        metrics={k: float(v) for k, v in run.data.metrics.items()},
    )
