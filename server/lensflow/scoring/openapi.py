"""The service's OpenAPI 3.1 document (/openapi.json), with the address it was asked at as its
server, so a generated client or Postman's converter calls http://<host>/score."""

from __future__ import annotations

from typing import Any

from .schemas import UNAUTHORIZED, ApiFacts, client_errors, ref, schemas

OPENAPI_VERSION = "3.1.0"
_JSON = "application/json"


def _ref(name: str) -> dict[str, str]:
    return ref("3.1", name)


def _json_body(schema: dict[str, Any], description: str, **extra: Any) -> dict[str, Any]:
    return {"description": description, "content": {_JSON: {"schema": schema, **extra}}}


def _get(
    operation_id: str, summary: str, schema: dict[str, Any], content_type: str = _JSON
) -> dict[str, Any]:
    ok = {"description": "OK", "content": {content_type: {"schema": schema}}}
    return {"get": {"operationId": operation_id, "summary": summary, "responses": {"200": ok}}}


def _scoring(
    facts: ApiFacts, operation_id: str, summary: str, name: str, example: Any = None
) -> dict[str, Any]:
    security: dict[str, Any] = {"security": [{"bearerAuth": []}]} if facts.auth else {}
    extra = {"example": example} if example is not None else {}
    why = client_errors(facts.auth)
    errors = {code: _json_body(_ref("Error"), text) for code, text in why.items()}
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            **security,
            "requestBody": {
                "required": True,
                **_json_body(_ref(f"{name}Request"), facts.width, **extra),
            },
            "responses": {"200": _json_body(_ref(f"{name}Response"), "Predictions"), **errors},
        }
    }


def build_openapi(facts: ApiFacts, host: str) -> dict[str, Any]:
    """The whole document; `security` and the bearer scheme appear only when auth is on, on the
    scoring routes and /version (liveness and the documents are open)."""
    named = schemas("3.1", facts.n_features, facts.methods)
    score = _scoring(facts, "score", "Score rows (Azure ML no-code contract)", "Score",
                     named["ScoreRequest"]["example"])  # fmt: skip
    invocations = _scoring(
        facts, "invocations", "Score rows (MLflow scoring-server contract)", "Invocations"
    )
    version = _get("version", "Scoring app, model and runtime versions", _ref("Version"))
    components: dict[str, Any] = {"schemas": named}
    if facts.auth:
        version["get"]["security"] = [{"bearerAuth": []}]
        version["get"]["responses"]["401"] = _json_body(_ref("Error"), UNAUTHORIZED)
        bearer = {"type": "http", "scheme": "bearer", "description": "Primary or secondary key"}
        components["securitySchemes"] = {"bearerAuth": bearer}
    return {
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": facts.service_name,
            "version": str(facts.model_version),
            "description": facts.description,
        },
        "servers": [{"url": f"http://{host}"}],
        "paths": {
            "/score": score,
            "/invocations": invocations,
            "/": _get("liveness", "Liveness", {"type": "string"}, "text/plain"),
            "/ping": _get("ping", "Ready: the model is loaded", _ref("Status")),
            "/health": _get("health", "Ready: the model is loaded", _ref("Status")),
            "/version": version,
            "/swagger.json": _get("swagger", "This API as Swagger 2.0", {"type": "object"}),
            "/openapi.json": _get("openapi", "This document", {"type": "object"}),
        },
        "components": components,
    }
