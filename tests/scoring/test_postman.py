"""Postman's converter (openapi-to-postmanv2) makes a collection of a real service's /swagger.json
(Swagger 2.0) and of its /openapi.json (OpenAPI 3.1); newman runs its /score request with the
key and gets the model's prediction for the documented example.

Before, /swagger.json was OpenAPI 3.0 with no `servers`: the collection's base URL was "/" and
newman called //score. The npm packages are installed by scripts/test.sh (`npm ci` in
tests/clients/postman); this test never downloads.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.clients.node_tools import check, run, tool
from tests.setup_jobs import wait_for

from .conftest import REPO, Data, Service

TOOLS = REPO / "tests" / "clients" / "postman" / "node_modules"
CONVERTER = TOOLS / "openapi-to-postmanv2" / "bin" / "openapi2postmanv2.js"
NEWMAN = TOOLS / "newman" / "bin" / "newman.js"
# Bodies from the documents' examples, one folder per path (so newman can run /score alone).
OPTIONS = "parametersResolution=Example,folderStrategy=Paths"


@pytest.fixture(scope="module")
def ridge(start_services: Any, data: Data) -> Iterator[Service]:
    wait_for("postman")  # scripts/test.sh runs the `npm ci` in the background
    for script in (CONVERTER, NEWMAN):
        if not script.is_file():
            pytest.fail(f"{script} is missing: run scripts/test.sh, or `npm ci` in {TOOLS.parent}")
    yield start_services(ridge=("ScikitLearn", data.ridge_pkl, {}))["ridge"]


@pytest.mark.parametrize(
    ("document", "variable", "prefix"),
    [("/swagger.json", "apiKey", "Bearer "), ("/openapi.json", "bearerToken", "")],
)
def test_a_postman_collection_scores(
    ridge: Service, data: Data, tmp_path: Path, document: str, variable: str, prefix: str
) -> None:
    spec = tmp_path / "spec.json"
    spec.write_bytes(ridge.request("GET", document, key=None).body)
    node = tool("node")
    converted = run(
        [node, str(CONVERTER), "-s", str(spec), "-o", "collection.json", "-O", OPTIONS],
        tmp_path, 120,
    )  # fmt: skip
    check(converted, "openapi2postmanv2")
    collection = json.loads((tmp_path / "collection.json").read_text())
    assert collection["variable"] == [{"key": "baseUrl", "value": f"http://127.0.0.1:{ridge.port}"}]
    assert ridge.keys is not None
    newman = run(
        [node, str(NEWMAN), "run", "collection.json", "--folder", "score",
         "--env-var", f"{variable}={prefix}{ridge.keys[0]}",
         "-r", "json", "--reporter-json-export", "report.json"],
        tmp_path, 120,
    )  # fmt: skip
    check(newman, "newman")
    executions = json.loads((tmp_path / "report.json").read_text())["run"]["executions"]
    assert len(executions) == 1
    request, response = executions[0]["request"], executions[0]["response"]
    assert request["url"]["path"] == ["score"] and request["method"] == "POST"
    assert response["code"] == 200, bytes(response["stream"]["data"])
    sent = json.loads(request["body"]["raw"])
    assert sent == {"data": [[0] * 10], "method": "predict"}  # the documented example
    predicted = json.loads(bytes(response["stream"]["data"]))
    assert predicted == pytest.approx(data.ridge.predict(sent["data"]).tolist(), rel=1e-12)
