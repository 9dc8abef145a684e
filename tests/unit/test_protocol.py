"""The committed JSON Schema is the one the models produce, and errors keep their codes."""

from __future__ import annotations

import json

import pytest
from lensflow_protocol import COMMANDS, names
from lensflow_protocol.errors import ERROR_CODES, ErrorKind, InvalidPath, error_from
from lensflow_protocol.schema import SCHEMA_PATH, build_schema, render
from lensflow_protocol.tracking import TrackRunArgs
from pydantic import ValidationError


def test_committed_schema_matches_models() -> None:
    assert SCHEMA_PATH.read_text(encoding="utf-8") == render(), (
        "protocol changed: run `python -m lensflow_protocol.schema --write` and commit"
    )


def test_schema_names_every_command_with_camel_case_fields() -> None:
    schema = build_schema()
    assert set(schema["commands"]) == set(COMMANDS)
    assert {names.TRACK_RUN, names.REGISTER_MODEL} <= set(schema["commands"])
    track = schema["$defs"]["TrackRunArgs"]
    assert set(track["properties"]) == {"script", "experimentName", "args", "env", "runName"}
    assert track["additionalProperties"] is False
    assert json.loads(render())["errors"]["domain"]["notFound"] == -32001


def test_error_codes_are_unique_and_in_the_domain_range() -> None:
    codes = list(ERROR_CODES.values())
    assert len(set(codes)) == len(codes) == len(ErrorKind)
    assert all(-32099 <= code <= -32000 for code in codes)


def test_errors_cross_a_process_boundary() -> None:
    error = error_from("invalidPath", "no", {"path": "../x"})
    assert isinstance(error, InvalidPath)
    assert error.code == -32003
    assert error.data() == {"kind": "invalidPath", "path": "../x"}
    assert error_from("somethingNew", "m").kind == ErrorKind.STORE_ERROR


def test_models_accept_camel_and_refuse_unknown() -> None:
    args = TrackRunArgs.model_validate({"script": "t.py", "runName": "r"})
    assert args.run_name == "r"
    assert args.wire() == {"script": "t.py", "args": [], "env": {}, "runName": "r"}
    with pytest.raises(ValidationError):
        TrackRunArgs.model_validate({"script": "t.py", "bogus": 1})
