"""Lenses for serving a script's model: `Create cluster` / `Deploy`, then `Invoke endpoint`
and `Clean up` while a service of it exists.

Served through textDocument/codeLens and codeLens/resolve (wired in `lenses`). Which services
exist comes from the service monitor's last look (`ls.services`), so building lenses never
waits on the store; `Deploy` needs the registry and is resolved.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from lensflow_protocol import names
from lsprotocol import types

if TYPE_CHECKING:
    from ..server import LensflowServer

DEFAULT_CLUSTER = "local-cluster"


def service_name_for(model_name: str) -> str:
    """diabetes_model -> diabetes-service, as the seed names it; valid as an Azure name."""
    stem = re.sub(r"[^a-z0-9]+", "-", model_name.lower()).strip("-")
    stem = re.sub(r"-?model$", "", stem) or "model"
    if not stem[0].isalpha():
        stem = f"m-{stem}"
    return f"{stem[:24].rstrip('-')}-service"


def service_commands(ls: LensflowServer, uri: str) -> list[types.Command]:
    """Invoke endpoint and Clean up for each service whose model came from this script."""
    script = ls.script_key(uri)
    commands = []
    for service in ls.services.values():
        if service.script != script:
            continue
        name = service.service_name
        commands.append(
            types.Command(
                title=f"Invoke endpoint {name} ({service.state})",
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


def serving_lenses(
    ls: LensflowServer, model_name: str, where: types.Range, uri: str
) -> list[types.CodeLens]:
    commands = service_commands(ls, uri)
    if not commands:
        data = {"kind": "deploy", "uri": uri, "modelName": model_name}
        return [types.CodeLens(range=where, data=data)]
    return [types.CodeLens(range=where, command=command) for command in commands]


async def resolve_deploy(ls: LensflowServer, data: dict[str, Any]) -> types.Command:
    workspace = ls.active_workspace()
    models = {m.name: m for m in (await workspace.list_models()).models}
    # The model this file registered: by a version from one of its runs, else by name.
    script = ls.script_key(str(data.get("uri", "")))
    mine = [m.name for m in models.values() if any(v.script == script for v in m.versions)]
    model_name = str(data["modelName"])
    if model_name not in mine and mine:
        model_name = mine[0]
    if model_name not in models:
        return types.Command(title="Deploy (register the model first)", command="")
    clusters = [c for c in (await workspace.list_clusters()).clusters if c.state == "Succeeded"]
    if not clusters:
        return types.Command(
            title=f"Create cluster {DEFAULT_CLUSTER}",
            command=names.CREATE_CLUSTER,
            arguments=[{"name": DEFAULT_CLUSTER}],
        )
    version = models[model_name].latest_version
    args = {
        "serviceName": service_name_for(model_name),
        "modelName": model_name,
        "clusterName": clusters[0].name,
    }
    return types.Command(
        title=f"Deploy {model_name} v{version} to {clusters[0].name}",
        command=names.DEPLOY,
        arguments=[args],
    )
