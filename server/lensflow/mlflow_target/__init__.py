"""`mlflow deployments … -t lensflow`: Lensflow's local clusters as an MLflow deployment target.

The plugin MLflow loads through the `mlflow.deployments` entry point: one BaseDeploymentClient,
`run_local` and `target_help`. It drives the same `LocalDeployments` state on disk as the
language server, so a service either one deploys is the other's too. Deployments are services;
MLflow's endpoints are clusters. Never imported by the language server: it loads mlflow.
"""

from __future__ import annotations

import logging
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from lensflow_protocol.deployment import DeployArgs, ServiceInfo
from lensflow_protocol.errors import NotFound
from mlflow.deployments import BaseDeploymentClient, PredictionsResponse
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INTERNAL_ERROR

from lensflow.workspaces.endpoint import beside, invoke
from lensflow.workspaces.local.deployments import LocalDeployments, ModelArtifact

from .errors import as_mlflow, from_http, invalid, unsupported
from .models import URI_FORMS, resolve_model, target_of
from .options import OPTIONS, cluster_args, cluster_for, deploy_args
from .translate import check_flavor, described, scoring_request

log = logging.getLogger(__name__)
if not log.handlers:  # MLflow's CLI shows only its own logger's lines: ours go to stderr too
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("lensflow: %(message)s"))
    log.addHandler(_handler)
    log.setLevel(logging.INFO)
    log.propagate = False


