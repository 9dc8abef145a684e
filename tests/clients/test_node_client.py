"""The Node.js client (client-sample/node): built with npm from the committed JSON Schema, then
run against the real server for the whole workflow; and its build must break when the schema
drops a field the client uses."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.node_tools import SCHEMA, check, run, tool
from tests.conftest import REPO

NODE_CLIENT = REPO / "client-sample" / "node"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    """`npm ci`: exactly the committed package-lock.json."""
    check(run([tool("npm"), "ci", "--no-audit", "--no-fund"], NODE_CLIENT, 600), "npm ci")
    return NODE_CLIENT / "node_modules"


@pytest.fixture(scope="module")
def built(node_modules: Path) -> Path:
    """`npm run build`: types generated from the schema, then tsc (strict)."""
    check(run([tool("npm"), "run", "build"], NODE_CLIENT, 300), "npm run build")
    workflow = NODE_CLIENT / "out" / "workflow.js"
    assert workflow.is_file()
    return workflow


def seed_model() -> Any:
    """Independent truth: the seed's Ridge, trained here exactly as train.py does."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import Ridge
    from sklearn.metrics import mean_squared_error
    from sklearn.model_selection import train_test_split

    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    model = Ridge(alpha=0.03).fit(X_train, y_train)
    return model, float(mean_squared_error(y_test, model.predict(X_test)))


