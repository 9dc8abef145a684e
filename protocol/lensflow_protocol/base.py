"""The base model of every wire type: camelCase on the wire, unknown fields refused."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel


def _no_nul(value: str) -> str:
    # NUL bytes break paths, argv and SQLite text alike: refuse them at the edge.
    if "\x00" in value:
        raise ValueError("must not contain NUL bytes")
    # JSON's "\ud800" decodes to a lone surrogate, which no file name, argv or store can hold.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (a lone surrogate is not)") from None
    return value


SafeStr = Annotated[str, AfterValidator(_no_nul)]
"""A string that may travel into a path, an argv list or the store."""


def _env_name(value: str) -> str:
    # POSIX: a name ends at the first "=", so "A=B" cannot be set (execve refuses it).
    if "=" in value:
        raise ValueError('an environment variable name must not contain "="')
    return value


EnvName = Annotated[SafeStr, AfterValidator(_env_name)]
"""An environment variable's name: a SafeStr without "=" (POSIX)."""


class WireModel(BaseModel):
    """Base of every argument, result and notification: camelCase aliases, strict about fields."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        # Build validators on first use: most models are never needed in a given session.
        defer_build=True,
    )

    def wire(self) -> dict[str, object]:
        """The JSON-ready dict sent to clients."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)
