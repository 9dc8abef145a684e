"""Features as objects (esbonio's pattern): each owns its state and lifecycle, and names its
handlers with `@on(method)` or `@command(name)`, so they can be found, walked and tested alone.

`handlers(feature)` lists what a feature serves; `install(server, feature)` hands each bound
handler to pygls. Nothing here knows any one feature.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .commands import command_handler

if TYPE_CHECKING:
    from ..server import LensflowServer

F = TypeVar("F", bound=Callable[..., Any])
_MARK = "_lensflow_handler"


@dataclass(frozen=True)
class HandlerSpec:
    kind: str  # "lsp": an LSP method; "command": a contract command
    name: str
    options: Any = None


@dataclass(frozen=True)
class BoundHandler:
    spec: HandlerSpec
    method: Callable[..., Any]


def on(method: str, options: Any = None) -> Callable[[F], F]:
    """Marks a feature's method as the handler of LSP `method` (params in, result out)."""

    def mark(f: F) -> F:
        setattr(f, _MARK, HandlerSpec("lsp", method, options))
        return f

    return mark


def command(name: str) -> Callable[[F], F]:
    """Marks a feature's method as contract command `name`: it takes the validated argument
    model and returns a wire model."""

    def mark(f: F) -> F:
        setattr(f, _MARK, HandlerSpec("command", name))
        return f

    return mark


class Feature:
    """One concern of the server. Subclasses keep their state on `self`."""

    def __init__(self, server: LensflowServer) -> None:
        self.server = server

    async def shutdown(self) -> None:
        """At the client's `shutdown`: end what the feature started."""


def handlers(feature: Feature) -> list[BoundHandler]:
    """The feature's marked methods, bound, in definition order."""
    found = []
    for name, member in inspect.getmembers(type(feature), inspect.isfunction):
        spec = getattr(member, _MARK, None)
        if isinstance(spec, HandlerSpec):
            found.append((member.__code__.co_firstlineno, name, spec))
    return [BoundHandler(spec, getattr(feature, name)) for _, name, spec in sorted(found)]


def install(server: LensflowServer, feature: Feature) -> None:
    """Registers each of the feature's handlers with pygls."""
    for handler in handlers(feature):
        if handler.spec.kind == "command":
            execute = command_handler(lambda: server.protocol, handler.spec.name, handler.method)
            server.command(handler.spec.name)(execute)
        else:
            server.feature(handler.spec.name, handler.spec.options)(_plain(handler.method))


def _plain(method: Callable[..., Any]) -> Callable[..., Any]:
    """A plain function around a bound method: pygls sets attributes on what it registers,
    and passes the server only to functions whose first parameter asks for it."""
    if inspect.iscoroutinefunction(method):

        async def call_async(params: Any) -> Any:
            return await method(params)

        wrapped: Callable[..., Any | Awaitable[Any]] = call_async
    else:

        def call(params: Any) -> Any:
            return method(params)

        wrapped = call
    functools.update_wrapper(wrapped, method, assigned=("__name__", "__qualname__", "__doc__"))
    wrapped.__annotations__ = {}
    return wrapped
