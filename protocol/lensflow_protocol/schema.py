"""Export the whole protocol as one JSON Schema document.

`python -m lensflow_protocol.schema --write` refreshes the committed copy
(`lensflow_protocol/lensflow.schema.json`); a test fails when the two drift apart.
A client in any language needs only that file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pydantic.json_schema import models_json_schema

from .errors import ERROR_CODES
from .registry import COMMANDS, NOTIFICATIONS, SETTINGS

SCHEMA_PATH = Path(__file__).with_name("lensflow.schema.json")


def build_schema() -> dict[str, Any]:
    models: list[tuple[type[Any], Any]] = []
    for spec in COMMANDS.values():
        models += [(spec.arguments, "validation"), (spec.result, "serialization")]
    models += [(model, "serialization") for model in NOTIFICATIONS.values()]
    models.append((SETTINGS, "validation"))
    schemas, doc = models_json_schema(models, by_alias=True, ref_template="#/$defs/{model}")
    keys: dict[Any, Any] = dict(schemas)

    def ref(model: type[Any], mode: str) -> str:
        return str(keys[(model, mode)]["$ref"])

    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Lensflow protocol",
        "description": (
            "Commands go through workspace/executeCommand with exactly one argument object."
        ),
        "commands": {
            name: {
                "summary": spec.summary,
                "arguments": {"$ref": ref(spec.arguments, "validation")},
                "result": {"$ref": ref(spec.result, "serialization")},
            }
            for name, spec in COMMANDS.items()
        },
        "notifications": {
            name: {"params": {"$ref": ref(model, "serialization")}}
            for name, model in NOTIFICATIONS.items()
        },
        "settings": {"$ref": ref(SETTINGS, "validation")},
        "errors": {
            "invalidParams": {"code": -32602, "data": "errors: pydantic's error list"},
            "domain": {kind.value: code for kind, code in ERROR_CODES.items()},
        },
        "$defs": doc.get("$defs", {}),
    }


def render() -> str:
    return json.dumps(build_schema(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="refresh the committed schema file")
    ns = parser.parse_args(argv)
    if ns.write:
        SCHEMA_PATH.write_text(render(), encoding="utf-8")
        print(f"wrote {SCHEMA_PATH}", file=sys.stderr)
    else:
        sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
