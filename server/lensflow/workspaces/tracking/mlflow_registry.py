"""The model-registry half of `MlflowStore`: register a run's model, list and locate versions.

A version deploys only from its own run's artifacts in the same store, so a service never
loads a file from anywhere else. Blocking code for the store worker, like `mlflow_store`.
"""

from __future__ import annotations

import logging
import posixpath
import tempfile
from pathlib import Path
from typing import Any

from lensflow_protocol.errors import InvalidPath, NotFound, StoreError
from lensflow_protocol.frameworks import FRAMEWORKS, ModelFramework
from lensflow_protocol.tracking import (
    ListModelsResult,
    ModelVersionInfo,
    RegisteredModelInfo,
    RegisterModelArgs,
    RegisterModelResult,
)

from lensflow import frameworks

from .artifact_paths import local_path, mlflow_folder_for, refuse_escapes, safe_artifact_path
from .store_types import RegistrationPlan
from .tags import FRAMEWORK_TAG, MODEL_PATH_TAG, SCRIPT_TAG

log = logging.getLogger(__name__)


class ModelRegistry:
    """Mixed into `MlflowStore`, which gives the client, the URI and the run lookup."""

    tracking_uri: str

    @property
    def client(self) -> Any:
        raise NotImplementedError

    def _run(self, run_id: str) -> Any:
        raise NotImplementedError

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

    def plan_registration(self, args: RegisterModelArgs) -> RegistrationPlan:
        """Checks a registration before anything is made: the run's artifact, its framework,
        and where the MLflow model made of it goes (None: it is an MLflow model already)."""
        path, _, framework, _ = self._checked(args)
        if framework == "MLflow":
            return RegistrationPlan(framework=framework, path=path, mlflowPath=None, ready=True)
        target = mlflow_folder_for(path)
        return RegistrationPlan(
            framework=framework, path=path, mlflowPath=target,
            ready=self._is_mlflow_model(args.run_id, target, framework),
        )  # fmt: skip

    def register_model(self, args: RegisterModelArgs) -> RegisterModelResult:
        """A version whose source is an MLflow model: the artifact itself, or the folder made
        of it beside it (`plan_registration` says where; the workspace has it made first)."""
        from mlflow.exceptions import MlflowException

        path, run, framework, logged = self._checked(args)
        root = run.info.artifact_uri.rstrip("/")
        source_path = path
        if framework != "MLflow":
            source_path = mlflow_folder_for(path)
            if not self._is_mlflow_model(args.run_id, source_path, framework):
                raise StoreError(
                    f"Run {args.run_id} has no MLflow model of {path!r} at {source_path!r}; "
                    "it is made when the model is registered: register it again.",
                    runId=args.run_id,
                    path=path,
                )
        source = logged.artifact_location if logged else f"{root}/{source_path}"
        try:
            self.client.create_registered_model(args.model_name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise StoreError(
                    f"Could not create model {args.model_name!r}: {exc.message}"
                ) from exc
        tags = {**args.tags, FRAMEWORK_TAG: framework, MODEL_PATH_TAG: path}
        if script := run.data.tags.get(SCRIPT_TAG):
            tags[SCRIPT_TAG] = script  # lets lenses find this file's models
        version = self.client.create_model_version(
            args.model_name, source, run_id=args.run_id, tags=tags, description=args.description,
            model_id=logged.model_id if logged else None,
        )  # fmt: skip
        return RegisterModelResult(
            model_name=args.model_name,
            version=int(version.version),
            model_framework=framework,
            source=source,
        )

    def _checked(self, args: RegisterModelArgs) -> tuple[str, Any, ModelFramework, Any | None]:
        """The artifact path (normalised), the run, the model's framework, and the run's
        logged model of that name when it is one (only an MLflow registration may be)."""
        path = safe_artifact_path(args.model_path)
        run = self._run(args.run_id)
        may_be_logged = args.model_framework in (None, "MLflow")
        if may_be_logged and (logged := self._logged_model(run, path)) is not None:
            return path, run, "MLflow", logged  # mlflow.<flavor>.log_model(name=path)
        root = run.info.artifact_uri.rstrip("/")
        if (local_root := local_path(root)) is not None:
            refuse_escapes(local_root, path)
        inferred = self._check_and_infer(args.run_id, path)
        framework = args.model_framework or inferred
        if framework is None:
            raise InvalidPath(
                f"Cannot tell the framework of {path!r}; pass modelFramework "
                f"({frameworks.spoken(FRAMEWORKS)}).",
                path=path,
            )
        return path, run, framework, None

    def _is_mlflow_model(self, run_id: str, path: str, framework: ModelFramework) -> bool:
        """Whether the run has, at `path`, an MLflow model of `framework`'s flavor (made by an
        earlier registration; one made as another framework is not this model)."""
        found = self.client.list_artifacts(run_id, path)
        if not any(posixpath.basename(i.path) == "MLmodel" for i in found):
            return False
        import yaml  # type: ignore[import-untyped]  # mlflow's own dependency
        from mlflow.artifacts import download_artifacts

        with tempfile.TemporaryDirectory() as scratch:
            mlmodel = download_artifacts(
                run_id=run_id, artifact_path=f"{path}/MLmodel", dst_path=scratch,
                tracking_uri=self.tracking_uri,
            )  # fmt: skip
            with open(mlmodel, encoding="utf-8") as file:
                flavors = (yaml.safe_load(file) or {}).get("flavors") or {}
        return frameworks.FACTS[framework].flavor in flavors

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
        # Deployed from the file the run logged; the version's source may be the MLflow model
        # made beside it, which MLflow's own tools load.
        source = self._check_source(mv, name, chosen)
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

    def _check_source(self, mv: Any, name: str, version: int) -> str:
        """A version deploys only from its own run's artifacts in this store, so a service
        never loads a pickle from anywhere else (another folder, a link out of the run).
        Its source is the run's model artifact (`modelPath`), or the MLflow model made of it;
        the artifact's URI is returned."""
        path = (mv.tags or {}).get(MODEL_PATH_TAG)
        refused = InvalidPath(
            f"{name} version {version} points outside its run's artifacts ({mv.source}); "
            "Lensflow deploys only models registered from a run of this store: register the "
            "run's model file with lensflow.registerModel.",
            modelName=name,
            source=str(mv.source),
        )
        if not mv.run_id or not path:
            raise refused
        run = self._run(mv.run_id)
        root = run.info.artifact_uri.rstrip("/")
        path = safe_artifact_path(path)
        logged = self._logged_model(run, path)
        if logged is not None and str(mv.source) == logged.artifact_location:
            if (local_model := local_path(logged.artifact_location)) is not None:
                refuse_escapes(local_model, ".")
            return str(logged.artifact_location)
        if str(mv.source) not in (f"{root}/{path}", f"{root}/{mlflow_folder_for(path)}"):
            raise refused
        if (local_root := local_path(root)) is not None:
            refuse_escapes(local_root, path)
        return f"{root}/{path}"

    def _logged_model(self, run: Any, name: str) -> Any | None:
        """The model the run logged with mlflow.<flavor>.log_model(name=…): MLflow 3 keeps it
        beside the run's artifacts (a LoggedModel), not among them."""
        query = f"source_run_id = '{_escape(run.info.run_id)}' AND name = '{_escape(name)}'"
        try:
            found = self.client.search_logged_models(
                [run.info.experiment_id], filter_string=query, max_results=1
            )
        except Exception:  # a store without logged models (a tracking server before MLflow 3)
            log.info("no logged models in %s", self.tracking_uri, exc_info=True)
            return None
        return found[0] if found else None

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
            children = self.client.list_artifacts(run_id, path)
            return frameworks.of_folder({posixpath.basename(i.path) for i in children})
        return frameworks.of_file(path)


def _escape(value: str) -> str:
    return value.replace("'", "\\'")
