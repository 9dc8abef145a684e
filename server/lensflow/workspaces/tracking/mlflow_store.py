"""Reads and writes an MLflow tracking store and model registry from the server process.

Plain blocking code, meant to run in the workspace's own executor thread: mlflow is imported
on first use there, never at server start-up. Works with any MLflow tracking URI.
"""

from __future__ import annotations

import functools
import logging
import posixpath
import tempfile
from pathlib import Path
from typing import Any

from lensflow_protocol.errors import InvalidPath, NotFound, StoreError
from lensflow_protocol.tracking import (
    ExperimentInfo,
    ListExperimentsResult,
    ListModelsResult,
    ListRunsResult,
    ModelFramework,
    ModelVersionInfo,
    RegisteredModelInfo,
    RegisterModelArgs,
    RegisterModelResult,
    RunDetail,
    RunInfo,
)

from .artifact_paths import local_path, refuse_escapes, safe_artifact_path
from .orphans import END_REASON_TAG, ORPHANED, PROCESS_TAG, process_gone

log = logging.getLogger(__name__)

SCRIPT_TAG = "lensflow.script"
FRAMEWORK_TAG = "lensflow.modelFramework"
_FILE_FRAMEWORKS: dict[str, ModelFramework] = {
    ".pkl": "ScikitLearn",
    ".pickle": "ScikitLearn",
    ".joblib": "ScikitLearn",
    ".onnx": "Onnx",
}


