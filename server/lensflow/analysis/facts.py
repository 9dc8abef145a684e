"""The facts an analysis yields: immutable, so cached results can be shared freely."""

from __future__ import annotations

import ast
import re
from bisect import bisect_right
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Span:
    """LSP-style range: 0-based lines, columns in UTF-16 code units."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int


@dataclass(frozen=True, slots=True)
class TextEdit:
    span: Span
    new_text: str


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    span: Span
    fix_title: str
    fix: tuple[TextEdit, ...]


@dataclass(frozen=True, slots=True)
class ModelSite:
    span: Span
    model_path: str | None


@dataclass(frozen=True, slots=True)
class LogSite:
    """A `log_metric(key, …)` or `log_param(key, …)` call of mlflow's fluent API.

    `key` is the logged key when it is a string literal, else None; `span` is the call;
    `line_end` is the column where the line the call ends on ends (line `span.end_line`,
    trailing blanks left out): where an inlay hint goes.
    """

    kind: str  # "metric" or "param"
    key: str | None
    span: Span
    line_end: int


# kind, the call's start and end byte, its key argument's start and end byte (-1: no literal)
RawLogCall = tuple[str, int, int, int, int]
Problems = tuple[Problem, ...]
PLAIN_STRING = re.compile(rb"""(['"])([^'"\\\n]*)\1""")  # a string without prefix or escapes
_NEWLINE = re.compile(rb"\n")


class LogCalls:
    """A script's log calls as the analysis found them (byte offsets), made `LogSite`s on first
    use: only hovers and inlay hints need them, and a new document version should not pay."""

    __slots__ = ("_data", "_later", "_raw", "_sites")

    def __init__(
        self,
        data: bytes = b"",
        raw: tuple[RawLogCall, ...] | Callable[[], tuple[RawLogCall, ...]] = (),
    ) -> None:
        """`raw` may be a callable that finds them on first use (an edit's lens need not)."""
        self._data, self._later = data, raw if callable(raw) else None
        self._raw: tuple[RawLogCall, ...] = () if callable(raw) else raw
        self._sites: tuple[LogSite, ...] | None = None if raw else ()

    @classmethod
    def of(cls, sites: tuple[LogSite, ...]) -> LogCalls:
        """Calls already made sites: a notebook cell's, moved to the cell's own lines."""
        calls = cls()
        calls._sites = sites
        return calls

    def __bool__(self) -> bool:
        return bool(self._raws()) or bool(self._sites)

    def _raws(self) -> tuple[RawLogCall, ...]:
        if self._later is not None:
            self._raw, self._later = self._later(), None
        return self._raw

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LogCalls) and self.sites() == other.sites()

    def __hash__(self) -> int:
        return hash(self.sites())

    def sites(self) -> tuple[LogSite, ...]:
        if self._sites is None:
            self._sites = tuple(self._make())
            self._data = b""
        return self._sites

    def _make(self) -> Iterator[LogSite]:
        data = self._data
        starts = [0, *(m.end() for m in _NEWLINE.finditer(data))]

        def position(byte: int) -> tuple[int, int, int]:
            """(row, UTF-16 column, start byte of the row) of a byte offset."""
            row = bisect_right(starts, byte) - 1
            return row, _u16(data[starts[row] : byte]), starts[row]

        for kind, start, end, key_start, key_end in self._raws():
            row, col, _ = position(start)
            end_row, end_col, line = position(end)
            nl = data.find(b"\n", end)
            line_end = _u16(data[line : len(data) if nl < 0 else nl].rstrip())
            key = _string(data[key_start:key_end]) if key_start >= 0 else None
            yield LogSite(kind, key, Span(row, col, end_row, end_col), line_end)


def _u16(raw: bytes) -> int:
    if raw.isascii():
        return len(raw)
    return len(raw.decode("utf-8", "surrogatepass").encode("utf-16-le", "surrogatepass")) // 2


def _string(raw: bytes) -> str | None:
    """The value of a string literal's source, if it is a str (not bytes, not an f-string)."""
    if m := PLAIN_STRING.fullmatch(raw):
        return m[2].decode("utf-8", "replace")
    try:
        value = ast.literal_eval(raw.decode("utf-8", "surrogatepass"))
    except (ValueError, SyntaxError, UnicodeDecodeError):
        return None
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True, eq=False)
class ScriptFacts:
    uses_mlflow: bool
    track_anchor: Span | None
    experiment_name: str | None
    model_sites: tuple[ModelSite, ...]
    registered_model_name: str | None
    # The seed's pitfalls; or a callable that places them on first use: diagnostics wait for
    # edits to stop, and an edit's lens should not pay for every chunk's problems moving.
    found_problems: Problems | Callable[[], Problems]
    log_calls: LogCalls = field(default_factory=LogCalls)

    @property
    def problems(self) -> Problems:
        found = self.found_problems
        if callable(found):
            found = found()
            object.__setattr__(self, "found_problems", found)  # placed once
        return found

    def _key(self) -> tuple[object, ...]:
        return (
            self.uses_mlflow, self.track_anchor, self.experiment_name, self.model_sites,
            self.registered_model_name, self.problems, self.log_calls,
        )  # fmt: skip

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ScriptFacts) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    @property
    def log_sites(self) -> tuple[LogSite, ...]:
        """The log_metric / log_param calls (decoded on first use)."""
        return self.log_calls.sites()