class LensflowDeploymentClient(BaseDeploymentClient):
    """Deployments are the workspace's services; endpoints are its clusters."""

    def __init__(self, target_uri: str) -> None:
        super().__init__(target_uri)  # type: ignore[no-untyped-call]  # mlflow: unannotated
        self.target = target_of(target_uri)
        self.deployments = LocalDeployments(self.target.home)

    # --- deployments: services ---------------------------------------------------------------
    def create_deployment(
        self, name: str, model_uri: str, flavor: str | None = None,
        config: dict[str, Any] | None = None, endpoint: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        with as_mlflow(), tempfile.TemporaryDirectory(prefix="lensflow-mlflow-") as scratch:
            model = resolve_model(self.target, model_uri, Path(scratch))
            check_flavor(flavor, model)
            args = deploy_args(name, model.name, _with_endpoint(config, endpoint))
            return self._deploy(args, model)

    def update_deployment(
        self, name: str, model_uri: str | None = None, flavor: str | None = None,
        config: dict[str, Any] | None = None, endpoint: str | None = None,
    ) -> dict[str, Any]:  # fmt: skip
        """Replaces the service: the new one keeps its name and sizes unless told otherwise,
        and gets a new port and new keys (a local service is one process: no rolling update)."""
        with as_mlflow(), tempfile.TemporaryDirectory(prefix="lensflow-mlflow-") as scratch:
            current = self._service(name, None)
            if model_uri:
                model = resolve_model(self.target, model_uri, Path(scratch))
            else:
                model = self._kept_model(name, Path(scratch))
            check_flavor(flavor, model)
            kept = current.model_dump(include={"cluster_name", "cpu_cores", "memory_gb",
                                               "replicas", "auth_enabled",
                                               "max_request_mb"}, exclude_none=True)  # fmt: skip
            args = deploy_args(name, model.name, _with_endpoint(config, endpoint), kept)
            log.info("replacing %s with %s v%s", name, model.name, model.version)
            self.deployments.clean_up(service=name)
            return self._deploy(args, model)

    def delete_deployment(
        self, name: str, config: dict[str, Any] | None = None, endpoint: str | None = None
    ) -> None:
        # Idempotent, as MLflow asks of deletions: a missing deployment is said, not an error.
        with as_mlflow():
            if not self.deployments.clean_up(service=name).deleted:
                log.info("no deployment named %s in %s: nothing to delete", name, self.target.home)

    def list_deployments(self, endpoint: str | None = None) -> list[dict[str, Any]]:
        with as_mlflow():
            return [described(info) for info in self.deployments.services(endpoint)]

    def get_deployment(self, name: str, endpoint: str | None = None) -> dict[str, Any]:
        with as_mlflow():
            return described(self._service(name, endpoint))

    def predict(
        self, deployment_name: str | None = None, inputs: Any = None, endpoint: str | None = None
    ) -> PredictionsResponse:
        if deployment_name is None:
            raise invalid("Name the deployment to predict with (--name): endpoints are clusters.")
        with as_mlflow():
            info = self._service(deployment_name, endpoint)
            key = self.deployments.keys(deployment_name).primary_key if info.auth_enabled else None
            url = beside(info.scoring_uri, "/invocations")
            result = invoke(url, key, scoring_request(inputs), deployment_name)
        if result.status_code >= 400:
            raise from_http(result.status_code, result.output, deployment_name)
        return PredictionsResponse(result.output)

    def explain(
        self, deployment_name: str | None = None, df: Any = None, endpoint: str | None = None
    ) -> Any:
        raise unsupported(
            "The lensflow target cannot explain predictions: its scoring services compute "
            "predictions only (use predict, or an explainer such as SHAP on the model itself)."
        )

    # --- endpoints: clusters -----------------------------------------------------------------
    def create_endpoint(self, name: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
        with as_mlflow():
            self.deployments.create_cluster(cluster_args(name, config))
        return self.get_endpoint(name)

    def list_endpoints(self) -> list[dict[str, Any]]:
        with as_mlflow():
            return [c.model_dump(exclude_none=True) for c in self.deployments.clusters()]

    def get_endpoint(self, endpoint: str) -> dict[str, Any]:
        found = [c for c in self.list_endpoints() if c["name"] == endpoint]
        with as_mlflow():
            if not found:
                raise NotFound(f"No cluster named {endpoint!r} in {self.target.home}.")
        return found[0]

    def delete_endpoint(self, endpoint: str) -> None:
        """Removes the cluster, its supervisord and every deployment on it."""
        with as_mlflow():
            for deleted in self.deployments.clean_up(cluster=endpoint).deleted:
                log.info("deleted %s %s", deleted.kind, deleted.name)

    # --- helpers -----------------------------------------------------------------------------
    def _deploy(self, args: DeployArgs, model: ModelArtifact) -> dict[str, Any]:
        args = args.model_copy(
            update={"cluster_name": cluster_for(self.deployments, args.cluster_name)}
        )

        def on_state(state: str, error: str | None) -> None:
            log.info("%s: %s", args.service_name, state)

        info = self.deployments.deploy(args, model, on_state)
        if info.state == "Failed":
            raise MlflowException(
                f"Deployment {args.service_name} failed: {info.error}\nIts log stays for "
                f"`mlflow deployments get`; remove it with `mlflow deployments delete -t "
                f"{self.target_uri} --name {args.service_name}`.",
                INTERNAL_ERROR,
            )
        return described(info)

    def _service(self, name: str, endpoint: str | None) -> ServiceInfo:
        try:
            info = self.deployments.service(name)
        except NotFound:  # said in MLflow's words, not the language server's
            raise NotFound(
                f"No deployment named {name!r} in {self.target.home} (mlflow "
                f"deployments list -t {self.target_uri} lists them)."
            ) from None
        if endpoint is not None and info.cluster_name != endpoint:
            raise NotFound(f"Deployment {name} is on cluster {info.cluster_name}, not {endpoint}.")
        return info

    def _kept_model(self, name: str, scratch: Path) -> ModelArtifact:
        """A copy of the service's own model, made before the service (and it) is removed."""
        record = self.deployments.store.service(name)
        if record is None:
            raise NotFound(f"No deployment named {name!r}.")
        source, copy = Path(record.model_path), scratch / "kept" / Path(record.model_path).name
        copy.parent.mkdir()
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            shutil.copy2(source, copy)
        return ModelArtifact(
            name=record.model_name, version=record.model_version,
            framework=record.model_framework, path=copy, script=record.script,
        )  # fmt: skip


def _with_endpoint(config: dict[str, Any] | None, endpoint: str | None) -> dict[str, Any]:
    """`--endpoint` names the cluster, as `-C cluster` does; both must then agree."""
    config = dict(config or {})
    if endpoint is not None and config.setdefault("cluster", endpoint) != endpoint:
        raise invalid(f"--endpoint {endpoint} and -C cluster={config['cluster']} disagree.")
    return config


def run_local(
    name: str, model_uri: str, flavor: str | None = None, config: dict[str, Any] | None = None
) -> None:
    raise unsupported(
        "run_local is not supported by the lensflow target: `mlflow deployments create -t "
        "lensflow …` already serves the model on this machine (127.0.0.1, under supervisord). "
        f"For a server in the foreground, use `mlflow models serve -m {model_uri}`."
    )


def target_help() -> str:
    options = ", ".join(f"-C {key}=…" for key in OPTIONS)
    return f"""\
Lensflow's local clusters (supervisord + uvicorn on 127.0.0.1), shared with the Lensflow
language server: a deployment either one creates, the other lists, invokes and deletes.

Target URI
  lensflow              the workspace of the current folder (./.lensflow)
  lensflow:/abs/path    the workspace of /abs/path (/abs/path/.lensflow)

Model URI (-m): {URI_FORMS}.
  Models are read from MLFLOW_TRACKING_URI if set, else the workspace's own store
  (sqlite:///<folder>/.lensflow/mlflow.db). A runs:/ model has no registered version: its
  deployment shows model_name runs:/<run_id>/<path> and model_version 0.

Config ({options})
  cluster     the cluster to deploy to; created (DevTest, Standard_D3_v2, 1 node) if missing.
              Default: the workspace's only cluster, else local-cluster, created.
  cpu_cores   CPU reserved per replica (default 0.1)
  memory_gb   memory reserved per replica, GB (default 0.5)
  replicas    uvicorn workers (default 1)
  max_request_mb  the largest request body, MiB (default 100); larger ones get a 413

Commands
  create, get, list, delete (idempotent), predict (a DataFrame, a dict or a list, sent to
  the service's /invocations with its key), update (replaces the service: new port and keys;
  sizes and model are kept unless given). Endpoints are clusters: list-endpoints,
  get-endpoint, create-endpoint, delete-endpoint (removes its deployments too).
  explain and run-local are not supported.

Example
  mlflow deployments create -t lensflow --name diabetes-service -m models:/diabetes_model/1 \\
      -C cpu_cores=1 -C memory_gb=1
  mlflow deployments predict -t lensflow --name diabetes-service --input-path rows.json
"""
