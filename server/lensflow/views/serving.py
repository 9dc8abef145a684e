"""The serving commands of a script's model, as lenses and code actions show them: `Create
cluster` / `Deploy` until a service of it exists, then `Invoke endpoint` and `Clean up`.

Which services exist is what the service monitor saw last, so building these never waits on the
store; `Deploy` needs the registry and the clusters, and is resolved.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from lensflow_protocol import names
from lsprotocol import types

if TYPE_CHECKING:
    from lensflow_protocol.deployment import ServiceInfo

    from ..analysis import ScriptFacts
    from ..workspaces.base import Workspace

DEFAULT_CLUSTER = "local-cluster"


def service_name_for(model_name: str) -> str:
    """diabetes_model -> diabetes-service, as the seed names it; valid as an Azure name."""
    stem = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")
    stem = re.sub(r"-?model$", "", stem) or "model"
    if not stem[0].isalpha():
        stem = f"m-{stem}"
    return f"{stem[:24].rstrip('-')}-service"


def model_name_for(facts: ScriptFacts, uri: str) -> str:
    """The name the script registers its model under: its own, else `<stem>_model`."""
    if facts.registered_model_name:
        return facts.registered_model_name
    stem = uri.rstrip("/").rsplit("/", 1)[-1].removesuffix(".py").removesuffix(".ipynb")
    return f"{stem}_model"


def service_commands(services: Iterable[ServiceInfo], script: str | None) -> list[types.Command]:
    """Invoke endpoint and Clean up for each service whose model came from this script."""
    commands = []
    for service in services:
        if service.script != script:
            continue
        name = service.service_name
        state: str = service.state
        if (last := service.last_termination) and state != last.reason:
            # kubectl's Last State: the kill that the service has lived through.
            state += f" · last {last.reason} over {service.memory_gb:g} GB ×{last.count}"
        commands.append(
            types.Command(
                title=f"Invoke endpoint {name} ({state})",
                command=names.INVOKE_ENDPOINT,
                arguments=[{"serviceName": name}],
            )
        )
        commands.append(
            types.Command(
                title=f"Clean up {name}", command=names.CLEAN_UP, arguments=[{"serviceName": name}]
            )
        )
    return commands


async def resolve_deploy(
    workspace: Workspace, script: str | None, model_name: str
) -> types.Command:
    """Deploy the script's model to the first ready cluster, or to a managed endpoint where
    the workspace has them; else what must come first."""
    models = {m.name: m for m in (await workspace.list_models()).models}
    # The model this file registered: by a version from one of its runs, else by name.
    mine = [m.name for m in models.values() if any(v.script == script for v in m.versions)]
    if model_name not in mine and mine:
        model_name = mine[0]
    if model_name not in models:
        return types.Command(title="Deploy (register the model first)", command="")
    clusters = [c for c in (await workspace.list_clusters()).clusters if c.state == "Succeeded"]
    version = models[model_name].latest_version
    args: dict[str, str] = {"serviceName": service_name_for(model_name), "modelName": model_name}
    if not clusters and workspace.deploys_without_cluster:  # a managed endpoint needs none
        return types.Command(
            title=f"Deploy {model_name} v{version} to a managed endpoint",
            command=names.DEPLOY,
            arguments=[args],
        )
    if not clusters:
        return types.Command(
            title=f"Create cluster {DEFAULT_CLUSTER}",
            command=names.CREATE_CLUSTER,
            arguments=[{"name": DEFAULT_CLUSTER}],
        )
    args["clusterName"] = clusters[0].name
    return types.Command(
        title=f"Deploy {model_name} v{version} to {clusters[0].name}",
        command=names.DEPLOY,
        arguments=[args],
    )
