"""Bad input gets -32602 with field errors, or a domain error a person can act on; never
-32603, never a dead server."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient

from tests.conftest import error_of, execute


def locs(error: JsonRpcException) -> list[list[Any]]:
    return [e["loc"] for e in error.data["errors"]]


@pytest.mark.parametrize(
    ("arguments", "field", "error_type"),
    [
        ({}, ["script"], "missing"),
        ({"script": 42}, ["script"], "string_type"),
        ({"script": ""}, ["script"], "too_short"),
        ({"script": "train.py", "colour": "red"}, ["colour"], "extra_forbidden"),
        ({"script": "train.py", "args": "--x 1"}, ["args"], "list_type"),
        ({"script": "train.py", "env": {"A": 1}}, ["env", "A"], "string_type"),
        ({"script": "a\x00b.py"}, ["script"], "value_error"),
        ({"script": "x" * 5000}, ["script"], "too_long"),
        ({"script": "train.py", "experimentName": ""}, ["experimentName"], "too_short"),
        # execve cannot set a name holding "=": it failed the run with -32603.
        ({"script": "train.py", "env": {"A=B": "1"}}, ["env", "A=B", "[key]"], "value_error"),
        # Lone surrogates (JSON's "\ud800") encode to no file name, argv or store text.
        ({"script": "train.py", "env": {"A": "\ud800"}}, ["env", "A"], "value_error"),
        ({"script": "train.py", "args": ["x\ud800"]}, ["args", 0], "value_error"),
        ({"script": "train.py", "experimentName": "\ud800"}, ["experimentName"], "value_error"),
        ({"script": "train.py", "runName": "r\udfff"}, ["runName"], "value_error"),
        ({"script": "\ud800.py"}, ["script"], "value_error"),
    ],
)
async def test_track_run_arguments(
    client: LanguageClient, arguments: dict[str, Any], field: list[str], error_type: str
) -> None:
    error = await error_of(client, "lensflow.trackRun", arguments)
    assert error.code == -32602
    assert field in locs(error)
    assert any(error_type in e["type"] for e in error.data["errors"]), error.data
    assert "input" not in error.data["errors"][0]  # the input is never echoed back


@pytest.mark.parametrize(
    "arguments",
    [
        [],  # no argument object at all, for a command with a required field
        [{"script": "train.py"}, {"script": "train.py"}],
        ["train.py"],
        [["train.py"]],
        [None],
    ],
)
async def test_argument_shape(client: LanguageClient, arguments: list[Any]) -> None:
    error = await error_of(client, "lensflow.trackRun", *arguments)
    assert error.code == -32602
    assert error.data["errors"]


async def test_a_lone_surrogate_in_an_env_name(client: LanguageClient) -> None:
    error = await error_of(
        client, "lensflow.trackRun", {"script": "train.py", "env": {"\ud800": "1"}}
    )
    assert error.code == -32602
    assert error.data["errors"][0]["loc"][0] == "env"
    assert "surrogate" in error.data["errors"][0]["msg"]


@pytest.mark.parametrize(
    ("command", "arguments", "field"),
    [
        ("lensflow.listServices", {"cluster_name": "local-cluster"}, "cluster_name"),
        ("lensflow.trackRun", {"script": "train.py", "experiment_name": "x"}, "experiment_name"),
        ("lensflow.listRuns", {"experiment_name": "x"}, "experiment_name"),
    ],
)
async def test_snake_case_names_are_no_aliases(
    client: LanguageClient, command: str, arguments: dict[str, Any], field: str
) -> None:
    # The schema says additionalProperties: false, and the wire's names are camelCase.
    error = await error_of(client, command, arguments)
    assert error.code == -32602
    assert [field] in locs(error)
    assert any(e["type"] == "extra_forbidden" for e in error.data["errors"])


@pytest.mark.parametrize("python", ["/etc/passwd", "/etc", "{project}/notes.txt"])
async def test_a_python_setting_that_is_no_interpreter(
    client: LanguageClient, project: Path, python: str
) -> None:
    (project / "notes.txt").write_bytes(b"\x7fELF not really")
    (project / "notes.txt").chmod(0o755)  # executable, but no program (ENOEXEC)
    python = python.format(project=project)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"python": python}})
    )
    error = await error_of(client, "lensflow.trackRun", {"script": "train.py"})
    assert (error.code, error.data["kind"]) == (-32003, "invalidPath"), error.message
    assert python in error.message and "`python` setting" in error.message
    assert error.data["path"] == python
    # The server goes on, and runs with a good interpreter again.
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"python": sys.executable}})
    )
    listed = await execute(client, "lensflow.listExperiments")
    assert "experiments" in listed


async def test_register_model_arguments(client: LanguageClient) -> None:
    error = await error_of(
        client,
        "lensflow.registerModel",
        {"runId": "../etc", "modelName": "", "modelPath": "m.pkl", "modelFramework": "PyTorch"},
    )
    assert error.code == -32602
    assert {("runId",), ("modelName",), ("modelFramework",)} <= {tuple(loc) for loc in locs(error)}

    error = await error_of(client, "lensflow.listRuns", {"limit": 0})
    assert (error.code, locs(error)) == (-32602, [["limit"]])


async def test_unknown_command(client: LanguageClient) -> None:
    error = await error_of(client, "lensflow.noSuchThing", {})
    assert error.code == -32602
    assert "noSuchThing" in error.message


async def test_domain_errors(client: LanguageClient, project: Path) -> None:
    missing = await error_of(client, "lensflow.trackRun", {"script": "nope/train.py"})
    assert (missing.code, missing.data["kind"]) == (-32001, "notFound")
    assert str(project / "nope" / "train.py") in missing.message

    (project / "notes.txt").write_text("hello")
    wrong_kind = await error_of(client, "lensflow.trackRun", {"script": "notes.txt"})
    assert wrong_kind.data["kind"] == "invalidPath"

    no_run = await error_of(client, "lensflow.getRun", {"runId": "0123456789abcdef"})
    assert (no_run.code, no_run.data["kind"]) == (-32001, "notFound")

    no_experiment = await error_of(client, "lensflow.listRuns", {"experimentName": "ghost"})
    assert no_experiment.data["kind"] == "notFound"

    run = await execute(client, "lensflow.trackRun", {"script": "train.py"})
    for path in ("../outside.pkl", "/etc/passwd", "a/../../b", "..", "."):
        escaped = await error_of(
            client,
            "lensflow.registerModel",
            {"runId": run["runId"], "modelName": "m", "modelPath": path},
        )
        assert (escaped.code, escaped.data["kind"]) == (-32003, "invalidPath"), path
    absent = await error_of(
        client,
        "lensflow.registerModel",
        {"runId": run["runId"], "modelName": "m", "modelPath": "nothing.pkl"},
    )
    assert absent.data["kind"] == "notFound"
    assert "model.pkl" in absent.message  # it says what the run does have
    unknown_framework = await error_of(
        client,
        "lensflow.registerModel",
        {"runId": run["runId"], "modelName": "m", "modelPath": "outputs/std_log.txt"},
    )
    assert unknown_framework.data["kind"] == "invalidPath"
    assert "modelFramework" in unknown_framework.message

    # After all of that, the server still works and registered nothing.
    models = await execute(client, "lensflow.listModels")
    assert models["models"] == []


async def test_unsupported_workspace_and_bad_settings(client: LanguageClient) -> None:
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"lensflow": {"workspace": 42}})
    )
    message = await client.wait_for_notification(types.WINDOW_SHOW_MESSAGE)
    assert "invalid settings" in message.message

    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"lensflow": {"workspace": "/nowhere/config.json"}}
        )
    )
    # A config.json that is not there: said before any sign-in is tried.
    error = await error_of(client, "lensflow.listExperiments")
    assert error.data["kind"] == "invalidPath"
    assert "No Azure ML config.json at /nowhere/config.json" in error.message
