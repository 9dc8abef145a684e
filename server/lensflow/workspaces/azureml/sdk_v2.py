"""The one module that imports the Azure ML SDK v2 (azure-ai-ml, azure-identity), lazily.

`AzureMLSdkV2` implements `interface.AzureSdk` for the model registry and tracking:
`MLClient(...)` from config.json, `workspaces.get` (its `mlflow_tracking_uri`), `get_token` on
the credential, `models.create_or_update` (an `mlflow_model` for an MLflow model folder, else a
`custom_model` tagged with its framework), `models.list` and `models.get`; clusters and
services are in `sdk_v2_online.py`. Methods block; the workspace calls them in threads with
deadlines.
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lensflow_protocol.errors import InvalidPath, Unsupported
from lensflow_protocol.frameworks import ModelFramework

from .errors import uses_service_principal
from .interface import AuthMode, AzureModel, Tracking
from .sdk_v2_online import OnlineServing

INSTALL_HELP = (
    "The Azure ML workspace (SDK v2) needs azure-ai-ml and azure-identity in the server's "
    "environment: install the `azureml` extra (pip install 'lensflow[azureml]'), restart the "
    'server, or set `azureSdk` to "v1" or `workspace` to "local".'
)
# Tags a registered version carries, so that listing it gives back what v1 keeps in fields.
FRAMEWORK_TAG = "modelFramework"
FRAMEWORK_VERSION_TAG = "modelFrameworkVersion"
RUN_ID_TAG = "runId"
_CONFIG_KEYS = ("subscription_id", "resource_group", "workspace_name")


def _refused(error: BaseException) -> bool:
    """Whether `error` comes of a refused connection (ECONNREFUSED), anywhere in its chain:
    azure-core wraps requests' error, which wraps urllib3's, whose `reason` holds the socket's."""
    seen: set[int] = set()
    todo: list[Any] = [error]
    while todo:
        exc = todo.pop()
        if not isinstance(exc, BaseException) or id(exc) in seen:
            continue
        seen.add(id(exc))
        if (
            isinstance(exc, ConnectionRefusedError)
            or getattr(exc, "errno", None) == errno.ECONNREFUSED
        ):
            return True
        if "[Errno 111]" in str(exc) or "Connection refused" in str(exc):
            return True
        todo += [exc.__cause__, exc.__context__, getattr(exc, "reason", None),
                 getattr(exc, "inner_exception", None), *exc.args]  # fmt: skip
    return False


_RETRY_POLICY: Any = None


def retry_policy_class() -> Any:
    """azure-core's RetryPolicy, but a refused connection is not retried: the host answered
    that nothing listens there (or the proxy did), and retrying it only delays "unreachable"
    by azure-core's back-off (about 5 s a request, several requests a command). Timeouts, DNS
    failures, resets and 429/5xx answers keep azure-core's retries."""
    global _RETRY_POLICY
    if _RETRY_POLICY is None:
        from azure.core.pipeline.policies import RetryPolicy

        class RefusedNotRetried(RetryPolicy):  # type: ignore[type-arg]
            def increment(
                self, settings: dict[str, Any], response: Any = None, error: Any = None
            ) -> bool:
                if error is not None and _refused(error):
                    settings["connect"] = 0  # decremented below to -1: exhausted, no retry
                return bool(super().increment(settings, response=response, error=error))

        _RETRY_POLICY = RefusedNotRetried
    return _RETRY_POLICY


def _import_error(exc: ImportError) -> Unsupported:
    return Unsupported(INSTALL_HELP, workspace="azureml", missing=str(exc.name))


def make_credential(mode: AuthMode, env: Mapping[str, str]) -> Any:
    """An azure-identity credential for `mode`; the browser only when `mode` asks for it."""
    try:
        import azure.identity as identity
    except ImportError as exc:
        raise _import_error(exc) from exc
    tenant = env.get("AZURE_TENANT_ID")
    # MSAL's requests (the authority's metadata, the token) do not retry a refused connection.
    # Not for the CLI, managed identity or DefaultAzureCredential: the managed identity's IMDS
    # client sets a retry policy class of its own (and probes without retries).
    fast = {"retry_policy_class": retry_policy_class()}
    if mode == "interactive":
        return identity.InteractiveBrowserCredential(tenant_id=tenant, **fast)
    if uses_service_principal(mode, env):
        return identity.ClientSecretCredential(
            env["AZURE_TENANT_ID"], env["AZURE_CLIENT_ID"], env["AZURE_CLIENT_SECRET"], **fast
        )
    if mode == "cli":
        return identity.AzureCliCredential(tenant_id=tenant or "")
    if mode == "msi":
        client_id = env.get("AZURE_CLIENT_ID")
        return identity.ManagedIdentityCredential(client_id=client_id) if client_id \
            else identity.ManagedIdentityCredential()  # fmt: skip
    # auto without a service principal: the CLI, a managed identity…, never a browser.
    return identity.DefaultAzureCredential(exclude_interactive_browser_credential=True)


