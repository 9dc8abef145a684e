"""Lensflow's demo: a scripted client that drives the seed's whole workflow, locally.

It starts the server over stdio, opens the seed's training script, prints the code lenses,
tracks a run (streaming its output), registers `diabetes_model`, creates a local inference
cluster, deploys `diabetes-service`, invokes it with X_test[0:2], and cleans up.

    python client-sample/python/demo.py [--workspace DIR]

Any JSON-RPC client in any language can do the same; this one uses pygls's client.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.client import LanguageClient

HERE = Path(__file__).resolve().parent
MODEL = "diabetes_model"
SERVICE = "diabetes-service"


async def execute(client: LanguageClient, command: str, arguments: dict[str, Any]) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=[arguments])
    )


def x_test_head() -> list[list[float]]:
    """The seed's X_test[0:2]: the same split as its training script."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    _, X_test, _, _ = train_test_split(X, y, test_size=0.2, random_state=0)
    return X_test[0:2].tolist()  # type: ignore[no-any-return]


def step(text: str) -> None:
    print(f"\n== {text}", flush=True)


async def lenses(client: LanguageClient, uri: str) -> list[types.CodeLens]:
    found = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    out = []
    for lens in found or []:
        out.append(lens if lens.command else await client.code_lens_resolve_async(lens))
    return out


def show(found: list[types.CodeLens], source: list[str]) -> None:
    for lens in found:
        line = lens.range.start.line
        title = lens.command.title if lens.command else "?"
        print(f"  line {line + 1:3}: [{title}]  {source[line].strip()[:60]}")


async def run(workspace: Path) -> int:
    workspace.mkdir(parents=True, exist_ok=True)
    script = workspace / "train.py"
    if not script.exists():
        shutil.copy(HERE / "train.py", script)
    uri = script.as_uri()
    source = script.read_text().splitlines()

    client = LanguageClient("lensflow-demo", "0.1")

    @client.feature("lensflow/runOutput")
    def run_output(params: Any) -> None:
        for line in params.text.splitlines():
            print(f"  | {line}", flush=True)

    @client.feature("lensflow/runUpdated")
    def run_updated(params: Any) -> None:
        print(f"  run {params.runId[:8]} is {params.status}", flush=True)

    @client.feature("lensflow/serviceUpdated")
    def service_updated(params: Any) -> None:
        print(f"  service {params.serviceName} is {params.state}", flush=True)

    @client.feature("lensflow/clusterUpdated")
    def cluster_updated(params: Any) -> None:
        print(f"  cluster {params.name} is {params.state}", flush=True)

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def diagnostics(params: types.PublishDiagnosticsParams) -> None:
        for d in params.diagnostics:
            print(f"  diagnostic line {d.range.start.line + 1}: {d.message}")

    step(f"start the server: {sys.executable} -m lensflow")
    await client.start_io(sys.executable, "-m", "lensflow", "--log-level", "WARNING")
    result = await client.initialize_async(
        types.InitializeParams(
            capabilities=types.ClientCapabilities(),
            workspace_folders=[types.WorkspaceFolder(uri=workspace.as_uri(), name="demo")],
            root_uri=workspace.as_uri(),
            initialization_options={"workspace": "local"},
        )
    )
    client.initialized(types.InitializedParams())
    assert result.server_info is not None
    commands = result.capabilities.execute_command_provider
    print(f"  {result.server_info.name} {result.server_info.version}")
    print(f"  commands: {', '.join(commands.commands) if commands else '-'}")

    step(f"open {script}")
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri, language_id="python", version=1, text="\n".join(source) + "\n"
            )
        )
    )
    show(await lenses(client, uri), source)

    step("click ▶ Track run")
    track = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="lensflow.trackRun", arguments=[{"script": uri}])
    )
    print(f"  run {track['runId']} in {track['experimentName']}: {track['status']}")
    print(f"  params {track['params']}  metrics {track['metrics']}")
    print(f"  artifacts {track['artifacts']}  ({track['durationS']:.1f} s)")
    if track["status"] != "FINISHED":
        print(track["outputTail"], file=sys.stderr)
        return 1

    step("lenses after the run")
    after = await lenses(client, uri)
    show(after, source)

    step("click Register model")
    register = next(
        lens.command
        for lens in after
        if lens.command and lens.command.command == "lensflow.registerModel"
    )
    # The lens knows the run and the file; the seed's name for the model is diabetes_model.
    (lens_args,) = register.arguments or [{}]
    registered = await execute(client, "lensflow.registerModel", {**lens_args, "modelName": MODEL})
    print(
        f"  {registered['modelName']} version {registered['version']} "
        f"({registered['modelFramework']}) from {registered['source']}"
    )
    models = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="lensflow.listModels", arguments=[])
    )
    for model in models["models"]:
        print(f"  registry: {model['name']} latest version {model['latestVersion']}")

    step("lenses after registering")
    show(await lenses(client, uri), source)

    step("create an inference cluster (Standard_D3_v2, DevTest, 1 node)")
    cluster = await execute(
        client,
        "lensflow.createCluster",
        {"name": "aks-devtest", "vmSize": "Standard_D3_v2", "clusterPurpose": "DevTest"},
    )
    print(
        f"  {cluster['name']}: {cluster['state']}, {cluster['cpuCores']} vCPU, "
        f"{cluster['memoryGb']} GB"
    )

    step("deploy diabetes-service, no scoring script (CPU 1, memory 1 GB, as the seed advises)")
    service = await execute(
        client,
        "lensflow.deploy",
        {
            "serviceName": SERVICE,
            "modelName": MODEL,
            "clusterName": "aks-devtest",
            "cpuCores": 1,
            "memoryGb": 1,
        },
    )
    print(f"  {service['serviceName']}: {service['state']}")
    if service.get("limitsEnforced"):
        print(f"  limits        {service['cpuCores']} CPU, {service['memoryGb']} GB (cgroups)")
    else:
        print(f"  limits        not enforced: {service.get('limitsNote')}")
    print(f"  REST endpoint {service['scoringUri']}")
    print(f"  Swagger       {service['swaggerUri']}")
    if service["state"] != "Healthy":
        print(service.get("error", ""), file=sys.stderr)
        return 1

    step("lenses while the service runs")
    show(await lenses(client, uri), source)

    step("invoke it with X_test[0:2], as the seed does")
    payload = {"data": x_test_head(), "method": "predict"}
    answer = await execute(
        client, "lensflow.invokeEndpoint", {"serviceName": SERVICE, "input": payload}
    )
    print(f"  HTTP {answer['statusCode']} in {answer['latencyMs']:.1f} ms: {answer['output']}")

    step("clean up, so nothing keeps running")
    deleted = await execute(client, "lensflow.cleanUp", {"clusterName": "aks-devtest"})
    for item in deleted["deleted"]:
        print(f"  deleted {item['kind']} {item['name']}")

    await client.shutdown_async(None)
    client.exit(None)
    await client.stop()
    step("see it all in MLflow's own UI")
    print(f"  mlflow ui --backend-store-uri sqlite:///{workspace / '.lensflow' / 'mlflow.db'}")
    # MLflow 3's UI starts in its GenAI mode whatever the experiment is; this opens its runs.
    print("  then open http://127.0.0.1:5000/#/experiments?workflowType=machine_learning")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=Path("lensflow-demo"))
    ns = parser.parse_args()
    return asyncio.run(run(ns.workspace.resolve()))


if __name__ == "__main__":
    sys.exit(main())