class MlflowStore:
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
            tags={k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.log-model")},
        )

    def list_artifacts(self, run_id: str, path: str | None = None) -> list[str]:
        found: list[str] = []
        for info in self.client.list_artifacts(run_id, path):
            found += self.list_artifacts(run_id, info.path) if info.is_dir else [info.path]
        return sorted(found)

    def list_models(self) -> ListModelsResult:
        models = []
        for rm in self.client.search_registered_models():
            versions = sorted(
                self.client.search_model_versions(f"name = '{_escape(rm.name)}'"),
                key=lambda v: int(v.version),
            )
            models.append(
                RegisteredModelInfo(
                    name=rm.name,
                    latest_version=int(versions[-1].version) if versions else None,
                    versions=[
                        ModelVersionInfo(
                            version=int(v.version),
                            model_framework=(v.tags or {}).get(FRAMEWORK_TAG),
                            script=(v.tags or {}).get(SCRIPT_TAG),
                            source=v.source,
                            run_id=v.run_id,
                            creation_time=v.creation_timestamp,
                        )
                        for v in versions
                    ],
                )
            )
        return ListModelsResult(models=models)

    # --- writes --------------------------------------------------------------------------
    def register_model(self, args: RegisterModelArgs) -> RegisterModelResult:
        from mlflow.exceptions import MlflowException

        path = safe_artifact_path(args.model_path)
        run = self._run(args.run_id)
        root = run.info.artifact_uri.rstrip("/")
        if (local_root := local_path(root)) is not None:
            refuse_escapes(local_root, path)
        inferred = self._check_and_infer(args.run_id, path)
        framework = args.model_framework or inferred
        if framework is None:
            raise InvalidPath(
                f"Cannot tell the framework of {path!r}; pass modelFramework "
                "(ScikitLearn, Onnx, TensorFlow or MLflow).",
                path=path,
            )
        source = f"{root}/{path}"
        try:
            self.client.create_registered_model(args.model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise StoreError(
                    f"Could not create model {args.model_name!r}: {exc.message}"
                ) from exc
        tags = {**args.tags, FRAMEWORK_TAG: framework, "lensflow.modelPath": path}
        if script := run.data.tags.get(SCRIPT_TAG):
            tags[SCRIPT_TAG] = script  # lets lenses find this file's models
        version = self.client.create_model_version(
            args.model_name, source, run_id=args.run_id, tags=tags, description=args.description
        )
        return RegisterModelResult(
            model_name=args.model_name,
            version=int(version.version),
            model_framework=framework,
            source=source,
        )

    def model_artifact(self, name: str, version: int | None) -> dict[str, Any]:
        """Where a registered version's files are, locally: its source, or a download of it."""
        versions = self.client.search_model_versions(f"name = '{_escape(name)}'")
        if not versions:
            known = ", ".join(sorted(m.name for m in self.client.search_registered_models()))
            raise NotFound(
                f"No model is registered as {name!r} (registered: {known or 'none'}). "
                "Register one with lensflow.registerModel first.",
                modelName=name,
            )
        by_number = {int(v.version): v for v in versions}
        chosen = max(by_number) if version is None else version
        if chosen not in by_number:
            raise NotFound(
                f"Model {name!r} has no version {version} (it has {sorted(by_number)}).",
                modelName=name,
                modelVersion=version,
            )
        mv = by_number[chosen]
        framework = (mv.tags or {}).get(FRAMEWORK_TAG)
        if framework is None:
            raise InvalidPath(
                f"{name} version {chosen} was not registered by Lensflow and has no framework "
                f"tag ({FRAMEWORK_TAG}); register it again with lensflow.registerModel.",
                modelName=name,
            )
        source = str(mv.source)
        self._check_source(mv, name, chosen)
        local = source.removeprefix("file://")
        if "://" in local or not Path(local).exists():
            from mlflow.artifacts import download_artifacts

            # An `mlflow-artifacts:` source (a tracking server's proxy) resolves against the
            # store's own URI, not the process's global one.
            local = download_artifacts(
                artifact_uri=source, dst_path=tempfile.mkdtemp(), tracking_uri=self.tracking_uri
            )
        script = None
        if mv.run_id:
            try:
                script = self.client.get_run(mv.run_id).data.tags.get(SCRIPT_TAG)
            except Exception:  # the run may be gone; the model still deploys
                log.info("run %s of %s v%s is not readable", mv.run_id, name, chosen)
        return {
            "name": name, "version": chosen, "framework": framework, "path": local,
            "script": script,
        }  # fmt: skip

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

    def _check_source(self, mv: Any, name: str, version: int) -> None:
        """A version deploys only from its own run's artifacts in this store, so a service
        never loads a pickle from anywhere else (another folder, a link out of the run)."""
        path = (mv.tags or {}).get("lensflow.modelPath")
        refused = InvalidPath(
            f"{name} version {version} points outside its run's artifacts ({mv.source}); "
            "Lensflow deploys only models registered from a run of this store: register the "
            "run's model file with lensflow.registerModel.",
            modelName=name,
            source=str(mv.source),
        )
        if not mv.run_id or not path:
            raise refused
        root = self._run(mv.run_id).info.artifact_uri.rstrip("/")
        if str(mv.source) != f"{root}/{safe_artifact_path(path)}":
            raise refused
        if (local_root := local_path(root)) is not None:
            refuse_escapes(local_root, path)

    def _check_and_infer(self, run_id: str, path: str) -> ModelFramework | None:
        """Refuses a path the run does not have; returns the framework its shape suggests."""
        parent = posixpath.dirname(path) or None
        entries = {info.path: info for info in self.client.list_artifacts(run_id, parent)}
        if path not in entries:
            have = ", ".join(sorted(entries)) or "nothing"
            raise NotFound(
                f"Run {run_id} has no artifact {path!r} (it has: {have}). "
                "Log the model file with mlflow.log_artifact first.",
                runId=run_id,
                path=path,
            )
        if entries[path].is_dir:
            children = {
                posixpath.basename(i.path) for i in self.client.list_artifacts(run_id, path)
            }
            if "MLmodel" in children:
                return "MLflow"
            if "saved_model.pb" in children:
                return "TensorFlow"
            return None
        return _FILE_FRAMEWORKS.get(posixpath.splitext(path)[1].lower())


def _escape(value: str) -> str:
    return value.replace("'", "\\'")


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