def read_config(config_path: Path) -> dict[str, str]:
    """subscription_id, resource_group and workspace_name from the workspace's config.json."""
    help_text = (
        "Download config.json from the workspace's overview page in the Azure portal, and "
        "point the `workspace` setting at it."
    )
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except OSError:
        raise InvalidPath(
            f"No Azure ML config.json at {config_path}. {help_text}", path=str(config_path)
        ) from None
    except ValueError as exc:
        raise InvalidPath(
            f"{config_path} is not JSON ({exc}). {help_text}", path=str(config_path)
        ) from None
    missing = [key for key in _CONFIG_KEYS if not isinstance(config, dict) or not config.get(key)]
    if missing:
        raise InvalidPath(
            f"{config_path} lacks {', '.join(missing)}. {help_text}", path=str(config_path)
        )
    return {key: str(config[key]) for key in _CONFIG_KEYS}


def _model(m: Any) -> AzureModel:
    tags = {str(k): str(v) for k, v in (getattr(m, "tags", None) or {}).items()}
    context = getattr(m, "creation_context", None)
    created = getattr(context, "created_at", None)
    return AzureModel(
        name=str(m.name), version=int(m.version), framework=tags.get(FRAMEWORK_TAG),
        framework_version=tags.get(FRAMEWORK_VERSION_TAG),
        run_id=tags.get(RUN_ID_TAG) or getattr(m, "job_name", None),
        created_ms=int(created.timestamp() * 1000) if created is not None else None,
        source=str(getattr(m, "path", "") or ""), tags=tags,
    )  # fmt: skip


def _is_mlflow_folder(path: Path) -> bool:
    return path.is_dir() and (path / "MLmodel").is_file()


class AzureMLSdkV2(OnlineServing):
    """azure-ai-ml behind `AzureSdk`. The MLClient is built once; signing in happens lazily,
    on the first request, as azure-identity credentials do."""

    def __init__(
        self,
        config_path: Path,
        auth: AuthMode = "auto",
        env: Mapping[str, str] | None = None,
        credential: Any = None,
    ) -> None:
        self.config_path = config_path
        self.auth_mode: AuthMode = auth
        self.env = env if env is not None else os.environ
        self._credential = credential  # tests pass a static token credential
        self._lock = threading.Lock()
        self._client: Any = None
        self._workspace_name = ""
        self._init_online()

    @property
    def client(self) -> Any:
        with self._lock:
            if self._client is None:
                config = read_config(self.config_path)
                try:
                    from azure.ai.ml import MLClient
                except ImportError as exc:
                    raise _import_error(exc) from exc
                if self._credential is None:
                    self._credential = make_credential(self.auth_mode, self.env)
                self._client = MLClient(
                    self._credential, subscription_id=config["subscription_id"],
                    resource_group_name=config["resource_group"],
                    workspace_name=config["workspace_name"],
                    enable_telemetry=False, show_progress=False,
                    retry_policy=retry_policy_class()(),
                )  # fmt: skip
                self._workspace_name = config["workspace_name"]
            return self._client

    def tracking(self) -> Tracking:
        workspace = self.client.workspaces.get(self._workspace_name)
        uri = workspace.mlflow_tracking_uri
        if not uri:
            raise Unsupported(
                f"The Azure ML workspace {self._workspace_name!r} has no MLflow tracking URI.",
                workspace="azureml",
            )
        # The token azureml-mlflow takes from MLFLOW_TRACKING_TOKEN is a resource-manager one
        # (v1 hands out the same): ask for the scope of the cloud the client talks to.
        from azure.ai.ml._azure_environments import (
            _get_base_url_from_metadata,
            _resource_to_scopes,
        )

        scopes = _resource_to_scopes(_get_base_url_from_metadata())
        return Tracking(uri=str(uri), token=self._credential.get_token(*scopes).token or None)

    def register_model(
        self, run_id: str, model_name: str, model_path: str, framework: ModelFramework,
        framework_version: str | None, description: str | None, tags: Mapping[str, str],
    ) -> AzureModel:  # fmt: skip
        from azure.ai.ml.constants import AssetTypes
        from azure.ai.ml.entities import Model

        # `model_path` is on this machine: the workspace downloaded (and wrapped) it first.
        local = Path(model_path)
        kind = AssetTypes.MLFLOW_MODEL if _is_mlflow_folder(local) else AssetTypes.CUSTOM_MODEL
        path = str(local)
        all_tags = {**tags, FRAMEWORK_TAG: framework, RUN_ID_TAG: run_id}
        if framework_version:
            all_tags[FRAMEWORK_VERSION_TAG] = framework_version
        model = Model(name=model_name, path=path, type=kind, description=description, tags=all_tags)
        return _model(self.client.models.create_or_update(model))

    def list_models(self) -> list[AzureModel]:
        models = self.client.models
        return [_model(v) for container in models.list() for v in models.list(name=container.name)]

    def get_model(self, name: str, version: int | None) -> AzureModel | None:
        models = self.client.models
        if version is None:
            found = [_model(v) for v in models.list(name=name)]
            return max(found, key=lambda m: m.version) if found else None
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return _model(models.get(name, version=str(version)))
        except ResourceNotFoundError:
            return None
