"""Request bodies → one float64 matrix, or a `ScoringError` that says what the client got wrong.

Two contracts: Azure ML's no-code `/score` ({"data": [[...]], "method": ...}, or SDK v2's MLflow
{"input_data": ...}) and MLflow's `/invocations` (dataframe_split, dataframe_records, instances,
inputs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .loaders import Matrix, ScoringError

METHODS = ("predict", "predict_proba")
MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def score_input(document: Any) -> tuple[Any, str]:
    """The rows and the method of an Azure ML no-code request: SDK v1's `{"data": rows}`, or
    what an SDK v2 MLflow deployment takes, `{"input_data": rows}` or a split-oriented frame."""
    if not isinstance(document, dict):
        raise ScoringError('the body must be a JSON object: {"data": [[...], ...]}', 400)
    if "input_data" in document and "data" not in document:
        value = document["input_data"]
        if isinstance(value, dict):  # {"columns": [...], "index": [...], "data": [[...]]}
            if "data" not in value:
                raise ScoringError('input_data as an object needs "data": [[...], ...]', 400)
            value = value["data"]
        return value, "predict"
    if "data" not in document:
        raise ScoringError('missing "data": send {"data": [[...], ...]}', 400)
    method = document.get("method", "predict")
    if method not in METHODS:
        shown = str(method)[:40]
        raise ScoringError(f"unknown method {shown!r}: use predict or predict_proba", 400)
    return document["data"], method


def invocations_input(document: Any, columns: list[str] | None) -> Any:
    """The rows of an MLflow scoring-server request, in the model's column order if it has one."""
    found = [key for key in MLFLOW_FORMATS if isinstance(document, dict) and key in document]
    if len(found) != 1:
        raise ScoringError(
            f"send a JSON object with exactly one of {', '.join(MLFLOW_FORMATS)}", 400
        )
    value = document[found[0]]
    if found[0] == "dataframe_split":
        if not isinstance(value, dict) or "data" not in value:
            raise ScoringError('dataframe_split needs {"columns": [...], "data": [[...]]}', 400)
        return _by_column(value.get("columns"), value["data"], columns)
    if found[0] == "dataframe_records":
        return _records(value, columns)
    if isinstance(value, dict) and len(value) == 1:  # `inputs`/`instances`: one named tensor
        value = next(iter(value.values()))
    if isinstance(value, list) and value and isinstance(value[0], dict):  # rows as objects
        return _records(value, columns)
    return value


def _records(records: Any, wanted: list[str] | None) -> Any:
    """A list of {column: value} objects → rows, the values in the first record's key order."""
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        raise ScoringError("dataframe_records must be a non-empty list of objects", 400)
    keys = records[0].keys()
    rows = []
    for i, record in enumerate(records):
        if not isinstance(record, dict) or record.keys() != keys:
            raise ScoringError(f"record {i} does not have the same columns as record 0", 400)
        rows.append([record[key] for key in keys])
    return _by_column(list(keys), rows, wanted)


def _by_column(given: Any, rows: Any, wanted: list[str] | None) -> Any:
    """Reorders rows into the model's own column order when both sides name the columns."""
    if given is not None and not (
        isinstance(given, list) and all(isinstance(c, str) for c in given)
    ):
        raise ScoringError("columns must be a list of column names (strings)", 400)
    if given is None or wanted is None or given == wanted:
        return rows
    if not isinstance(given, list) or not isinstance(rows, list):
        raise ScoringError("columns and data must be lists", 400)
    missing = [name for name in wanted if name not in given]
    if missing:
        raise ScoringError(f"missing columns: {', '.join(map(str, missing[:10]))}", 422)
    order = [given.index(name) for name in wanted]
    try:
        return [[row[i] for i in order] for row in rows]
    except (TypeError, IndexError, KeyError):
        raise ScoringError("every row must have one value per column", 400) from None


BOOLEANS = "the input holds true or false: booleans are not numbers, send 1 or 0"


def _has_bool(rows: list[Any]) -> bool:
    return any(type(value) is bool for row in rows for value in row)


def to_matrix(rows: Any, width: int | None, maybe_bool: bool = True) -> Matrix:
    """A finite float64 (rows, width) matrix; 400 for a malformed input, 422 for a wrong width.

    numpy takes a boolean among numbers as 0 or 1 (`[[false, 2.5]]` is float64): `maybe_bool`
    False (the body spells neither true nor false) skips the walk that refuses them."""
    if not isinstance(rows, list) or not rows:
        raise ScoringError("the input must be a non-empty list of rows", 400)
    try:
        # No dtype here: strings, nulls and objects then show in the array's dtype instead of
        # being converted ("1.5" would silently become 1.5 with dtype=float64).
        array = np.asarray(rows)
    except (ValueError, TypeError, OverflowError):
        raise ScoringError("every row must be a list of numbers, all of one length", 400) from None
    if array.ndim != 2:
        raise ScoringError("the input must be a list of rows, e.g. [[1.0, 2.0], [3.0, 4.0]]", 400)
    if array.dtype.kind == "b" or (maybe_bool and _has_bool(rows)):
        raise ScoringError(BOOLEANS, 400)
    if array.dtype.kind not in "iuf":
        raise ScoringError("the input holds non-numeric values: send numbers only", 400)
    return checked(array.astype(np.float64, copy=False), width)


def checked(x: Matrix, width: int | None) -> Matrix:
    """`x` itself, if it is finite and `width` wide; else the ScoringError that says why."""
    if not np.isfinite(x).all():  # 1e999 parses as inf; NaN is not a number a model can score
        raise ScoringError("the input holds NaN or infinite values", 400)
    if width is not None and x.shape[1] != width:
        raise ScoringError(f"expected {width} features per row, got {x.shape[1]}", 422)
    return x
