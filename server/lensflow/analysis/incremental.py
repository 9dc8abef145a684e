"""A document's facts kept up to date edit by edit: only the chunks an edit touched are parsed
and read again, the others are reused where they moved to.

Each new text is compared with the last one (common prefix and suffix, chunk by chunk, so the
cost is the bytes before the edit, compared C-side); the chunks the edit overlaps, and the one
before (an indented line typed after a function joins its body), are parsed again on their own.
That region starts at column 0 after a complete statement and ends where an untouched chunk
starts at column 0, so its own parse is the whole file's. While the script has a syntax error
(the error-tolerant repairs look at the whole file) or an azureml `register_model` (its fix spans
the file), every version is analysed whole by `analyze`, as before.
"""

from __future__ import annotations

import functools
import itertools
import logging
import re
from itertools import accumulate

from tree_sitter import Parser

from .chunk import (
    Chunk,
    Literal,
    Lookup,
    moved,
    read_chunks,
)
from .extract import _facts, log_names
from .facts import LogCalls, ModelSite, Problem, Problems, RawLogCall, ScriptFacts, Span
from .fixes import AzCall, AzImport, azure_problems
from .parsing import _engine, _parse

log = logging.getLogger(__name__)

PIECE_BYTES = 8_192  # a new text is parsed this much at a time (~0.25 MB of tree); a big one in 64
# a code line at column 0 that no earlier line continues (one ending in `\`, `,`, `(`, `:`…)
# and that is no clause of a compound statement
_STATEMENT_START = re.compile(rb"\n(?<![\\,(\[{:]\n)(?!(?:else|elif|except|finally)\b)([A-Za-z_@])")


