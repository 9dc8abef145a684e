"""Lensflow's domain errors as MLflow's: the one place the plugin maps them.

MLflow's CLI and clients switch on `MlflowException.error_code` (its protobuf names), as
Lensflow's clients switch on `ErrorKind`; every kind has its code here, so none falls through
to a generic INTERNAL_ERROR by accident (a test checks the table is complete).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from lensflow_protocol.errors import ErrorKind, LensflowError
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import (
    INTERNAL_ERROR,
    INVALID_PARAMETER_VALUE,
    INVALID_STATE,
    NOT_IMPLEMENTED,
    RESOURCE_ALREADY_EXISTS,
    RESOURCE_DOES_NOT_EXIST,
    RESOURCE_EXHAUSTED,
    TEMPORARILY_UNAVAILABLE,
    UNAUTHENTICATED,
)

CODES: dict[ErrorKind, int] = {
    ErrorKind.NOT_FOUND: RESOURCE_DOES_NOT_EXIST,
    ErrorKind.CONFLICT: RESOURCE_ALREADY_EXISTS,
    ErrorKind.INVALID_PATH: INVALID_PARAMETER_VALUE,
    ErrorKind.UNSCHEDULABLE: RESOURCE_EXHAUSTED,  # the cluster has no room for the replicas
    ErrorKind.NOT_SIGNED_IN: UNAUTHENTICATED,
    ErrorKind.UNREACHABLE: TEMPORARILY_UNAVAILABLE,
    ErrorKind.UNSUPPORTED: NOT_IMPLEMENTED,
    ErrorKind.STORE_ERROR: INTERNAL_ERROR,
    ErrorKind.NO_WORKSPACE: INVALID_STATE,
    ErrorKind.RUNNER_FAILED: INTERNAL_ERROR,
}


def from_lensflow(exc: LensflowError) -> MlflowException:
    return MlflowException(exc.message, error_code=CODES.get(exc.kind, INTERNAL_ERROR))


@contextlib.contextmanager
def as_mlflow() -> Iterator[None]:
    """Runs a plugin call; a Lensflow error leaves it as the MlflowException MLflow expects."""
    try:
        yield
    except LensflowError as exc:
        raise from_lensflow(exc) from exc


def from_http(status: int, output: object, service: str) -> MlflowException:
    """A service's 4xx/5xx: a 4xx is the input's fault (the service says which), else ours."""
    detail = output.get("error", output) if isinstance(output, dict) else output
    code = INVALID_PARAMETER_VALUE if 400 <= status < 500 and status != 401 else INTERNAL_ERROR
    return MlflowException(f"Deployment {service!r} answered HTTP {status}: {detail}", code)


def unsupported(message: str) -> MlflowException:
    return MlflowException(message, error_code=NOT_IMPLEMENTED)


def invalid(message: str) -> MlflowException:
    return MlflowException(message, error_code=INVALID_PARAMETER_VALUE)
