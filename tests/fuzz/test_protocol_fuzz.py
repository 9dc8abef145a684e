"""Fuzzing every command's arguments against the real server over stdio.

Arguments come from the committed JSON Schema (hypothesis-jsonschema): valid ones must get a
result that fits the result schema, or a domain error; schema-invalid ones (an unknown field, a
required one missing, a value of another type) must get -32602 with field errors. Hand-written
hostile inputs follow: 1 MB strings, NUL bytes, lone surrogates, 1,000 levels of nesting, path
traversal, shell metacharacters. Never -32603, never a hang: every request is answered within
30 s, and after each test the server still answers lensflow.listExperiments.

Commands that would do real work are fuzzed where they fail fast, so no example starts a
process: trackRun only with scripts that name no existing file (one test below runs train.py
once, on purpose, with shell metacharacters in its argv, env and run name); createCluster only
with VM sizes missing from the catalog (so no cluster, hence no deploy, can ever succeed here);
openTrackingUi only with a runId (an unknown run is refused before any `mlflow server` starts).
"""

from __future__ import annotations

import tempfile
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from lensflow.paths import script_path
from lensflow.workspaces.catalog import CATALOG
from lensflow_protocol.errors import LensflowError

from .rawlsp import RawLsp, shorten
from .support import (
    COMMANDS,
    arguments_schema,
    fuzz_settings,
    outcome,
    schema_valid,
    serving,
    still_serves,
)

CANARY = Path(tempfile.gettempdir()) / f"lensflow-fuzz-canary-{uuid.uuid4().hex[:12]}"
"""Never created: traversal and shell inputs aim at it, and it must still not exist at the end."""

TRIED: Counter[str] = Counter()  # requests sent, by what was tried; printed at the end


@pytest.fixture(scope="module")
def lsp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RawLsp]:
    base = tmp_path_factory.mktemp("protocol-fuzz")
    try:
        with serving(base) as server:
            yield server
    finally:
        print(f"\nprotocol fuzz: {sum(TRIED.values())} requests: {dict(sorted(TRIED.items()))}")
    assert not CANARY.exists(), f"something wrote {CANARY}: {list(CANARY.rglob('*'))}"
    assert sorted(p.name for p in base.iterdir()) == ["project", "server.log"]
    assert not (base / "project" / ".lensflow" / "clusters").exists(), "a cluster was created"


