"""Contract commands as pygls sees them: one argument object, validated by pydantic, and domain
errors mapped to JSON-RPC errors (-32602 with field errors, -32000… with `data.kind`).

LSP method: workspace/executeCommand (each contract command goes through `command_handler`).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from lensflow_protocol.errors import LensflowError
from pygls.exceptions import JsonRpcException

from .jsonrpc import LensflowProtocol, invalid_params

if TYPE_CHECKING:
    from lensflow_protocol.base import WireModel

log = logging.getLogger(__name__)
A = TypeVar("A", bound="WireModel")
Handler = Callable[[Any], Awaitable["WireModel"]]


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
    from pydantic import ValidationError

    try:
        # Strict, as the JSON Schema says: "5" is no integer, 1 no boolean (lax mode took
        # cleanUp's {"all": 1} for all: true). By the wire's camelCase names only: Python's
        # snake_case names are no aliases (the schema says additionalProperties: false).
        return model.model_validate(value, strict=True, by_alias=True, by_name=False)
    except ValidationError as exc:
        # Via JSON: pydantic's error list may hold objects that don't serialise, and echoing
        # the input back could leak secrets or NULs.
        errors = json.loads(exc.json(include_url=False, include_input=False, include_context=False))
        fields = ", ".join(".".join(str(p) for p in e["loc"]) or "(root)" for e in errors[:5])
        raise invalid_params(f"Invalid arguments for {command}: {fields}", errors) from None


def domain_error(exc: LensflowError) -> JsonRpcException:
    return JsonRpcException(message=exc.message, code=exc.code, data=exc.data())


def command_handler(
    protocol: Callable[[], LensflowProtocol], name: str, handler: Handler
) -> Callable[..., Awaitable[dict[str, Any]]]:
    """What pygls calls for contract command `name`: validates the arguments against the
    command's model, runs `handler(args)` cancellably, and answers its wire form."""

    async def execute(*raw: Any) -> dict[str, Any]:
        from lensflow_protocol.registry import COMMANDS

        args = parse_arguments(COMMANDS[name].arguments, name, raw)
        rpc = protocol()
        request_id = rpc.current_request_id()
        task = asyncio.current_task()
        if request_id is not None and task is not None:
            rpc.command_tasks[request_id] = task
        try:
            result = await handler(args)
        except LensflowError as exc:
            log.info("%s: %s (%s)", name, exc.message, exc.kind.value)
            raise domain_error(exc) from None
        finally:
            rpc.command_tasks.pop(request_id, None)
        return result.wire()

    # Arguments are raw JSON (validated above): pygls must not structure them by type hints.
    execute.__annotations__ = {}
    execute.__name__ = execute.__qualname__ = getattr(handler, "__name__", name)
    return execute
