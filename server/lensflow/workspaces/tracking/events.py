"""The events `run_bootstrap.py` sends the server on its control pipe, as types.

The bootstrap runs in the user's interpreter and imports nothing from Lensflow, so it writes
these as plain dict literals; tests/unit/test_bootstrap_events.py holds it to these shapes.
`parse` reads one line for `runner.py`, and `mismatches` says how a dict strays from its shape.
"""

from __future__ import annotations

import json
import logging
import types
import typing
from collections.abc import Mapping
from typing import Literal, TypedDict, Union, cast

log = logging.getLogger(__name__)


class StartedEvent(TypedDict):
    """The run exists in the store: from here on the server can name it."""

    event: Literal["started"]
    runId: str
    experimentId: str
    experimentName: str
    artifactUri: str


class EndedEvent(TypedDict):
    """The script is done and the run closed; what it logged, read back by the bootstrap."""

    event: Literal["ended"]
    status: Literal["FINISHED", "FAILED", "KILLED"]
    exitCode: int
    params: dict[str, str]
    metrics: dict[str, float]
    artifacts: list[str]


class ErrorEvent(TypedDict):
    """No run could be started (the store refused, or a cancel came first)."""

    event: Literal["error"]
    message: str


ControlEvent = StartedEvent | EndedEvent | ErrorEvent
SHAPES: dict[str, type] = {"started": StartedEvent, "ended": EndedEvent, "error": ErrorEvent}


def mismatches(event: Mapping[str, object], shape: type) -> list[str]:
    """How `event` differs from the TypedDict `shape`: missing or unknown keys, wrong types."""
    hints = typing.get_type_hints(shape)
    required: frozenset[str] = shape.__required_keys__  # type: ignore[attr-defined]
    problems = [f"missing {key!r}" for key in sorted(required - event.keys())]
    for key, value in event.items():
        if key not in hints:
            problems.append(f"unknown {key!r}")
        elif not _fits(value, hints[key]):
            problems.append(f"{key!r} is {value!r}, not {_name(hints[key])}")
    return problems


def parse(line: bytes) -> ControlEvent | None:
    """One control line as its event; None for what is not an event of a known kind."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        log.warning("ignoring a malformed control line: %r", line[:200])
        return None
    kind = event.get("event") if isinstance(event, dict) else None
    shape = SHAPES.get(kind) if isinstance(kind, str) else None
    if shape is None:
        return None
    # Taken all the same, as before types: its readers convert what they use.
    if problems := mismatches(event, shape):
        log.warning("control event %s strays from its type: %s", kind, problems)
    return cast(ControlEvent, event)


def _fits(value: object, hint: object) -> bool:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return value in args
    if origin in (Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is dict:
        return isinstance(value, dict) and all(
            _fits(k, args[0]) and _fits(v, args[1]) for k, v in value.items()
        )
    if origin is list:
        return isinstance(value, list) and all(_fits(item, args[0]) for item in value)
    if hint is type(None):
        return value is None
    if hint is float:  # JSON may write a whole float as an int; float takes ints in typing too
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(hint, type) and isinstance(value, hint)


def _name(hint: object) -> str:
    return getattr(hint, "__name__", None) or str(hint)
