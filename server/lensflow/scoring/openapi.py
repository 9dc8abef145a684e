"""The service's OpenAPI 3.0 document, built from the loaded model's real input width."""

from __future__ import annotations

from typing import Any

OPENAPI_VERSION = "3.0.3"
_JSON = "application/json"
_UNAUTHORIZED = "Missing or wrong key (Authorization: Bearer <key>)"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema}}}


def _errors(auth: bool) -> dict[str, Any]:
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
        why["401"] = _UNAUTHORIZED
    return {code: _json_body(_ref("Error"), text) for code, text in sorted(why.items())}


def _row(n_features: int | None) -> dict[str, Any]:
    """One input row: exactly `n_features` numbers when the model says its width."""
    row: dict[str, Any] = {"type": "array", "items": {"type": "number"}}
    if n_features is not None:
        row.update(minItems=n_features, maxItems=n_features)
        row["description"] = f"One row of {n_features} features"
    return row


def _schemas(n_features: int | None, methods: list[str]) -> dict[str, Any]:
    rows = {"type": "array", "minItems": 1, "items": _row(n_features)}
    # null is read as no column names, as MLflow's scoring server reads it
    columns = {"type": "array", "items": {"type": "string"}, "nullable": True}
    one_of = [
        {"type": "object", "required": ["dataframe_split"], "properties": {
            "dataframe_split": {"type": "object", "required": ["data"],
                                "properties": {"columns": columns, "data": rows}}}},
        {"type": "object", "required": ["dataframe_records"], "properties": {
            "dataframe_records": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": {"type": "number"}}}}},
        {"type": "object", "required": ["instances"], "properties": {"instances": rows}},
        {"type": "object", "required": ["inputs"], "properties": {"inputs": rows}},
    ]  # fmt: skip
    prediction = {"oneOf": [{"type": "number"}, {"type": "string"},
                            {"type": "array", "items": {"type": "number"}}]}  # fmt: skip
    return {
        "ScoreRequest": {
            "type": "object",
            "required": ["data"],
            "properties": {
                "data": rows,
                "method": {"type": "string", "enum": methods, "default": "predict"},
            },
            "example": {"data": [[0.0] * (n_features or 1)], "method": "predict"},
        },
        "ScoreResponse": {
            "type": "array",
            "items": prediction,
            "description": "One prediction per row (a list of class probabilities per row "
            "for predict_proba)",
        },
        "InvocationsRequest": {"oneOf": one_of},
        "InvocationsResponse": {
            "type": "object",
            "required": ["predictions"],
            "properties": {"predictions": {"type": "array", "items": prediction}},
        },
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {"error": {"type": "string"}},
        },
        "Status": {"type": "object", "properties": {"status": {"type": "string"}}},
        "Version": {"type": "object", "additionalProperties": True},
    }


def _get(summary: str, schema: dict[str, Any], content_type: str = _JSON) -> dict[str, Any]:
    ok = {"description": "OK", "content": {content_type: {"schema": schema}}}
    return {"get": {"summary": summary, "responses": {"200": ok}}}


def build_openapi(
    *,
    service_name: str,
    model_name: str,
    model_version: int,
    framework: str,
    n_features: int | None,
    methods: list[str],
    auth: bool,
) -> dict[str, Any]:
    """The whole document; `security` and the bearer scheme appear only when auth is on, on the
    scoring routes and /version (liveness and this document are open)."""
    security: dict[str, Any] = {"security": [{"bearerAuth": []}]} if auth else {}
    width = f"{n_features} features per row" if n_features is not None else "any width"
    score = {
        "post": {
            "summary": "Score rows (Azure ML no-code contract)",
            "operationId": "score",
            **security,
            "requestBody": {"required": True, **_json_body(_ref("ScoreRequest"), width)},
            "responses": {"200": _json_body(_ref("ScoreResponse"), "Predictions"), **_errors(auth)},
        }
    }
    invocations = {
        "post": {
            "summary": "Score rows (MLflow scoring-server contract)",
            "operationId": "invocations",
            **security,
            "requestBody": {"required": True, **_json_body(_ref("InvocationsRequest"), width)},
            "responses": {
                "200": _json_body(_ref("InvocationsResponse"), "Predictions"),
                **_errors(auth),
            },
        }
    }
    version = _get("Scoring app, model and runtime versions", _ref("Version"))
    if auth:
        version["get"].update(security)
        version["get"]["responses"]["401"] = _json_body(_ref("Error"), _UNAUTHORIZED)
    components: dict[str, Any] = {"schemas": _schemas(n_features, methods)}
    if auth:
        bearer = {"type": "http", "scheme": "bearer", "description": "Primary or secondary key"}
        components["securitySchemes"] = {"bearerAuth": bearer}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": f"{service_name}",
            "version": str(model_version),
            "description": f"Lensflow scoring service for model {model_name} version "
            f"{model_version} ({framework}); input: {width}.",
        },
        "paths": {
            "/score": score,
            "/invocations": invocations,
            "/": _get("Liveness", {"type": "string"}, "text/plain"),
            "/ping": _get("Ready: the model is loaded", _ref("Status")),
            "/health": _get("Ready: the model is loaded", _ref("Status")),
            "/version": version,
            "/swagger.json": _get("This document", {"type": "object"}),
        },
        "components": components,
    }
