"""`-C key=value` options → Lensflow's own DeployArgs, and the cluster a deployment goes to.

Values are checked by the same pydantic models as the language server's commands, so a bad
value is refused with the same rule, and named here by the option the user typed.
"""

from __future__ import annotations

import logging
from typing import Any

from lensflow_protocol.deployment import CreateClusterArgs, DeployArgs
from lensflow_protocol.errors import Conflict
from pydantic import ValidationError

from lensflow.workspaces.local.deployments import LocalDeployments

from .errors import invalid

log = logging.getLogger(__name__)

# The lens's default cluster too (views.serving.DEFAULT_CLUSTER; not imported from there, as
# it loads lsprotocol: 0.7 s on every CLI call; a test keeps the two equal).
DEFAULT_CLUSTER = "local-cluster"
# -C key → DeployArgs field
OPTIONS = {"cluster": "cluster_name", "cpu_cores": "cpu_cores", "memory_gb": "memory_gb",
           "replicas": "replicas", "max_request_mb": "max_request_mb"}  # fmt: skip
# a field → what the user typed for it (else -C <field>: create-endpoint's options)
SHOWN = {"service_name": "--name", "model_name": "the model URI", "name": "the cluster name"} | {
    field: f"-C {key}" for key, field in OPTIONS.items()
}


def _checked(kind: type[DeployArgs] | type[CreateClusterArgs], values: dict[str, Any]) -> Any:
    try:
        return kind.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            shown = SHOWN.get(field, f"-C {field}")
            problems.append(f"{shown}={error.get('input')!r}: {error['msg']}")
        raise invalid("Invalid " + "; ".join(problems)) from None


def deploy_args(
    name: str, model_name: str, config: dict[str, Any] | None, base: dict[str, Any] | None = None
) -> DeployArgs:
    """DeployArgs from the options; `base` holds the values an update keeps."""
    config = dict(config or {})
    unknown = sorted(set(config) - set(OPTIONS))
    if unknown:
        raise invalid(
            f"Unknown option(s) {', '.join(unknown)}: the lensflow target takes "
            f"{', '.join(f'-C {key}=…' for key in OPTIONS)} (mlflow deployments help -t lensflow)."
        )
    values = {**(base or {}), "service_name": name, "model_name": model_name}
    values |= {OPTIONS[key]: value for key, value in config.items()}
    args: DeployArgs = _checked(DeployArgs, values)
    return args


def cluster_args(name: str, config: dict[str, Any] | None) -> CreateClusterArgs:
    """The seed's cluster (CreateClusterArgs' defaults) unless create-endpoint's -C says."""
    args: CreateClusterArgs = _checked(CreateClusterArgs, {**(config or {}), "name": name})
    return args


def cluster_for(deployments: LocalDeployments, wanted: str | None) -> str:
    """The cluster named, created if missing; else the only one; else `local-cluster`, created."""
    names = [c.name for c in deployments.clusters()]
    if wanted is None:
        if len(names) > 1:
            raise invalid(
                f"This workspace has {len(names)} clusters ({', '.join(names)}): "
                "choose one with -C cluster=<name>."
            )
        wanted = names[0] if names else DEFAULT_CLUSTER
    if wanted in names:
        return wanted
    try:
        info = deployments.create_cluster(cluster_args(wanted, None))
    except Conflict:  # another process (the editor, say) made it in the meantime
        return wanted
    log.info(
        "created cluster %s (%s, %s, %d node, %.0f vCPU, %.0f GB) in %s", info.name,
        info.cluster_purpose, info.vm_size, info.node_count, info.cpu_cores, info.memory_gb,
        deployments.store.home,
    )  # fmt: skip
    return wanted
