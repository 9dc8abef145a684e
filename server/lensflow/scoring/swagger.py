"""The service's Swagger 2.0 document (/swagger.json), shaped as Azure ML's no-code services
publish theirs: `host`, `basePath` and `schemes` (so a converter calls http://<host>/score, not
//score), the key as an apiKey in the Authorization header named Bearer, operation ids
ServiceHealthCheck and RunMLService, and every body a named definition."""

from __future__ import annotations

from typing import Any

from .schemas import UNAUTHORIZED, ApiFacts, client_errors, ref, schemas

SWAGGER_VERSION = "2.0"
_SECURITY: list[dict[str, list[str]]] = [{"Bearer": []}]


def _ref(name: str) -> dict[str, str]:
    return ref("2.0", name)


def _answer(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "schema": schema}


def _get(
    operation_id: str, summary: str, schema: dict[str, Any], produces: str | None = None
) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if produces:
        operation["produces"] = [produces]
    operation["responses"] = {"200": _answer("OK", schema)}
    return {"get": operation}


def _scoring(facts: ApiFacts, operation_id: str, summary: str, name: str) -> dict[str, Any]:
    body = {
        "name": "serviceInputPayload",
        "in": "body",
        "required": True,
        "description": facts.width,
        "schema": _ref(f"{name}Request"),
    }
    why = client_errors(facts.auth)
    errors = {code: _answer(text, _ref("Error")) for code, text in why.items()}
    operation: dict[str, Any] = {"operationId": operation_id, "summary": summary}
    if facts.auth:
        operation["security"] = _SECURITY
    operation["parameters"] = [body]
    operation["responses"] = {"200": _answer("Predictions", _ref(f"{name}Response")), **errors}
    return {"post": operation}


def build_swagger(facts: ApiFacts, host: str) -> dict[str, Any]:
    """The whole document for a client that reached the service at `host` (host[:port])."""
    version = _get("Version", "Scoring app, model and runtime versions", _ref("Version"))
    document: dict[str, Any] = {
        "swagger": SWAGGER_VERSION,
        "info": {
            "title": facts.service_name,
            "version": str(facts.model_version),
            "description": facts.description,
        },
        "host": host,
        "basePath": "/",
        "schemes": ["http"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
    }
    if facts.auth:
        version["get"]["security"] = _SECURITY
        version["get"]["responses"]["401"] = _answer(UNAUTHORIZED, _ref("Error"))
        document["securityDefinitions"] = {
            "Bearer": {
                "type": "apiKey",
                "name": "Authorization",
                "in": "header",
                "description": "The primary or secondary key, for example: Bearer abc123",
            }
        }
    document["paths"] = {
        "/": _get("ServiceHealthCheck", "Liveness", {"type": "string"}, "text/plain"),
        "/score": _scoring(
            facts, "RunMLService", "Score rows (Azure ML no-code contract)", "Score"
        ),
        "/invocations": _scoring(
            facts, "Invocations", "Score rows (MLflow scoring-server contract)", "Invocations"
        ),
        "/ping": _get("Ping", "Ready: the model is loaded", _ref("Status")),
        "/health": _get("Health", "Ready: the model is loaded", _ref("Status")),
        "/version": version,
        "/swagger.json": _get("Swagger", "This document", {"type": "object"}),
        "/openapi.json": _get("OpenApi", "This API as OpenAPI 3.1", {"type": "object"}),
    }
    document["definitions"] = schemas("2.0", facts.n_features, facts.methods)
    return document
