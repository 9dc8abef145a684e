"""The named request and response schemas both API documents share, from the model's real width.

One set of names serves /swagger.json (Swagger 2.0: `definitions`) and /openapi.json (OpenAPI
3.1: `components/schemas`); `ref` says where a `$ref` points. Every body is a named schema, never
an inline object: client generators name their models after them, and inline `oneOf` members
gave openapi-python-client duplicate model names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

Dialect = Literal["2.0", "3.1"]
PREDICTION = "Prediction"
UNAUTHORIZED = "Missing or wrong key (Authorization: Bearer <key>)"


@dataclass(frozen=True)
class ApiFacts:
    """What the documents say about the service: fixed once the model is loaded."""

    service_name: str
    model_name: str
    model_version: int
    framework: str
    n_features: int | None
    methods: list[str]
    auth: bool

    @property
    def width(self) -> str:
        return f"{self.n_features} features per row" if self.n_features is not None else "any width"

    @property
    def description(self) -> str:
        return (
            f"Lensflow scoring service for model {self.model_name} version {self.model_version}"
            f" ({self.framework}); input: {self.width}."
        )


def ref(dialect: Dialect, name: str) -> dict[str, str]:
    where = "definitions" if dialect == "2.0" else "components/schemas"
    return {"$ref": f"#/{where}/{name}"}


def _rows(n_features: int | None) -> dict[str, Any]:
    """At least one row of exactly `n_features` numbers when the model says its width."""
    row: dict[str, Any] = {"type": "array", "items": {"type": "number"}}
    if n_features is not None:
        row.update(minItems=n_features, maxItems=n_features)
        row["description"] = f"One row of {n_features} features"
    return {"type": "array", "minItems": 1, "items": row}


def _prediction(dialect: Dialect) -> dict[str, Any]:
    # Swagger 2.0 has no oneOf: a prediction there is any JSON value (a number, a class label or
    # a row of class probabilities), which is what a 2.0 client decodes anyway.
    if dialect == "2.0":
        return {"description": "A number or a class label; for predict_proba, a list of numbers"}
    return {"oneOf": [{"type": "number"}, {"type": "string"},
                      {"type": "array", "items": {"type": "number"}}]}  # fmt: skip


def _object(required: list[str], properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "required": required, "properties": properties, **extra}


def _invocations(dialect: Dialect, rows: dict[str, Any]) -> dict[str, Any]:
    """MLflow's four input shapes, each a named schema (3.1), or one object with the four
    optional fields (2.0, which has no oneOf): the service refuses anything but exactly one."""
    # null is read as no column names, as MLflow's scoring server reads it
    columns: dict[str, Any] = {"type": "array", "items": {"type": "string"}}
    if dialect == "2.0":
        columns["x-nullable"] = True
    else:
        columns["type"] = ["array", "null"]
    records = {"type": "array", "minItems": 1,
               "items": {"type": "object", "additionalProperties": {"type": "number"}}}  # fmt: skip
    fields = {
        "dataframe_split": ref(dialect, "DataframeSplit"),
        "dataframe_records": records,
        "instances": rows,
        "inputs": rows,
    }
    named = {"DataframeSplit": _object(["data"], {"columns": columns, "data": rows})}
    if dialect == "2.0":
        named["InvocationsRequest"] = {
            "type": "object",
            "description": "Exactly one of dataframe_split, dataframe_records, instances, inputs",
            "properties": fields,
        }
        return named
    shapes = {"Split": "dataframe_split", "Records": "dataframe_records",
              "Instances": "instances", "Inputs": "inputs"}  # fmt: skip
    for suffix, field in shapes.items():
        named[f"Invocations{suffix}"] = _object([field], {field: fields[field]})
    named["InvocationsRequest"] = {"oneOf": [ref(dialect, f"Invocations{s}") for s in shapes]}
    return named


def schemas(dialect: Dialect, n_features: int | None, methods: list[str]) -> dict[str, Any]:
    rows = _rows(n_features)
    predictions = {"type": "array", "items": ref(dialect, PREDICTION)}
    return {
        "ScoreRequest": _object(
            ["data"],
            {"data": rows, "method": {"type": "string", "enum": methods, "default": "predict"}},
            example={"data": [[0.0] * (n_features or 1)], "method": "predict"},
        ),
        "ScoreResponse": {
            **predictions,
            "description": "One prediction per row (a list of class probabilities per row "
            "for predict_proba)",
        },
        PREDICTION: _prediction(dialect),
        **_invocations(dialect, rows),
        "InvocationsResponse": _object(["predictions"], {"predictions": predictions}),
        "Error": _object(["error"], {"error": {"type": "string"}}),
        "Status": {"type": "object", "properties": {"status": {"type": "string"}}},
        "Version": {"type": "object", "additionalProperties": True},
    }


def client_errors(auth: bool) -> dict[str, str]:
    """The client-error answers every scoring route can give, all with a JSON {"error"} body."""
    why = {
        "400": "Not JSON, or a field is missing or not numeric, or an unknown method",
        "413": "Body larger than the service's limit",
        "415": "Content-Type is not application/json",
        "422": (
            "Wrong number of features, the model cannot answer this method, or its output is"
            " not finite (NaN or infinite) for these inputs"
        ),
    }
    if auth:
        why["401"] = UNAUTHORIZED
    return dict(sorted(why.items()))
