"""The two API documents of a real service: /swagger.json is Swagger 2.0 as Azure ML's no-code
services publish it, /openapi.json is OpenAPI 3.1; both name the host the client used, so a
client built from either calls http://<host>/score, never //score."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lensflow.workspaces.endpoint import example_body, invoke
from openapi_spec_validator import OpenAPIV2SpecValidator, OpenAPIV31SpecValidator, validate

from .conftest import Data, Reply, Service

OPEN = ("/", "/ping", "/health", "/swagger.json", "/openapi.json")
KEYED = (("/score", "post"), ("/invocations", "post"), ("/version", "get"))


@pytest.fixture(scope="module")
def services(start_services: Any, data: Data) -> Iterator[dict[str, Service]]:
    yield start_services(
        ridge=("ScikitLearn", data.ridge_pkl, {}),
        classifier=("ScikitLearn", data.classifier_pkl, {"auth": False}),
    )


def document(service: Service, path: str, host: str | None = None) -> dict[str, Any]:
    reply = service.request("GET", path, key=None, headers={"Host": host} if host else None)
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    body: dict[str, Any] = reply.json()
    return body


def bodies(operation: dict[str, Any]) -> list[dict[str, Any]]:
    """Every request and response schema of an operation, in either dialect."""
    found = [p["schema"] for p in operation.get("parameters", []) if p["in"] == "body"]
    found += [c["schema"] for c in operation.get("requestBody", {}).get("content", {}).values()]
    for answer in operation["responses"].values():
        found += [answer["schema"]] if "schema" in answer else []
        found += [c["schema"] for c in answer.get("content", {}).values()]
    return found


def test_swagger_json_is_swagger_2_as_azure_publishes_it(services: dict[str, Service]) -> None:
    ridge = services["ridge"]
    spec = document(ridge, "/swagger.json")
    validate(spec, cls=OpenAPIV2SpecValidator)  # raises on any Swagger 2.0 violation
    assert spec["swagger"] == "2.0" and "openapi" not in spec
    bound = f"127.0.0.1:{ridge.port}"
    assert (spec["host"], spec["basePath"], spec["schemes"]) == (bound, "/", ["http"])
    assert spec["securityDefinitions"] == {
        "Bearer": {"type": "apiKey", "name": "Authorization", "in": "header",
                   "description": "The primary or secondary key, for example: Bearer abc123"}
    }  # fmt: skip
    for path, method in KEYED:
        operation = spec["paths"][path][method]
        assert operation["security"] == [{"Bearer": []}] and "401" in operation["responses"]
    for path in OPEN:
        assert "security" not in spec["paths"][path]["get"], path
    score = spec["paths"]["/score"]["post"]
    assert score["operationId"] == "RunMLService"
    assert spec["paths"]["/"]["get"]["operationId"] == "ServiceHealthCheck"
    assert [p["in"] for p in score["parameters"]] == ["body"]
    request = spec["definitions"]["ScoreRequest"]
    row = request["properties"]["data"]["items"]
    assert row["minItems"] == row["maxItems"] == 10
    assert request["example"] == {"data": [[0.0] * 10], "method": "predict"}
    assert {"400", "401", "413", "415", "422"} <= set(score["responses"])


def test_openapi_json_is_openapi_3_1_with_its_server(services: dict[str, Service]) -> None:
    ridge = services["ridge"]
    spec = document(ridge, "/openapi.json")
    validate(spec, cls=OpenAPIV31SpecValidator)
    assert spec["openapi"] == "3.1.0"
    assert spec["servers"] == [{"url": f"http://127.0.0.1:{ridge.port}"}]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, method in KEYED:
        assert spec["paths"][path][method]["security"] == [{"bearerAuth": []}], path
    for path in OPEN:
        assert "security" not in spec["paths"][path]["get"], path
    row = spec["components"]["schemas"]["ScoreRequest"]["properties"]["data"]["items"]
    assert row["minItems"] == row["maxItems"] == 10
    # MLflow's four input shapes are named schemas, not inline objects a generator must name.
    shapes = spec["components"]["schemas"]["InvocationsRequest"]["oneOf"]
    assert all(set(shape) == {"$ref"} for shape in shapes) and len(shapes) == 4


@pytest.mark.parametrize("path", ["/swagger.json", "/openapi.json"])
def test_every_body_is_a_named_schema(services: dict[str, Service], path: str) -> None:
    spec = document(services["ridge"], path)
    for route in ("/score", "/invocations"):
        for schema in bodies(spec["paths"][route]["post"]):
            assert set(schema) == {"$ref"}, (route, schema)


def test_the_host_is_the_one_the_client_asked_for(services: dict[str, Service]) -> None:
    ridge = services["ridge"]
    behind = "scoring.example.com:8443"
    assert document(ridge, "/swagger.json", behind)["host"] == behind
    assert document(ridge, "/openapi.json", behind)["servers"] == [{"url": f"http://{behind}"}]
    bound = f"127.0.0.1:{ridge.port}"  # a Host that is no plain host[:port]: the bound address
    for odd in ("[::1]:80", "a b", "x/y@z"):
        assert document(ridge, "/swagger.json", odd)["host"] == bound, odd
        validate(document(ridge, "/swagger.json", odd), cls=OpenAPIV2SpecValidator)
    assert document(ridge, "/swagger.json")["host"] == bound  # and the first host is unchanged


def test_without_auth_no_security_and_both_methods(services: dict[str, Service]) -> None:
    classifier = services["classifier"]
    swagger, openapi = document(classifier, "/swagger.json"), document(classifier, "/openapi.json")
    validate(swagger, cls=OpenAPIV2SpecValidator)
    validate(openapi, cls=OpenAPIV31SpecValidator)
    assert "securityDefinitions" not in swagger and "securitySchemes" not in openapi["components"]
    assert "security" not in swagger["paths"]["/score"]["post"]
    methods = ["predict", "predict_proba"]
    for schemas in (swagger["definitions"], openapi["components"]["schemas"]):
        assert schemas["ScoreRequest"]["properties"]["method"]["enum"] == methods
        row = schemas["ScoreRequest"]["properties"]["data"]["items"]
        assert row["minItems"] == row["maxItems"] == 4


def test_documents_are_open_and_answer_head(services: dict[str, Service]) -> None:
    ridge = services["ridge"]
    for path in ("/swagger.json", "/openapi.json"):
        head: Reply = ridge.request("HEAD", path, key=None)
        assert head.status == 200 and head.body == b"", path
        assert int(head.headers["content-length"]) == len(ridge.request("GET", path).body)


@pytest.mark.parametrize("path", ["/swagger.json", "/openapi.json"])
def test_invoke_without_input_sends_the_documented_example(
    services: dict[str, Service], data: Data, path: str
) -> None:
    ridge = services["ridge"]
    base = f"http://127.0.0.1:{ridge.port}"
    body = example_body(base + path)
    assert body == {"data": [[0.0] * 10], "method": "predict"}
    key = ridge.keys[0] if ridge.keys else None
    result = invoke(base + "/score", key, body, "ridge")
    assert result.status_code == 200
    assert result.output == pytest.approx(data.ridge.predict([[0.0] * 10]).tolist())
