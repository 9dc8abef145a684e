"""Wires contract commands into pygls: one argument object, validated by pydantic, and
domain errors mapped to JSON-RPC errors (-32602 with field errors, -32000… with `data.kind`).

LSP method: workspace/executeCommand.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from lensflow_protocol import COMMANDS
from lensflow_protocol.base import WireModel
from lensflow_protocol.errors import INVALID_PARAMS, LensflowError
from pydantic import ValidationError
from pygls.exceptions import JsonRpcException

if TYPE_CHECKING:
    from .server import LensflowServer

log = logging.getLogger(__name__)
A = TypeVar("A", bound=WireModel)
Handler = Callable[["LensflowServer", A], Awaitable[WireModel]]


def invalid_params(message: str, errors: list[dict[str, Any]]) -> JsonRpcException:
    return JsonRpcException(message=message, code=INVALID_PARAMS, data={"errors": errors})


def parse_arguments(model: type[A], command: str, raw: tuple[Any, ...]) -> A:
    """`arguments` must be one JSON object (or nothing, for commands with no required field)."""
    if len(raw) > 1:
        raise invalid_params(
            f"{command} takes exactly one argument object, got {len(raw)} arguments.",
            [{"loc": [], "msg": "expected exactly one argument object", "type": "arguments"}],
        )
    value = raw[0] if raw else {}
    if not isinstance(value, dict):
        raise invalid_params(
            f"{command} takes one JSON object as its argument, not {type(value).__name__}.",
            [{"loc": [], "msg": "expected a JSON object", "type": "model_type"}],
        )
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        # Via JSON: pydantic's error list may hold objects that don't serialise, and echoing
        # the input back could leak secrets or NULs.
        errors = json.loads(exc.json(include_url=False, include_input=False, include_context=False))
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(root)" for e in errors[:5])
        raise invalid_params(f"Invalid arguments for {command}: {fields}", errors) from None


def domain_error(exc: LensflowError) -> JsonRpcException:
    return JsonRpcException(message=exc.message, code=exc.code, data=exc.data())


def register(server: LensflowServer, name: str) -> Callable[[Handler[A]], Handler[A]]:
    """Registers `handler(ls, args)` as contract command `name`."""
    spec = COMMANDS[name]

    def decorate(handler: Handler[A]) -> Handler[A]:
        async def execute(ls: LensflowServer, *raw: Any) -> dict[str, Any]:
            args = parse_arguments(spec.arguments, name, raw)
            try:
                result = await handler(ls, args)  # type: ignore[arg-type]
            except LensflowError as exc:
                log.info("%s: %s (%s)", name, exc.message, exc.kind.value)
                raise domain_error(exc) from None
            return result.wire()

        # pygls resolves a command's type hints to structure its arguments; ours are raw JSON
        # (validated above), and "LensflowServer" only exists for the type checker.
        execute.__annotations__ = {}
        execute.__name__ = execute.__qualname__ = handler.__name__
        server.command(name)(execute)
        return handler

    return decorate