# ---------------------------------------------------------------------- strategies
def has_nul(value: Any) -> bool:
    """NUL anywhere but in invokeEndpoint's free-form `input` (the schema cannot say "no NUL";
    the server refuses it, -32602: the hostile cases below check that)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(has_nul(k) or (k != "input" and has_nul(v)) for k, v in value.items())
    return False


def names_a_file(script: str, root: Path) -> bool:
    try:
        return script_path(script, root).is_file()
    except (LensflowError, OSError, ValueError):
        return False


def exactly_one(*chosen: bool) -> bool:
    return sum(chosen) == 1


def valid_arguments(command: str, root: Path) -> st.SearchStrategy[dict[str, Any]]:
    """Schema-valid arguments that do no real work (see the module's docstring), and that keep
    the two rules the schema does not state: no NUL, and the "exactly one of" validators."""
    schema = arguments_schema(command)
    keep: list[Callable[[dict[str, Any]], bool]] = [
        lambda a: schema_valid(schema, a),  # JSON Schema's own regex `$`, not Python's
        lambda a: not has_nul(a),
    ]
    if command == "lensflow.createCluster":
        schema["required"] = [*schema["required"], "vmSize"]
        keep.append(lambda a: a["vmSize"].lower() not in CATALOG)
    elif command == "lensflow.openTrackingUi":
        schema["required"] = ["runId"]
        schema["properties"]["runId"] = schema["properties"]["runId"]["anyOf"][0]
    elif command == "lensflow.trackRun":
        keep.append(lambda a: not names_a_file(a["script"], root))
    elif command == "lensflow.cleanUp":
        keep.append(
            lambda a: exactly_one(
                a.get("serviceName") is not None,
                a.get("clusterName") is not None,
                a.get("all") is True,
            )
        )
    elif command == "lensflow.compareRuns":
        keep.append(
            lambda a: (
                exactly_one(a.get("runIds") is not None, a.get("script") is not None)
                and len(set(a.get("runIds") or [])) == len(a.get("runIds") or [])
            )
        )
    strategy = from_schema(schema)
    for predicate in keep:
        strategy = strategy.filter(predicate)
    return strategy


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)


@st.composite
def broken_arguments(draw: st.DrawFn, command: str, root: Path) -> dict[str, Any]:
    """A valid argument object, broken one way: an unknown field, a required one left out, or a
    field's value replaced by any JSON value. Kept only when the schema then refuses it."""
    schema = arguments_schema(command)
    properties = list(schema.get("properties", {}))
    arguments = dict(draw(valid_arguments(command, root)))
    how = draw(st.sampled_from(["unknown", "missing", "retyped"]))
    if how == "missing" and schema.get("required"):
        del arguments[draw(st.sampled_from(schema["required"]))]
    elif how == "retyped" and properties:
        arguments[draw(st.sampled_from(properties))] = draw(JSON_VALUES)
    else:
        arguments[draw(st.text(max_size=20).filter(lambda k: k not in properties))] = draw(
            JSON_VALUES
        )
    assume(not schema_valid(schema, arguments))
    return arguments


# ---------------------------------------------------------------------- generated arguments
@pytest.mark.parametrize("command", COMMANDS)
def test_valid_arguments_get_a_result_or_a_domain_error(lsp: RawLsp, command: str) -> None:
    @fuzz_settings()
    @given(arguments=valid_arguments(command, lsp.root))
    def one(arguments: dict[str, Any]) -> None:
        TRIED[f"valid {command}"] += 1
        kind = outcome(lsp.execute(command, [arguments]), command, arguments)
        assert kind in ("result", "domain"), f"valid arguments refused: {shorten(arguments)}"

    one()
    still_serves(lsp)


@pytest.mark.parametrize("command", COMMANDS)
def test_schema_invalid_arguments_get_field_errors(lsp: RawLsp, command: str) -> None:
    @fuzz_settings()
    @given(arguments=broken_arguments(command, lsp.root))
    def one(arguments: dict[str, Any]) -> None:
        TRIED[f"broken {command}"] += 1
        kind = outcome(lsp.execute(command, [arguments]), command, arguments)
        assert kind == "invalid", f"schema-invalid arguments accepted: {shorten(arguments)}"

    one()
    still_serves(lsp)


@pytest.mark.parametrize("command", COMMANDS)
def test_arguments_of_the_wrong_shape(lsp: RawLsp, command: str) -> None:
    """Not one object: another JSON value, two arguments; and none at all."""
    shapes = st.one_of(
        JSON_VALUES.filter(lambda v: not isinstance(v, dict)).map(lambda v: [v]),
        st.tuples(valid_arguments(command, lsp.root), JSON_VALUES).map(list),
    )

    @fuzz_settings()
    @given(arguments=shapes)
    def one(arguments: list[Any]) -> None:
        TRIED[f"shape {command}"] += 1
        assert outcome(lsp.execute(command, arguments), command, arguments) == "invalid"

    one()
    if command != "lensflow.openTrackingUi":  # with no argument, it starts an `mlflow server`
        TRIED[f"shape {command}"] += 1
        needs_one = bool(arguments_schema(command).get("required")) or command in (
            "lensflow.cleanUp",
            "lensflow.compareRuns",
        )
        kind = outcome(lsp.execute(command, []), command, [])
        assert kind == "invalid" if needs_one else kind in ("result", "domain"), command
    still_serves(lsp)


# ---------------------------------------------------------------------- hostile inputs
MB = "x" * 1_000_000
DEEP = 1_000


def nested(levels: int, leaf: str = "{}") -> str:
    return '{"a": ' * levels + leaf + "}" * levels


def relative_to_canary(name: str) -> str:
    """A relative path from any project folder (up to / first) into the canary folder."""
    return "../" * 40 + str(CANARY / name).lstrip("/")


TOUCH = f"touch {CANARY}/pwned"
# (id, command, arguments, expected outcome); "answer" = a result or a domain error.
HOSTILE: list[tuple[str, str, list[Any], str]] = [
    ("1MB script", "lensflow.trackRun", [{"script": MB}], "invalid"),
    ("1MB arg", "lensflow.trackRun", [{"script": "train.py", "args": [MB]}], "invalid"),
    ("1MB env", "lensflow.trackRun", [{"script": "train.py", "env": {"A": MB}}], "invalid"),
    ("1MB model name", "lensflow.registerModel",
     [{"runId": "r0", "modelName": MB, "modelPath": "m.pkl"}], "invalid"),
    ("1MB experiment", "lensflow.listRuns", [{"experimentName": MB}], "invalid"),
    ("1MB field name", "lensflow.listModels", [{MB: 1}], "invalid"),
    ("1MB input", "lensflow.invokeEndpoint",
     [{"serviceName": "no-service", "input": {"data": MB}}], "domain"),
    ("NUL script", "lensflow.trackRun", [{"script": "train.py\x00.sh"}], "invalid"),
    ("NUL env name", "lensflow.trackRun", [{"script": "t.py", "env": {"A\x00B": "1"}}], "invalid"),
    ("NUL location", "lensflow.createCluster",
     [{"name": "nul", "vmSize": "Nope", "location": "\x00"}], "invalid"),
    ("NUL model", "lensflow.deploy",
     [{"serviceName": "svc", "modelName": "m\x00", "clusterName": "c1"}], "invalid"),
    ("NUL in input", "lensflow.invokeEndpoint",
     [{"serviceName": "no-service", "input": {"\x00": "\x00"}}], "domain"),
    # A lone surrogate encodes to no path, argv or store text: a field error, at the edge.
    ("surrogate script", "lensflow.trackRun", [{"script": "\ud800.py"}], "invalid"),
    ("surrogate listRuns", "lensflow.listRuns", [{"script": "\udfff"}], "invalid"),
    ("surrogate experiment", "lensflow.listRuns", [{"experimentName": "\ud800"}], "invalid"),
    ("surrogate model", "lensflow.registerModel",
     [{"runId": "r0", "modelName": "\ud800", "modelPath": "\udc00"}], "invalid"),
    ("surrogate env", "lensflow.trackRun", [{"script": "t.py", "env": {"\udc00": "1"}}], "invalid"),
    ("surrogate args", "lensflow.trackRun", [{"script": "t.py", "args": ["\ud800"]}], "invalid"),
    ("= in env name", "lensflow.trackRun", [{"script": "t.py", "env": {"A=B": "1"}}], "invalid"),
    ("no such user", "lensflow.trackRun", [{"script": "~nosuchuser-lensflow/x.py"}], "domain"),
    ("no such user listRuns", "lensflow.listRuns", [{"script": "~nosuchuser-lf/x.py"}], "domain"),
    ("bad URI listRuns", "lensflow.listRuns", [{"script": "file://[/x.py"}], "domain"),
    ("bad URI compareRuns", "lensflow.compareRuns", [{"script": "file://[/x.py"}], "domain"),
    ("etc/passwd", "lensflow.trackRun", [{"script": "../" * 40 + "etc/passwd"}], "domain"),
    ("absolute", "lensflow.trackRun", [{"script": "/etc/passwd"}], "domain"),
    ("file URI", "lensflow.trackRun", [{"script": "file:///etc/passwd"}], "domain"),
    ("file URI host", "lensflow.trackRun", [{"script": "file://evil/etc/passwd"}], "domain"),
    ("http URI", "lensflow.trackRun", [{"script": "http://127.0.0.1:1/x.py"}], "domain"),
    ("home", "lensflow.trackRun", [{"script": "~/../../etc/shadow"}], "domain"),
    ("canary relative", "lensflow.trackRun", [{"script": relative_to_canary("x.py")}], "domain"),
    ("canary URI", "lensflow.trackRun", [{"script": (CANARY / "x.py").as_uri()}], "domain"),
    ("canary listRuns", "lensflow.listRuns", [{"script": relative_to_canary("x.py")}], "answer"),
    ("canary compare", "lensflow.compareRuns", [{"script": str(CANARY / "x.py")}], "answer"),
    ("canary model", "lensflow.registerModel",
     [{"runId": "r0", "modelName": "m", "modelPath": relative_to_canary("m.pkl")}], "domain"),
    ("service traversal", "lensflow.getServiceLogs", [{"serviceName": "../../etc"}], "invalid"),
    ("clean-up traversal", "lensflow.cleanUp", [{"serviceName": "../x"}], "invalid"),
    ("cluster traversal", "lensflow.createCluster", [{"name": "../../tmp"}], "invalid"),
    ("rm -rf", "lensflow.trackRun", [{"script": "; rm -rf /"}], "domain"),
    ("$()", "lensflow.trackRun", [{"script": f"$({TOUCH})"}], "domain"),
    ("backticks", "lensflow.trackRun", [{"script": f"`{TOUCH}`"}], "domain"),
    ("&&", "lensflow.trackRun", [{"script": f"train.py && {TOUCH}"}], "domain"),
    ("$() experiment", "lensflow.listRuns", [{"experimentName": f"$({TOUCH})"}], "domain"),
    ("$() vm size", "lensflow.createCluster",  # both at most 64 characters
     [{"name": "shell", "vmSize": "Standard_D3_v2; rm -rf /", "location": "$(rm -rf /)"}],
     "domain"),
    ("$() model", "lensflow.registerModel",
     [{"runId": "r0", "modelName": f"$({TOUCH})", "modelPath": f"`{TOUCH}`"}], "domain"),
    ("; cluster name", "lensflow.createCluster", [{"name": "a;rm -rf"}], "invalid"),
    ("message as argument", "lensflow.listModels", [{"jsonrpc": "2.0", "method": "exit"}],
     "invalid"),
    ("message as input", "lensflow.invokeEndpoint",
     [{"serviceName": "no-service", "input": {"jsonrpc": "2.0", "id": {}, "method": 5}}],
     "domain"),
    ("huge version", "lensflow.deploy",
     [{"serviceName": "svc", "modelName": "m", "modelVersion": 2**70, "clusterName": "c1"}],
     "domain"),
    ("huge limit", "lensflow.listRuns", [{"limit": 2**70}], "invalid"),
    ("tiny cpu", "lensflow.deploy",
     [{"serviceName": "svc", "modelName": "m", "clusterName": "c1", "cpuCores": 5e-324}],
     "domain"),
    ("string for bool", "lensflow.cleanUp", [{"all": "true"}], "invalid"),
    ("1 for bool", "lensflow.cleanUp", [{"all": 1}], "invalid"),
    ("string for int", "lensflow.listRuns", [{"limit": "5"}], "invalid"),
    ("float for int", "lensflow.getServiceLogs", [{"serviceName": "abc", "tail": 5.5}], "invalid"),
]  # fmt: skip

# The same, as JSON text: nesting json.dumps would refuse to write.
DEEP_CASES: list[tuple[str, str, str, str]] = [
    ("deep input", "lensflow.invokeEndpoint",
     f'[{{"serviceName": "no-service", "input": {nested(DEEP)}}}]', "domain"),
    ("deep argument list", "lensflow.trackRun", "[" * DEEP + "]" * DEEP, "invalid"),
    ("deep script", "lensflow.trackRun", f'[{{"script": {nested(DEEP)}}}]', "invalid"),
    ("deep env", "lensflow.trackRun", f'[{{"script": "t.py", "env": {nested(DEEP)}}}]', "invalid"),
    ("deep unknown field", "lensflow.listModels", f'[{{"x": {nested(DEEP)}}}]', "invalid"),
]  # fmt: skip


def judge(kind: str, expected: str, command: str, sent: Any) -> None:
    wanted = ("result", "domain") if expected == "answer" else (expected,)
    assert kind in wanted, f"{command}: expected {expected}, got {kind} for {shorten(sent)}"


@pytest.mark.parametrize(
    ("command", "arguments", "expected"),
    [case[1:] for case in HOSTILE],
    ids=[c[0] for c in HOSTILE],
)
def test_hostile_arguments(lsp: RawLsp, command: str, arguments: list[Any], expected: str) -> None:
    TRIED["hostile"] += 1
    answer = lsp.execute(command, arguments)
    judge(outcome(answer, command, arguments), expected, command, arguments)
    assert not CANARY.exists(), f"{shorten(arguments)} wrote {CANARY}"
    still_serves(lsp)


@pytest.mark.parametrize(
    ("command", "arguments", "expected"),
    [case[1:] for case in DEEP_CASES],
    ids=[c[0] for c in DEEP_CASES],
)
def test_deeply_nested_arguments(lsp: RawLsp, command: str, arguments: str, expected: str) -> None:
    TRIED["hostile"] += 1
    judge(outcome(lsp.execute_text(command, arguments), command, arguments), expected, command, "")
    still_serves(lsp)


# ---------------------------------------------------------------------- one real run
SHELL = [f"$({TOUCH})", f"`{TOUCH}`", f"; {TOUCH}", f"| {TOUCH}", f"&& {TOUCH}", "$HOME", "*"]


@pytest.mark.slow
def test_shell_metacharacters_reach_no_shell(lsp: RawLsp) -> None:
    """train.py runs for real with metacharacters in argv, env and run name: an argv list and
    no shell, so nothing is touched. Then registerModel is fuzzed against that real run: a path
    outside the run's artifacts is never registered."""
    arguments = {
        "script": "train.py",
        "args": SHELL,
        "env": {"LENSFLOW_FUZZ": f"$({TOUCH})", "LENSFLOW_FUZZ_2": f"`{TOUCH}`"},
        "runName": f"run; {TOUCH}",
    }
    TRIED["real run"] += 1
    answer = lsp.execute("lensflow.trackRun", [arguments])
    assert outcome(answer, "lensflow.trackRun", arguments) == "result"
    run = answer["result"]
    assert run["status"] == "FINISHED", shorten(run)
    assert not CANARY.exists(), f"a shell ran: {CANARY} exists"

    paths = st.sampled_from(
        ["model.pkl", "outputs/std_log.txt", "../model.pkl", "..", ".", "/etc/passwd",
         "file:///etc/passwd", relative_to_canary("m.pkl"), str(CANARY / "m.pkl"),
         "artifacts/../../../../etc/passwd", "~/.ssh/id_rsa", f"$({TOUCH})", "model.pkl/.."]
    ) | st.text(min_size=1, max_size=40).filter(lambda s: "\x00" not in s)  # fmt: skip
    names = st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s)
    home = str(lsp.root / ".lensflow")

    @fuzz_settings()
    @given(model_path=paths, model_name=names)
    def one(model_path: str, model_name: str) -> None:
        TRIED["registerModel on a real run"] += 1
        sent = {"runId": run["runId"], "modelName": model_name, "modelPath": model_path}
        answer = lsp.execute("lensflow.registerModel", [sent])
        kind = outcome(answer, "lensflow.registerModel", sent)
        assert kind in ("result", "domain"), shorten(answer)
        if kind == "result":
            source = answer["result"]["source"]
            assert source.startswith(home) and ".." not in Path(source).parts, (sent, source)

    one()
    assert not CANARY.exists()
    still_serves(lsp)
