"""What the protocol fuzz tests share: the committed JSON Schema, a validator with JSON Schema's
own semantics, how an answer is judged, and the hypothesis settings.

The bound on examples is fixed and derandomized, so CI tries the same inputs every time;
`LENSFLOW_FUZZ_EXAMPLES=2000` (say) tries more, by hand.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import HealthCheck, settings
from lensflow_protocol.schema import SCHEMA_PATH

from tests.conftest import SAMPLE

from .rawlsp import RawLsp, shorten

SCHEMA: dict[str, Any] = json.loads(SCHEMA_PATH.read_text())
DEFS: dict[str, Any] = SCHEMA["$defs"]
COMMANDS: list[str] = sorted(SCHEMA["commands"])
DOMAIN_CODES: dict[str, int] = SCHEMA["errors"]["domain"]
EXAMPLES = int(os.environ.get("LENSFLOW_FUZZ_EXAMPLES", "25"))


def fuzz_settings(examples: int = EXAMPLES) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def arguments_schema(command: str) -> dict[str, Any]:
    """The command's argument object schema (self-contained: no $ref inside)."""
    name = SCHEMA["commands"][command]["arguments"]["$ref"].rsplit("/", 1)[-1]
    schema: dict[str, Any] = json.loads(json.dumps(DEFS[name]))
    assert "$ref" not in json.dumps(schema), f"{command}: arguments refer to other definitions"
    return schema


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Any
) -> Iterator[jsonschema.ValidationError]:
    """ECMA-262's `$` (JSON Schema's regex dialect) ends the text; Python's also matches
    before a final newline, so "abc\\n" would pass ^[a-z]+$. pydantic is right to refuse it."""
    if not validator.is_type(instance, "string"):
        return
    ends = pattern.endswith("$") and not pattern.endswith(r"\$")
    ecma = pattern[:-1] + r"\Z" if ends else pattern
    if re.search(ecma, instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# JSON integers are written without a fraction: 5.0 is a number, as strict validation says.
_TYPES = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
    "integer", lambda _, v: isinstance(v, int) and not isinstance(v, bool)
)
Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator, validators={"pattern": _pattern}, type_checker=_TYPES
)


def schema_valid(schema: dict[str, Any], instance: Any) -> bool:
    return bool(Validator(schema).is_valid(instance))


def result_errors(command: str, result: Any) -> list[str]:
    """Where a command's result breaks its committed result schema."""
    schema = {**SCHEMA["commands"][command]["result"], "$defs": DEFS}
    return [f"{list(e.absolute_path)}: {e.message}" for e in Validator(schema).iter_errors(result)]


def outcome(answer: dict[str, Any], command: str, sent: Any) -> str:
    """'result', 'invalid' (-32602 with field errors) or 'domain' (-32000…-32099 with a kind);
    fails the test on anything else, -32603 above all."""
    where = f"\n  command: {command}\n  sent: {shorten(sent)}\n  answer: {shorten(answer)}"
    if "error" not in answer:
        assert "result" in answer, "an answer with neither result nor error" + where
        problems = result_errors(command, answer["result"])
        assert not problems, f"the result breaks its schema: {problems[:3]}" + where
        return "result"
    error = answer["error"]
    code, data = error.get("code"), error.get("data")
    assert code != -32603, "internal error (-32603)" + where
    assert isinstance(error.get("message"), str) and error["message"], "no message" + where
    if code == -32602:
        errors = data.get("errors") if isinstance(data, dict) else None
        assert isinstance(errors, list) and errors, "-32602 without data.errors" + where
        for item in errors:
            assert {"loc", "msg", "type"} <= set(item), "an error without loc/msg/type" + where
            assert isinstance(item["loc"], list), "loc is not a list" + where
            assert "input" not in item, "the input was echoed back" + where
        return "invalid"
    assert isinstance(code, int) and -32099 <= code <= -32000, "not a domain error" + where
    kind = data.get("kind") if isinstance(data, dict) else None
    assert isinstance(kind, str), "a domain error without data.kind" + where
    assert DOMAIN_CODES.get(kind) == code, f"kind {kind!r} does not go with {code}" + where
    return "domain"


def still_serves(lsp: RawLsp) -> None:
    """The server has not died and answers a normal request."""
    assert lsp.alive(), f"the server died (exit code {lsp.proc.poll()}); {lsp.stream_error}"
    answer = lsp.execute("lensflow.listExperiments", [])
    assert "result" in answer, f"a normal request failed: {shorten(answer)}"
    assert isinstance(answer["result"]["experiments"], list)
    assert lsp.stream_error is None, lsp.stream_error


@contextlib.contextmanager
def serving(base: Path) -> Iterator[RawLsp]:
    """One real server on `base`/project (the sample train.py in it), its log in `base`.

    Yields it initialized and with its store worker started; at the end it must still serve,
    and it is shut down (killed if it will not go), leaving no process behind.
    """
    project = base / "project"
    project.mkdir()
    shutil.copy(SAMPLE, project / "train.py")
    server = RawLsp(project, base / "server.log")
    try:
        assert "result" in server.initialize()
        still_serves(server)
        yield server
        still_serves(server)
    finally:
        server.close()
