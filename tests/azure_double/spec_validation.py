"""Checks every JSON answer the double gave against the spec's definitions (``spec_schemas.py``).

An answer is matched to its operation by method and path, independently of how the double routed
it, so a misrouted or unexpected answer cannot dodge the check: a success on a path or an
api-version no operation models is itself a violation, and so is a success without the body the
spec defines for it. Errors (400 and up) must be the spec's ``default`` answer, an ErrorResponse.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterable
from typing import Any

from jsonschema import Draft202012Validator, FormatChecker

from tests.azure_double.server import Exchange
from tests.azure_double.spec_schemas import find_operation, schema_for

FORMATS = FormatChecker(formats=())


def _date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"{value!r} has no time zone")
    return True


def _uuid(value: object) -> bool:
    if isinstance(value, str):
        uuid.UUID(value)
    return True


FORMATS.checks("date-time", raises=ValueError)(_date_time)
FORMATS.checks("uuid", raises=ValueError)(_uuid)

_VALIDATORS: dict[str, Draft202012Validator] = {}


def body_problems(definition: str, body: Any) -> list[str]:
    """Every way ``body`` breaks the definition, as readable lines (none when it conforms)."""
    validator = _VALIDATORS.get(definition)
    if validator is None:
        schema = schema_for(definition)
        Draft202012Validator.check_schema(schema)
        validator = Draft202012Validator(schema, format_checker=FORMATS)
        _VALIDATORS[definition] = validator
    problems = []
    for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(body)"
        problems.append(f"{definition} at {where}: {error.message}")
    return problems


def exchange_problems(exchange: Exchange) -> list[str]:
    """How one recorded answer departs from the spec (blob storage's XML answers are skipped)."""
    if exchange.is_blob or exchange.mount is not None:  # a mount answers in its own terms
        return []
    label = f"{exchange.method} {exchange.path}?api-version={exchange.api_version} -> "
    label += str(exchange.status)
    operation = find_operation(exchange.method, exchange.path)
    is_error = exchange.status >= 400
    has_json = exchange.response_json is not None
    if has_json and "json" not in (exchange.response_content_type or ""):
        return [f"{label}: a JSON body sent as {exchange.response_content_type!r}"]
    if is_error:
        if not has_json:
            return [f"{label}: an ARM error without an ErrorResponse body"]
        return [f"{label}: {p}" for p in body_problems("ErrorResponse", exchange.response_json)]
    if operation is None:
        return [f"{label}: no operation of the spec is modelled for this method and path"]
    if exchange.api_version not in operation.api_versions:
        return [
            f"{label}: {operation.operation_id} is modelled at "
            f"{sorted(operation.api_versions)}, not at {exchange.api_version}"
        ]
    if exchange.status not in operation.responses:
        return [f"{label}: {operation.operation_id} defines no {exchange.status} answer"]
    definition = operation.responses[exchange.status]
    if definition is None:
        return [f"{label}: the spec defines no body here"] if has_json else []
    if not has_json:
        return [f"{label}: the spec defines a {definition} body, and none came"]
    return [f"{label}: {p}" for p in body_problems(definition, exchange.response_json)]


def spec_problems(exchanges: Iterable[Exchange]) -> list[str]:
    return [problem for exchange in exchanges for problem in exchange_problems(exchange)]


def assert_conforms(exchanges: Iterable[Exchange]) -> int:
    """Fail with every violation; return how many JSON answers were checked."""
    checked = [e for e in exchanges if not e.is_blob]
    problems = spec_problems(checked)
    if problems:
        raise AssertionError(
            "the Azure double answered outside Microsoft's REST spec:\n  " + "\n  ".join(problems)
        )
    return len(checked)
