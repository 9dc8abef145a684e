"""Domain error kinds and their JSON-RPC codes (-32000…-32099).

A domain error is a mistake a person can act on (a missing script, a name already taken);
the server answers it with `code`, a message, and `data.kind`. Invalid arguments are not
domain errors: they answer -32602 with pydantic's field errors in `data.errors`.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

INVALID_PARAMS = -32602
REQUEST_CANCELLED = -32800


class ErrorKind(StrEnum):
    """Stable `data.kind` values. Clients switch on these, never on messages."""

    NOT_FOUND = "notFound"
    CONFLICT = "conflict"
    INVALID_PATH = "invalidPath"
    UNSCHEDULABLE = "unschedulable"
    NOT_SIGNED_IN = "notSignedIn"
    UNREACHABLE = "unreachable"
    UNSUPPORTED = "unsupported"
    STORE_ERROR = "storeError"
    NO_WORKSPACE = "noWorkspace"
    RUNNER_FAILED = "runnerFailed"


ERROR_CODES: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: -32001,
    ErrorKind.CONFLICT: -32002,
    ErrorKind.INVALID_PATH: -32003,
    ErrorKind.UNSCHEDULABLE: -32004,
    ErrorKind.NOT_SIGNED_IN: -32005,
    ErrorKind.UNREACHABLE: -32006,
    ErrorKind.UNSUPPORTED: -32007,
    ErrorKind.STORE_ERROR: -32008,
    ErrorKind.NO_WORKSPACE: -32009,
    ErrorKind.RUNNER_FAILED: -32010,
}


class LensflowError(Exception):
    """A domain error. Raised by domain code, mapped to a JSON-RPC error by the server."""

    kind: ErrorKind = ErrorKind.STORE_ERROR

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    @property
    def code(self) -> int:
        return ERROR_CODES[self.kind]

    def data(self) -> dict[str, Any]:
        return {"kind": self.kind.value, **self.details}


class NotFound(LensflowError):
    kind = ErrorKind.NOT_FOUND


class Conflict(LensflowError):
    kind = ErrorKind.CONFLICT


class InvalidPath(LensflowError):
    kind = ErrorKind.INVALID_PATH


class Unschedulable(LensflowError):
    kind = ErrorKind.UNSCHEDULABLE


class NotSignedIn(LensflowError):
    kind = ErrorKind.NOT_SIGNED_IN


class Unreachable(LensflowError):
    kind = ErrorKind.UNREACHABLE


class Unsupported(LensflowError):
    kind = ErrorKind.UNSUPPORTED


class StoreError(LensflowError):
    kind = ErrorKind.STORE_ERROR


class NoWorkspace(LensflowError):
    kind = ErrorKind.NO_WORKSPACE


class RunnerFailed(LensflowError):
    """The training interpreter could not even start the run (no mlflow, bad interpreter)."""

    kind = ErrorKind.RUNNER_FAILED


def error_from(kind: str, message: str, details: dict[str, Any] | None = None) -> LensflowError:
    """Rebuilds a domain error that crossed a process boundary as (kind, message, details)."""
    for cls in LensflowError.__subclasses__():
        if cls.kind.value == kind:
            return cls(message, **(details or {}))
    return StoreError(message, **(details or {}))
