"""The JSON-RPC hardening: every message gets an answer or a reason, and cancels reach commands.

pygls drops messages it cannot structure (leaving a request unanswered), lets an argument that
looks like a message take over the whole request, answers an unknown command without field
errors, and cancels a command's request without cancelling the command. It ran requests sent
before `initialize` (-32603: no workspace yet), where LSP says -32002, and splatted a string
`arguments` into one argument per character. `LensflowProtocol` fixes each of these; the server
is built with it (`protocol_cls`).

LSP methods: initialize (what comes before it), workspace/executeCommand (an unknown command,
arguments that are no array), $/cancelRequest.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Generator
from typing import Any

from lensflow_protocol.errors import INVALID_PARAMS
from lsprotocol.types import EXIT, INITIALIZE, WORKSPACE_EXECUTE_COMMAND, ErrorCodes
from pygls.exceptions import (
    JsonRpcException,
    JsonRpcInvalidParams,
    JsonRpcInvalidRequest,
    JsonRpcMethodNotFound,
)
from pygls.protocol import LanguageServerProtocol, lsp_method

log = logging.getLogger(__name__)


def invalid_params(message: str, errors: list[dict[str, Any]]) -> JsonRpcException:
    """-32602 with pydantic-style field errors in `data.errors`."""
    return JsonRpcException(message=message, code=INVALID_PARAMS, data={"errors": errors})


class LensflowProtocol(LanguageServerProtocol):
    """Lets $/cancelRequest reach a running command.

    pygls runs a command as an inner task under a fresh id, so cancelling the request id
    answers -32800 but leaves the command running. We keep request id -> command task.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.command_tasks: dict[Any, asyncio.Task[Any]] = {}
        self.initialize_received = False

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

    @lsp_method("workspace/executeCommand")
    def lsp_workspace__execute_command(self, params: Any) -> Generator[Any, Any, Any]:
        """pygls's, with field errors for an unknown command, as for any bad argument."""
        if params.command not in self.fm.commands:
            raise invalid_params(
                f"Command name {params.command!r} is not defined.",
                [{"loc": ["command"], "msg": "no such command", "type": "unknown_command"}],
            )
        return (yield from super().lsp_workspace__execute_command(params))

    def structure_message(self, data: dict[str, Any]) -> Any:
        """Keeps every JSON object a dict: `handle_message` structures the message itself.

        pygls hands this to json.loads as its object_hook, so it ran on every object of a
        message, arguments included: an argument holding a "jsonrpc" key was taken for a
        message, and one that did not fit as one dropped the whole request unanswered.
        """
        return data

    def handle_message(self, message: Any) -> None:
        """Structures one message, or answers why it is none (-32600, -32601, -32602).

        pygls drops a message it cannot structure, leaving its request unanswered: a client
        that sent an id of the wrong type, params of the wrong shape, or an unknown method
        without params waited for ever.
        """
        if not isinstance(message, dict):  # a batch (LSP has none), a string, a number
            self._refuse(None, JsonRpcInvalidRequest("A message is one JSON object."), message)
            return
        method, msg_id = message.get("method"), message.get("id")
        if "method" not in message:  # a response from the client
            super().handle_message(super().structure_message(message))
            return
        if "id" in message and (isinstance(msg_id, bool) or not isinstance(msg_id, int | str)):
            self._refuse(None, JsonRpcInvalidRequest("id must be a number or a string."), message)
            return
        if message.get("jsonrpc") != "2.0" or not isinstance(method, str):
            why = 'Not a JSON-RPC 2.0 message: jsonrpc must be "2.0", method a string.'
            self._refuse(msg_id, JsonRpcInvalidRequest(why), message)
            return
        if not self.initialize_received and not _may_come_first(method, message):
            # LSP: requests before initialize get -32002, notifications are dropped.
            first = JsonRpcException("Send initialize first.", ErrorCodes.ServerNotInitialized)
            self._refuse(msg_id, first, message)
            return
        if method == WORKSPACE_EXECUTE_COMMAND and (bad := _arguments_not_array(message)):
            self._refuse(msg_id, bad, message)
            return
        try:
            structured = super().structure_message({"params": None, **message})
        except JsonRpcException as exc:
            self._refuse(msg_id, self._why_not(method, exc), message)
            return
        if method == INITIALIZE:
            self.initialize_received = True
        super().handle_message(structured)

    def _why_not(self, method: str, exc: JsonRpcException) -> JsonRpcException:
        try:
            self._get_handler(method)
        except JsonRpcMethodNotFound as unknown:
            return unknown
        if isinstance(exc, JsonRpcInvalidParams) and isinstance(exc.__cause__, Exception):
            from cattrs import transform_error

            errors = [{"loc": ["params"], "msg": why, "type": "params"}
                      for why in transform_error(exc.__cause__)]  # fmt: skip
            return invalid_params(f"Invalid params for {method}.", errors)
        return JsonRpcInvalidRequest(f"Not a valid {method} message.")

    def _refuse(self, msg_id: Any, error: JsonRpcException, message: Any) -> None:
        """Answers a request that cannot be handled; a notification gets no answer."""
        log.warning("refused a message: %s", error)
        if isinstance(message, dict) and "id" not in message:
            return
        # A plain dict: lsprotocol's converter would leave out "id": null.
        answer: dict[str, Any] = {"code": error.code, "message": error.message}
        if error.data is not None:
            answer["data"] = error.data
        self._send_data({"jsonrpc": "2.0", "id": msg_id, "error": answer})


def _may_come_first(method: str, message: dict[str, Any]) -> bool:
    """The initialize request, or exit (which ends a server however far it got)."""
    return method == EXIT or (method == INITIALIZE and "id" in message)


JSON_TYPES = {str: "a string", dict: "an object", bool: "a boolean", int: "a number"}


def _arguments_not_array(message: dict[str, Any]) -> JsonRpcException | None:
    """executeCommand's `arguments` is an array or absent: cattrs took a string for a sequence
    (one argument per character), and an object for its keys."""
    params = message.get("params")
    arguments = params.get("arguments") if isinstance(params, dict) else None
    if arguments is None or isinstance(arguments, list):
        return None
    got = JSON_TYPES.get(type(arguments), "a number")  # float is the one type left
    return invalid_params(
        f"executeCommand's arguments must be an array (of one argument object), not {got}.",
        [{"loc": ["arguments"], "msg": "expected an array", "type": "list_type"}],
    )
