"""schemathesis against a real no-code service of the seed's Ridge, through its /openapi.json.

The service is deployed as lensflow.deploy does it (a local cluster's supervisord, a uvicorn of
the scoring app on 127.0.0.1, key auth on), through the domain API that tests/deploy uses.
With the key, every operation gets schema-valid (positive) and schema-invalid (negative)
requests: never a 5xx, and every answer has a status, content type and body its swagger
documents; invalid data is refused with a 4xx. Without the key, or with a wrong or malformed
one, the scoring routes answer 401 (documented) whatever the body. At the end the service and
its cluster are cleaned up and no supervisord or uvicorn is left.

`LENSFLOW_FUZZ_EXAMPLES` (default 25) bounds the examples per operation and mode: 8 times as
many for the two scoring routes (200), 5 at most for the routes that take no input.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import joblib
import pytest
import requests
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from lensflow.workspaces.local.deployments import LocalDeployments, ModelArtifact
from lensflow_protocol.deployment import CreateClusterArgs, DeployArgs
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.schemas import BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge
from sklearn.model_selection import train_test_split

from tests.deploy.conftest import finish

from .support import EXAMPLES, fuzz_settings

SERVICE, CLUSTER = "fuzz-service", "fuzz-cluster"
SCORING = [("/score", "POST"), ("/invocations", "POST")]
OPEN = [("/", "GET"), ("/ping", "GET"), ("/health", "GET"), ("/swagger.json", "GET"),
        ("/openapi.json", "GET")]  # fmt: skip
READS = [*OPEN, ("/version", "GET")]  # /version is keyed, as the scoring routes are
CONFORMANCE = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
SCORING_EXAMPLES = EXAMPLES * 8  # the two routes that take input get the most (200)

TRIED: Counter[str] = Counter()  # requests sent, by what was tried; printed at the end


@dataclass
class Deployed:
    url: str
    key: str
    secondary_key: str
    started_s: float


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    base = tmp_path_factory.mktemp("endpoint-fuzz")
    x, y = load_diabetes(return_X_y=True)
    x_train, _, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0)
    joblib.dump(Ridge(alpha=0.03).fit(x_train, y_train), base / "model.pkl")
    home = base / "project" / ".lensflow"
    local = LocalDeployments(home)
    try:
        started = time.monotonic()
        local.create_cluster(CreateClusterArgs(name=CLUSTER))
        model = ModelArtifact("diabetes_model", 1, "ScikitLearn", base / "model.pkl")
        deploy = DeployArgs(
            service_name=SERVICE, model_name=model.name, cluster_name=CLUSTER, cpu_cores=0.5
        )
        info = local.deploy(deploy, model, lambda *_: None)
        assert info.state == "Healthy", info.error
        keys = local.keys(SERVICE)
        url = info.scoring_uri.rsplit("/", 1)[0]
        assert url.startswith("http://127.0.0.1:"), url
        yield Deployed(url, keys.primary_key, keys.secondary_key, time.monotonic() - started)
    finally:
        print(f"\nendpoint fuzz: {sum(TRIED.values())} requests: {dict(sorted(TRIED.items()))}")
        finish(local, home)  # clean_up(all=True), then: no process of `home` is left


@pytest.fixture(scope="module")
def api(service: Deployed) -> BaseSchema:
    # The OpenAPI 3.1 document: /swagger.json is Swagger 2.0 (as Azure's), which has no oneOf
    # for MLflow's input shapes and says less about the bodies.
    return schemathesis.openapi.from_url(f"{service.url}/openapi.json")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def test_the_swagger_documents_401_on_every_scoring_route(api: BaseSchema) -> None:
    document = api.raw_schema
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    for path, method in SCORING:
        operation = document["paths"][path][method.lower()]
        assert operation["security"] == [{"bearerAuth": []}], path
        assert "401" in operation["responses"], path
    for path, method in OPEN:  # liveness and the swagger itself need no key
        assert "security" not in document["paths"][path][method.lower()], path
    version = document["paths"]["/version"]["get"]
    assert version["security"] == [{"bearerAuth": []}] and "401" in version["responses"]


@pytest.mark.parametrize(("path", "method"), SCORING + READS)
def test_valid_requests_with_the_key(
    api: BaseSchema, service: Deployed, path: str, method: str
) -> None:
    operation = api[path][method]
    examples = SCORING_EXAMPLES if (path, method) in SCORING else 5

    @fuzz_settings(examples)
    @given(case=operation.as_strategy(GenerationMode.POSITIVE))
    def one(case: Any) -> None:
        TRIED[f"positive {method} {path}"] += 1
        response = case.call(base_url=service.url, headers=bearer(service.key), timeout=30)
        case.validate_response(response, checks=CONFORMANCE)

    one()


@pytest.mark.parametrize(("path", "method"), SCORING)
def test_invalid_requests_with_the_key(
    api: BaseSchema, service: Deployed, path: str, method: str
) -> None:
    """Schema-invalid bodies: a documented 4xx, never a 5xx nor a 2xx."""

    @fuzz_settings(SCORING_EXAMPLES)
    @given(case=api[path][method].as_strategy(GenerationMode.NEGATIVE))
    def one(case: Any) -> None:
        TRIED[f"negative {method} {path}"] += 1
        response = case.call(base_url=service.url, headers=bearer(service.key), timeout=30)
        case.validate_response(response, checks=[*CONFORMANCE, negative_data_rejection])

    one()


# Bearer tokens that are not the key: what a header value may hold (RFC 9110: visible latin-1,
# space, tab). A control character is refused by uvicorn's HTTP parser (400) before the app.
WRONG_TOKENS = st.text(
    st.characters(codec="latin-1", exclude_categories=["Cc"]) | st.just("\t"), max_size=80
)


@pytest.mark.parametrize(("path", "method"), SCORING)
def test_without_the_key_every_scoring_request_gets_401(
    api: BaseSchema, service: Deployed, path: str, method: str
) -> None:
    """No Authorization header, a wrong key, another scheme, or a malformed header: 401."""
    headers = st.one_of(
        st.just({}),
        WRONG_TOKENS.filter(lambda t: t.strip() not in (service.key, service.secondary_key)).map(
            bearer
        ),
        st.sampled_from([f"Basic {service.key}", f"Token {service.key}", service.key, "Bearer",
                         f"Bearer {service.key}x", f"Bearer {service.key[:-1]}"])
        .map(lambda value: {"Authorization": value}),
    )  # fmt: skip
    cases = st.one_of(
        api[path][method].as_strategy(GenerationMode.POSITIVE),
        api[path][method].as_strategy(GenerationMode.NEGATIVE),
    )

    @fuzz_settings(SCORING_EXAMPLES)
    @given(case=cases, sent=headers)
    def one(case: Any, sent: dict[str, str]) -> None:
        TRIED[f"no key {method} {path}"] += 1
        case.headers = {
            k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
        }
        response = case.call(base_url=service.url, headers=sent, timeout=30)
        assert response.status_code == 401, (sent, case.body, response.status_code, response.text)
        assert response.headers["www-authenticate"] == ['Bearer realm="lensflow"'], response.headers
        case.validate_response(response, checks=CONFORMANCE)

    one()


def test_the_service_still_scores_with_either_key(service: Deployed) -> None:
    """After all of that, the seed's two rows still get the seed's predictions."""
    x, y = load_diabetes(return_X_y=True)
    x_train, x_test, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=0)
    expected = Ridge(alpha=0.03).fit(x_train, y_train).predict(x_test[0:2]).tolist()
    for key in (service.key, service.secondary_key):
        body = {"data": x_test[0:2].tolist(), "method": "predict"}
        response = requests.post(f"{service.url}/score", json=body, headers=bearer(key), timeout=30)
        assert response.status_code == 200, response.text
        assert response.json() == pytest.approx(expected, rel=1e-9)
