"""Lensflow's wire contract: command names, pydantic models, error codes, JSON Schema."""

from . import names
from .base import SafeStr, WireModel
from .errors import ERROR_CODES, ErrorKind, LensflowError
from .registry import COMMANDS, NOTIFICATIONS, CommandSpec

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
