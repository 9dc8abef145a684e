"""Big request bodies over real HTTP: a refused one gets a 413 every client can read, and the
default limit (100 MiB, a deploy's maxRequestMb) takes 40,000 rows.

The clients here send Content-Length and then the whole body before reading, without
`Expect: 100-continue` (http.client, urllib, invokeEndpoint): a server that answers and closes
with the body unread resets the connection, and the client never sees its answer.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from lensflow.workspaces.endpoint import invoke

from .conftest import Data, Service

SMALL = 1 << 20  # as deployed with maxRequestMb 1


@pytest.fixture(scope="module")
def services(start_services: Any, data: Data) -> Iterator[dict[str, Service]]:
    yield start_services(
        small=("ScikitLearn", data.ridge_pkl, {"max_body_bytes": SMALL}),
        default=("ScikitLearn", data.ridge_pkl, {}),
    )


def many_rows(data: Data, n: int) -> list[list[float]]:
    """n rows of the seed's 10 features: about 215 bytes of JSON a row."""
    rows = [[float(v) for v in row] for row in data.x_test]
    return [rows[i % len(rows)] for i in range(n)]


def post(service: Service, body: bytes) -> tuple[int, dict[str, Any]]:
    """http.client, as a script would: Content-Length, the whole body, then the answer."""
    assert service.keys is not None
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {service.keys[0]}"}
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=60)
    try:
        conn.request("POST", "/score", body=body, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


def test_40000_rows_over_the_limit_get_a_readable_413(
    services: dict[str, Service], data: Data
) -> None:
    """8.5 MB: past the old drain bound (8 MiB), http.client got ConnectionResetError."""
    body = json.dumps({"data": many_rows(data, 40_000)}).encode()
    assert len(body) > 8 << 20
    for _ in range(3):  # the reset was a race: try a few times
        status, answer = post(services["small"], body)
        assert status == 413
        assert f"the body has {len(body)} bytes" in answer["error"]
        assert f"at most {SMALL}" in answer["error"]
    assert services["small"].score(many_rows(data, 2)).status == 200  # the worker serves on


def test_a_30_mb_body_over_the_limit_gets_a_readable_413(services: dict[str, Service]) -> None:
    body = b'{"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]' + b" " * (30 << 20) + b"}"
    status, answer = post(services["small"], body)
    assert status == 413 and "at most 1048576" in answer["error"]


def test_invoke_endpoint_gets_the_413_as_its_result(
    services: dict[str, Service], data: Data
) -> None:
    """invokeEndpoint (urllib) answered `unreachable` where the service had answered 413."""
    small = services["small"]
    assert small.keys is not None
    url = f"http://127.0.0.1:{small.port}/score"
    result = invoke(url, small.keys[0], {"data": many_rows(data, 50_000)}, "small")
    assert result.status_code == 413
    assert "at most 1048576" in result.output["error"]


def test_the_default_limit_takes_40000_rows(services: dict[str, Service], data: Data) -> None:
    rows = many_rows(data, 40_000)
    status, answer = post(services["default"], json.dumps({"data": rows}).encode())
    assert status == 200
    assert answer == data.ridge.predict(rows).tolist()


def test_the_default_limit_is_100_mib(services: dict[str, Service]) -> None:
    assert services["default"].keys is not None
    conn = http.client.HTTPConnection("127.0.0.1", services["default"].port, timeout=10)
    try:
        conn.putrequest("POST", "/score")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Authorization", f"Bearer {services['default'].keys[0]}")
        conn.putheader("Content-Length", str((100 << 20) + 1))
        conn.putheader("Expect", "100-continue")  # the answer comes before any body
        conn.endheaders()
        response = conn.getresponse()
        assert response.status == 413
        assert f"at most {100 << 20}" in json.loads(response.read())["error"]
    finally:
        conn.close()


def big_body(data: Data, last_row: str, n: int = 20_000, extra: str = "") -> bytes:
    """n rows (4 MB, parsed a slice at a time) whose last row is `last_row`, as JSON text."""
    rows = json.dumps(many_rows(data, n - 1))[:-1]
    return f'{{"data": {rows}, {last_row}]{extra}}}'.encode()


@pytest.mark.parametrize(
    ("last_row", "extra", "status", "says"),
    [
        ("[true, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "", 400, "booleans are not numbers"),
        ("[null, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "", 400, "non-numeric"),
        ('["1", 1, 2, 3, 4, 5, 6, 7, 8, 9]', "", 400, "non-numeric"),
        ("[1, 2, 3]", "", 400, "all of one length"),
        ("[1e999, 1, 2, 3, 4, 5, 6, 7, 8, 9]", "", 400, "NaN or infinite"),
        ("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", ', "method": "transform"', 400, "unknown method"),
        ("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]", ', "method": "predict_proba"', 422, "predict_proba"),
        ("[1, 2, 3, 4, 5, 6, 7, 8, 9, 10,]", "", 400, "not valid JSON"),
    ],
)
def test_a_big_bodys_mistakes_are_worded_as_a_small_ones(
    services: dict[str, Service], data: Data, last_row: str, extra: str, status: int, says: str
) -> None:
    got, answer = post(services["default"], big_body(data, last_row, extra=extra))
    assert got == status and says in answer["error"], answer


def test_a_big_body_in_any_layout_is_scored_exactly(
    services: dict[str, Service], data: Data
) -> None:
    rows = many_rows(data, 30_000)
    integers = [*rows[:-1], [int(v * 1e6) for v in rows[-1]]]  # ints among floats: float64
    for text, sent in (
        (json.dumps({"data": rows, "method": "predict"}, separators=(",", ":")), rows),
        (json.dumps({"data": rows}, indent=2), rows),
        (json.dumps({"data": integers}), integers),
    ):
        status, answer = post(services["default"], text.encode())
        assert status == 200 and answer == data.ridge.predict(sent).tolist()