class Incremental:
    """One document's facts, from one text to the next."""

    def __init__(self) -> None:
        self._data = b""
        self._chunks: list[Chunk] | None = None
        self._starts: list[int] = []
        self._names: dict[str, str] = {}
        self._uses_mlflow = False
        self.facts: ScriptFacts | None = None

    def update(self, source: str) -> ScriptFacts:
        data = source.encode("utf-8", "surrogatepass")
        if self.facts is not None and data == self._data:
            return self.facts
        chunks = self._chunks
        if chunks is None or not self._edit(chunks, data):
            self._rebuild(data)
        assert self.facts is not None
        return self.facts

    def _rebuild(self, data: bytes) -> None:
        if self.facts is None or self._chunks is not None:  # not while a syntax error lasts
            chunks = self._read_in_pieces(data)
            if chunks is not None and (facts := self._merge(chunks)):
                self._chunks, self.facts = chunks, facts
                return
        tree, blanked = _parse(data)
        self._data, self._chunks = data, None
        if not blanked and not tree.root_node.has_error:
            chunks = read_chunks(tree, data)
            if self._settle(chunks, chunks) and (facts := self._merge(chunks)):
                self._chunks, self.facts = chunks, facts
                return
        log.debug("whole-file analysis: %d bytes with a syntax error", len(data))
        self.facts = _facts(data, tree, blanked)

    def _read_in_pieces(self, data: bytes) -> list[Chunk] | None:
        """A new text's chunks, parsed a piece at a time: a whole file's tree costs ~30 bytes
        a byte, and the allocator keeps what a tree took after it is freed, so the peak is the
        server's memory for good. None: a piece did not parse alone (the file has an error, or
        a split fell inside a statement); the caller parses the file whole."""
        self._data, self._names, chunks = data, {}, []
        parser = Parser(_engine().language)
        size = max(PIECE_BYTES, len(data) // 64)  # each piece settles every chunk's names
        for lo, hi in itertools.pairwise(_splits(data, size)):
            tree = parser.parse(data[lo:hi])
            if tree.root_node.has_error:
                return None
            fresh = read_chunks(tree, data[lo:hi])
            del tree  # the chunks hold it until they are settled
            chunks += fresh
            if not self._settle(chunks, fresh):
                return None
        return chunks

    def _edit(self, chunks: list[Chunk], data: bytes) -> bool:
        old, starts = self._data, self._starts
        i0, i1 = self._touched(old, data)
        lo, hi = starts[i0], starts[i1 + 1] + len(data) - len(old)
        if hi < lo or hi - lo > max(PIECE_BYTES, len(data) // 2):
            return False  # most of the file: read as a new text, in pieces
        region = data[lo:hi]
        tree = Parser(_engine().language).parse(region)
        if tree.root_node.has_error:
            return False
        fresh = read_chunks(tree, region)
        chunks[i0 : i1 + 1] = fresh
        self._data = data
        if not self._settle(chunks, fresh):
            return False
        facts = self._merge(chunks)
        if facts is None:
            return False
        self.facts = facts
        return True

    def _touched(self, old: bytes, new: bytes) -> tuple[int, int]:
        """The first and last chunk whose text changed (the one before the first included)."""
        starts, n = self._starts, len(self._starts) - 1
        i = 0
        while i < n and old[starts[i] : starts[i + 1]] == new[starts[i] : starts[i + 1]]:
            i += 1
        shift, j = len(new) - len(old), n - 1
        while j > i and starts[j] + shift >= starts[i]:
            if old[starts[j] : starts[j + 1]] != new[starts[j] + shift : starts[j + 1] + shift]:
                break
            j -= 1
        return max(min(i, n - 1) - 1, 0), max(j, min(i, n - 1))

    def _settle(self, chunks: list[Chunk], fresh: list[Chunk]) -> bool:
        """Names from every chunk's imports; the fresh chunks read with them, and any older
        chunk whose looked-up names changed read again. False: analyse the file whole."""
        names: dict[str, str] = {}
        uses = False
        for chunk in chunks:  # as `_read_imports` binds them, in the file's order
            for module, items in chunk.imports:
                for full, alias in items:
                    top = full.split(".")[0]
                    if module is None:  # import a.b [as c]
                        names[alias or top] = full if alias else top
                        uses |= top == "mlflow"
                    else:
                        names[alias or full] = f"{module}.{full}"
                uses |= module is not None and module.split(".")[0] == "mlflow"
        self._uses_mlflow = uses
        changed, self._names = names != self._names, names
        for chunk in fresh:
            chunk.settle(names)
        self._starts = [0, *accumulate(c.size for c in chunks)]
        if changed:
            aliases, fresh_ids = log_names(names).pattern, {id(c) for c in fresh}
            for k, chunk in enumerate(chunks):
                if id(chunk) not in fresh_ids and not chunk.still_valid(names, aliases):
                    lo, hi = self._starts[k], self._starts[k + 1]
                    tree = Parser(_engine().language).parse(self._data[lo:hi])
                    if tree.root_node.has_error:
                        return False
                    again = read_chunks(tree, self._data[lo:hi])[0]
                    again.settle(names)
                    chunks[k] = again
        return True

    def _merge(self, chunks: list[Chunk]) -> ScriptFacts | None:
        uses_mlflow = self._uses_mlflow
        anchor: Span | None = None
        fit: Span | None = None
        experiment: str | None = None
        registered: str | None = None
        sites: list[ModelSite] = []
        spots: list[tuple[Chunk, int, int]] = []  # each chunk's first row and byte
        earlier: dict[str, str | None] = {}  # name -> its last literal so far
        row = 0
        for chunk, byte in zip(chunks, self._starts, strict=False):

            def value(lit: Literal) -> str | None:
                return earlier.get(lit.name) if isinstance(lit, Lookup) else lit

            if anchor is None and chunk.anchor is not None:
                anchor = moved(chunk.anchor, row)
            if fit is None and chunk.first_fit is not None:
                fit = moved(chunk.first_fit, row)
            for lit in chunk.experiments:
                experiment = experiment or value(lit)
            for lit in chunk.registered:
                registered = registered or value(lit)
            if chunk.sites:
                sites += chunk.place_sites(row, value)
            spots.append((chunk, row, byte))
            earlier.update(chunk.last_assign)
            row += chunk.rows
        later = functools.cache(functools.partial(_placed, spots))
        return ScriptFacts(
            uses_mlflow,
            anchor or fit,
            experiment,
            tuple(sites),
            registered,
            lambda: later()[0],
            LogCalls(self._data, lambda: later()[1]) if uses_mlflow else LogCalls(),
        )


def _splits(data: bytes, size: int) -> list[int]:
    """0, the starts of lines about `size` bytes apart where a statement may begin at column 0,
    and len(data). A split inside a string or a bracket, or after a decorator, makes a piece
    that does not parse: the file is then parsed whole."""
    bounds = [0]
    while (at := data.find(b"\n", bounds[-1] + size)) >= 0:
        found = _STATEMENT_START.search(data, at)
        if found is None:
            break
        bounds.append(found.start(1))
    return [*bounds, len(data)]


def _placed(spots: list[tuple[Chunk, int, int]]) -> tuple[Problems, tuple[RawLogCall, ...]]:
    """Every chunk's problems and log calls where the chunk now is: on first use only."""
    problems: list[Problem] = []
    raw: list[RawLogCall] = []
    az_calls: list[AzCall] = []
    az_imports: list[AzImport] = []
    az_problems: list[Problem] = []
    for chunk, row, byte in spots:
        done = chunk.place(row, byte)
        problems += done[2]
        raw += done[3]
        az_calls += done[4]
        az_imports += done[5]
        az_problems += done[6]
    if az_calls or az_imports:  # their fixes span the file: made whole, and sorted in
        problems += azure_problems(az_calls, az_imports, az_problems)
        problems.sort(key=lambda p: (p.span.start_line, p.span.start_col))
    return tuple(problems), tuple(raw)