def processes_of(root: Path) -> list[int]:
    """Live processes started for the workspace: supervisords (their config is under it) and
    services (their environment names a config under it)."""
    needle = str(root.resolve()).encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            pid = int(proc.name)
            if pid == os.getpid():
                continue
            if (proc / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue  # a zombie is already dead
            if needle in (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes():
                found.append(pid)
        except (OSError, ValueError, IndexError):
            continue
    return found


@pytest.fixture
def workspace(project: Path) -> Iterator[Path]:
    """The demo workspace (conftest's `project`); afterwards cleans up whatever a failed run left
    (clusters and services outlive the server by design), then asserts that no supervisord or
    uvicorn of it is left."""
    yield project
    from lensflow.processes import kill_pids
    from lensflow.workspaces.local.deployments import LocalDeployments

    home = project / ".lensflow"
    if (home / "clusters").exists() or (home / "services").exists():
        LocalDeployments(home).clean_up(all=True)  # the client failed before its own cleanUp
    left = processes_of(project)
    if left:
        kill_pids(left, grace=1.0)
    assert left == [], f"processes outlived the workflow: {left}"


def result_line(stdout: str) -> dict[str, Any]:
    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, f"expected one RESULT line:\n{stdout}"
    result: dict[str, Any] = json.loads(lines[0].removeprefix("RESULT "))
    return result


@pytest.mark.slow
def test_workflow_against_the_real_server(built: Path, workspace: Path) -> None:
    done = run(
        [tool("node"), str(built), "--python", sys.executable, "--workspace", str(workspace)],
        NODE_CLIENT,
        timeout=300,
    )
    assert done.returncode == 0, f"workflow failed:\n{done.stdout}\n{done.stderr}"
    result = result_line(done.stdout)
    model, mse = seed_model()

    # Tracked: the run's own output streamed as it ran, with work-done progress.
    assert re.fullmatch(r"[0-9a-f]{32}", result["runId"])
    assert result["status"] == "FINISHED"
    assert result["metrics"]["mse"] == pytest.approx(mse, rel=1e-9)
    assert result["metrics"]["mse"] == pytest.approx(3424.8567, abs=1e-3)
    assert result["params"] == {"alpha": "0.03"}
    assert "model.pkl" in result["artifacts"]
    assert re.search(r"^  \| Mean Squared Error is 3424\.85", done.stdout, re.M)
    assert "[progress begin] Tracking train.py" in done.stdout
    assert "[progress end]" in done.stdout

    # Registered, deployed.
    assert result["model"] == {"name": "diabetes_model", "version": 1, "framework": "ScikitLearn"}
    assert result["cluster"]["state"] == "Succeeded"
    assert result["service"]["name"] == "diabetes-service"
    assert result["service"]["state"] == "Healthy"

    # Invoked without input: the server sent the swagger's example (one row of 10 features).
    example = result["invokeExample"]
    assert example["statusCode"] == 200
    assert example["input"] is not None, "the client could not read the swagger's example"
    rows = example["input"]["data"]
    assert len(rows) == 1 and len(rows[0]) == 10
    assert isinstance(example["output"], list) and len(example["output"]) == 1
    assert all(isinstance(v, float) for v in example["output"])
    assert example["output"] == pytest.approx(model.predict(rows).tolist(), rel=1e-9)

    # Invoked with the rows the client built: the trained Ridge predicts the same.
    explicit = result["invoke"]
    assert explicit["statusCode"] == 200
    rows = explicit["input"]["data"]
    assert len(rows) == 2 and all(len(row) == 10 for row in rows)
    assert isinstance(explicit["output"], list) and len(explicit["output"]) == 2
    assert all(isinstance(v, float) for v in explicit["output"])
    assert explicit["output"] == pytest.approx(model.predict(rows).tolist(), rel=1e-9)

    # Cleaned up: the service and the cluster, and (the fixture checks) no process left.
    assert {"kind": "service", "name": "diabetes-service"} in result["deleted"]
    assert {"kind": "cluster", "name": result["cluster"]["name"]} in result["deleted"]


def copy_client(node_modules: Path, dest: Path) -> Path:
    """The client's sources beside the installed node_modules, without generated types."""
    dest.mkdir()
    for name in ("package.json", "tsconfig.json"):
        shutil.copy(NODE_CLIENT / name, dest / name)
    shutil.copytree(NODE_CLIENT / "scripts", dest / "scripts")
    shutil.copytree(NODE_CLIENT / "src", dest / "src", ignore=shutil.ignore_patterns("generated"))
    (dest / "node_modules").symlink_to(node_modules, target_is_directory=True)
    return dest


def gen_and_typecheck(client: Path, schema: Path) -> subprocess.CompletedProcess[str]:
    gen = run([tool("node"), "scripts/gen-types.mjs", str(schema)], client, 120)
    check(gen, "gen")
    tsc = client / "node_modules" / "typescript" / "bin" / "tsc"
    return run([tool("node"), str(tsc), "-p", ".", "--noEmit"], client, 300)


def test_build_breaks_when_the_schema_drops_a_field_the_client_uses(
    node_modules: Path, tmp_path: Path
) -> None:
    client = copy_client(node_modules, tmp_path / "client")

    # Control: the committed schema, copied, compiles.
    schema = json.loads(SCHEMA.read_text())
    (tmp_path / "same.json").write_text(json.dumps(schema))
    same = gen_and_typecheck(client, tmp_path / "same.json")
    assert same.returncode == 0, same.stdout + same.stderr

    # TrackRunResult loses runId: the workflow reads track.runId, so tsc must refuse it.
    track = schema["$defs"]["TrackRunResult"]
    del track["properties"]["runId"]
    track["required"].remove("runId")
    (tmp_path / "edited.json").write_text(json.dumps(schema))
    broken = gen_and_typecheck(client, tmp_path / "edited.json")
    output = broken.stdout + broken.stderr
    assert broken.returncode != 0, output
    assert re.search(r"Property 'runId' does not exist on type 'TrackRunResult'", output), output


def test_generated_commands_cover_the_schema(built: Path) -> None:
    """Every command of the schema is in the generated `Commands` map, with its $defs."""
    generated = (NODE_CLIENT / "src" / "generated" / "protocol.ts").read_text()
    schema = json.loads(SCHEMA.read_text())
    for name, spec in schema["commands"].items():
        args = spec["arguments"]["$ref"].rsplit("/", 1)[1]
        result = spec["result"]["$ref"].rsplit("/", 1)[1]
        block = rf'"{re.escape(name)}": \{{\s*arguments: {args};\s*result: {result};\s*\}}'
        assert re.search(block, generated), name
    for name in schema["$defs"]:
        assert re.search(rf"export (interface|type) {name}\b", generated), name
