"""A big `{"data": [[numbers]], ...}` body into one float64 matrix, a slice of rows at a time.

json.loads of a whole body builds a Python float (24 bytes) and a list slot (8) for every
number of about 20 bytes of text, all at once: a big request peaked at over 4 × its body, and
its rows per second fell with size. Here orjson (a few times quicker than json) parses a few
MiB of rows at a time, each slice copied into the matrix it fills, so the Python objects alive
at any time are one slice's.

Anything else returns None and the request takes the ordinary path (json.loads), which words
every error: another shape, a boolean, a null, a string, a ragged row, no orjson installed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .loaders import Matrix

_loads: Callable[[bytes], Any] | None
try:
    from orjson import loads as _loads
except ImportError:  # an interpreter without it: every body takes the ordinary path
    _loads = None

MIN_BYTES = 256 << 10  # smaller bodies: json.loads is quick enough and allocates little
SLICE_BYTES = 1 << 20  # the text parsed at a time: the bound on the Python objects alive

# The matrix must be the first key's value: {"data": [[...
_HEAD = re.compile(rb'\s*\{\s*"data"\s*:\s*(?=\[\s*\[)')
# The first byte that cannot be inside a matrix of numbers: it lies past the matrix's end.
_OUTSIDE = re.compile(rb"[^0-9eE+\-.,\[\]\s]")
_WHITESPACE = b" \t\r\n"


def score_matrix(
    body: bytes | bytearray, min_bytes: int = MIN_BYTES, slice_bytes: int = SLICE_BYTES
) -> tuple[Matrix, dict[str, Any]] | None:
    """(the rows as float64, the document with "data" set to 0), or None."""
    if _loads is None or len(body) < min_bytes:
        return None
    head = _HEAD.match(body)
    if head is None:
        return None
    start = head.end()
    outside = _OUTSIDE.search(body, start)
    stop = body.rfind(b"]", start, outside.start() if outside else len(body)) + 1
    if stop <= start:
        return None
    try:
        rest = json.loads(body[:start] + b"0" + body[stop:])
    except (ValueError, RecursionError):
        return None
    if not isinstance(rest, dict) or rest.get("data") != 0:  # a second "data" wins in JSON
        return None
    # The rows lie between the outer [ and the last row's ]; only whitespace follows that.
    first, last = body.index(b"[", start) + 1, body.rfind(b"]", start, stop - 1) + 1
    if last <= first or body[last : stop - 1].strip(_WHITESPACE):
        return None
    rows = body.count(b"]", first, last)
    return _fill(_loads, body, (first, last), rows, slice_bytes, rest)


def _fill(
    loads: Callable[[bytes], Any],
    body: bytes | bytearray,
    span: tuple[int, int],
    rows: int,
    slice_bytes: int,
    rest: dict[str, Any],
) -> tuple[Matrix, dict[str, Any]] | None:
    first, last = span
    matrix: Matrix | None = None
    done, position = 0, first
    while position < last:
        end = body.find(b"]", min(position + slice_bytes, last - 1), last) + 1
        text = body[position:end]
        if b"true" in text or b"false" in text:  # numpy would take them as 1 and 0
            return None
        try:
            # A slice after the first starts with the comma after a row: [0, row, ...].
            parsed = loads(b"[" + text + b"]" if not done else b"[0" + text + b"]")
            values = np.asarray(parsed[1:] if done else parsed)
        except (ValueError, TypeError, OverflowError):  # orjson.JSONDecodeError is a ValueError
            return None
        del parsed
        if values.ndim != 2 or values.dtype.kind not in "iuf" or done + len(values) > rows:
            return None
        if matrix is None:
            matrix = np.empty((rows, values.shape[1]), dtype=np.float64)
        if values.shape[1] != matrix.shape[1]:
            return None
        matrix[done : done + len(values)] = values
        done, position = done + len(values), end
    return (matrix, rest) if matrix is not None and done == rows else None
