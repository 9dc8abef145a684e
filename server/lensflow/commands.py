"""Wires contract commands into pygls: one argument object, validated by pydantic, and
domain errors mapped to JSON-RPC errors (-32602 with field errors, -32000… with `data.kind`).

LSP method: workspace/executeCommand.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from lensflow_protocol.errors import INVALID_PARAMS, LensflowError
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol

if TYPE_CHECKING:
    from lensflow_protocol.base import WireModel

    from .server import LensflowServer

log = logging.getLogger(__name__)
A = TypeVar("A", bound="WireModel")
Handler = Callable[["LensflowServer", A], Awaitable["WireModel"]]


class LensflowProtocol(LanguageServerProtocol):
    """Lets $/cancelRequest reach a running command.

    pygls runs a command as an inner task under a fresh id, so cancelling the request id
    answers -32800 but leaves the command running. We keep request id -> command task.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_tasks: dict[Any, asyncio.Task[Any]] = {}

    def current_request_id(self) -> Any:
        return self._ctx_msg_id.get(None)

    def cancel_pending_requests(self) -> None:
        """Cancel every other request now, over a copy of the table.

        pygls's own shutdown cancels them while iterating the live table, whose callbacks
        remove entries: "dictionary changed size during iteration" (-32603) when a command
        was still pending.
        """
        current = self.current_request_id()
        me: Any = asyncio.current_task()  # the shutdown handler's own task, under a random id
        for msg_id, future in list(self._request_futures.items()):
            if msg_id != current and future is not me and not future.done():
                future.cancel()

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        super()._handle_cancel_notification(msg_id)
        if (task := self.command_tasks.pop(msg_id, None)) is not None:
            task.cancel()


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
    from pydantic import ValidationError

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

    def decorate(handler: Handler[A]) -> Handler[A]:
        async def execute(ls: LensflowServer, *raw: Any) -> dict[str, Any]:
            from lensflow_protocol.registry import COMMANDS

            args = parse_arguments(COMMANDS[name].arguments, name, raw)
            protocol = ls.protocol
            request_id = protocol.current_request_id()
            task = asyncio.current_task()
            if request_id is not None and task is not None:
                protocol.command_tasks[request_id] = task
            try:
                result = await handler(ls, args)  # type: ignore[arg-type]
            except LensflowError as exc:
                log.info("%s: %s (%s)", name, exc.message, exc.kind.value)
                raise domain_error(exc) from None
            finally:
                protocol.command_tasks.pop(request_id, None)
            return result.wire()

        # pygls resolves a command's type hints to structure its arguments; ours are raw JSON
        # (validated above), and "LensflowServer" only exists for the type checker.
        execute.__annotations__ = {}
        execute.__name__ = execute.__qualname__ = handler.__name__
        server.command(name)(execute)
        return handler

    return decorate
