"""Lensflow's wire contract: command names, pydantic models, error codes, JSON Schema.

`names` and `errors` are plain Python; the pydantic models load only when first asked for,
so a server can announce its commands without paying for pydantic at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import names
from .errors import ERROR_CODES, ErrorKind, LensflowError

if TYPE_CHECKING:
    from .base import SafeStr, WireModel
    from .registry import COMMANDS, NOTIFICATIONS, CommandSpec

_LAZY = {
    "SafeStr": "base",
    "WireModel": "base",
    "COMMANDS": "registry",
    "NOTIFICATIONS": "registry",
    "CommandSpec": "registry",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(name)


__all__ = [
    "COMMANDS",
    "ERROR_CODES",
    "NOTIFICATIONS",
    "CommandSpec",
    "ErrorKind",
    "LensflowError",
    "SafeStr",
    "WireModel",
    "names",
]
