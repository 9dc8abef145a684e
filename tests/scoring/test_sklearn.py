"""A ScikitLearn service over real HTTP: exact answers, auth, every client error, the 500 guard."""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import joblib
import pytest
from openapi_spec_validator import validate

from .broken_model import BrokenModel
from .conftest import Data, Service

MLFLOW_BODIES = {
    "dataframe_split": lambda rows: {"dataframe_split": {"data": rows}},
    "dataframe_split+columns": lambda rows: {
        "dataframe_split": {"columns": [f"c{i}" for i in range(10)], "data": rows}
    },
    "dataframe_records": lambda rows: {
        "dataframe_records": [{f"c{i}": v for i, v in enumerate(row)} for row in rows]
    },
    "instances": lambda rows: {"instances": rows},
    "inputs": lambda rows: {"inputs": rows},
}


@pytest.fixture(scope="module")
def services(start_services: Any, data: Data) -> Iterator[dict[str, Service]]:
    broken = data.folder / "broken.pkl"
    joblib.dump(BrokenModel(), broken)
    yield start_services(
        ridge=("ScikitLearn", data.ridge_pkl, {"max_body_bytes": 1 << 20}),  # maxRequestMb 1
        classifier=("ScikitLearn", data.classifier_pkl, {"auth": False}),
        broken=("ScikitLearn", broken, {"auth": False}),
    )


@pytest.fixture(scope="module")
def ridge(services: dict[str, Service]) -> Service:
    return services["ridge"]


def rows(data: Data, n: int = 2) -> list[list[float]]:
    return [[float(v) for v in row] for row in data.x_test[:n]]


def test_score_is_exactly_the_models_own_predict(ridge: Service, data: Data) -> None:
    reply = ridge.score(rows(data))
    assert reply.status == 200, reply.body
    assert reply.headers["content-type"] == "application/json"
    assert reply.json() == data.ridge.predict(data.x_test[:2]).tolist()  # float64, bit for bit
    assert reply.json() == pytest.approx([235.11, 246.80], abs=0.01)
    everything = ridge.score(rows(data, len(data.x_test)), method="predict")
    assert everything.json() == data.ridge.predict(data.x_test).tolist()


def test_score_takes_azure_ml_v2_mlflow_input_data(ridge: Service, data: Data) -> None:
    """What an Azure ML SDK v2 MLflow deployment is sent: rows, or a split-oriented frame."""
    expected = data.ridge.predict(data.x_test[:2]).tolist()
    for body in (
        {"input_data": rows(data)},
        {"input_data": {"columns": [f"c{i}" for i in range(10)], "index": [0, 1],
                        "data": rows(data)}},
    ):  # fmt: skip
        reply = ridge.request("POST", "/score", body)
        assert reply.status == 200, reply.body
        assert reply.json() == expected
    bad = ridge.request("POST", "/score", {"input_data": {"columns": ["a"]}})
    assert bad.status == 400 and 'needs "data"' in bad.json()["error"]


def test_auth_primary_and_secondary_keys(ridge: Service, data: Data) -> None:
    assert ridge.score(rows(data), key="primary").status == 200
    assert ridge.score(rows(data), key="secondary").status == 200
    for key in (None, "wrong-key-" + "x" * 33, ridge.keys[0][:-1] if ridge.keys else ""):
        reply = ridge.score(rows(data), key=key)
        assert reply.status == 401
        assert reply.headers["www-authenticate"].startswith("Bearer")
        assert "key" in reply.json()["error"]
    assert ridge.request("POST", "/invocations", {"inputs": rows(data)}, key=None).status == 401
    basic = {"Authorization": f"Basic {ridge.keys[0] if ridge.keys else ''}"}
    assert (
        ridge.request("POST", "/score", {"data": rows(data)}, key=None, headers=basic).status == 401
    )


def test_open_routes_need_no_key(ridge: Service) -> None:
    for path in ("/", "/ping", "/health", "/swagger.json", "/openapi.json"):
        assert ridge.request("GET", path, key=None).status == 200, path
    assert ridge.request("GET", "/", key=None).body == b"Healthy"
    assert ridge.request("HEAD", "/ping", key=None).body == b""


def test_version_needs_the_key(services: dict[str, Service]) -> None:
    """/version names the model and the runtime's versions: only a key holder may read them."""
    ridge = services["ridge"]
    for key in (None, "wrong-key-" + "x" * 33):
        for method in ("GET", "HEAD"):
            reply = ridge.request(method, "/version", key=key)
            assert reply.status == 401, (method, key)
            assert reply.headers["www-authenticate"].startswith("Bearer")
        reply = ridge.request("GET", "/version", key=key)
        assert "key" in reply.json()["error"] and b"ridge-model" not in reply.body
    for key in ("primary", "secondary"):
        reply = ridge.request("GET", "/version", key=key)
        assert reply.status == 200 and reply.json()["modelName"] == "ridge-model"
    # A service deployed without auth has no key to ask for.
    assert services["classifier"].request("GET", "/version", key=None).status == 200


def test_wrong_feature_count_is_422(ridge: Service, data: Data) -> None:
    reply = ridge.score([row[:9] for row in rows(data)])
    assert reply.status == 422
    assert reply.json() == {"error": "expected 10 features per row, got 9"}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[[1, 2]]", "JSON object"),
        (b'{"rows": [[1]]}', 'missing "data"'),
        (b'{"data": [[1]], "method": "transform"}', "unknown method"),
        (b'{"data": [["a", 1, 2, 3, 4, 5, 6, 7, 8, 9]]}', "non-numeric"),
        (b'{"data": [[null, 1, 2, 3, 4, 5, 6, 7, 8, 9]]}', "non-numeric"),
        (
            b'{"data": [[true, false, true, true, true, true, true, true, true, true]]}',
            "booleans are not numbers",
        ),
        (b'{"data": [[false, 0, 1, 2, 3, 4, 5, 6, 7, 8]]}', "booleans are not numbers"),
        (b'{"data": [[0.5, 1, 2, 3, 4, 5, 6, 7, 8, true]]}', "booleans are not numbers"),
        (b'{"data": ' + b"[" * 1000 + b"]" * 1000 + b"}", "nested too deeply"),
        (b'{"data": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested too deeply"),
        (
            b'{"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]], "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "nested too deeply",
        ),
        (b'{"data": [[NaN, 1, 2, 3, 4, 5, 6, 7, 8, 9]]}', "NaN or infinite"),
        (b'{"data": [[1e999, 1, 2, 3, 4, 5, 6, 7, 8, 9]]}', "NaN or infinite"),
        (b'{"data": [[1, 2], [1, 2, 3]]}', "all of one length"),
        (b'{"data": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]}', "list of rows"),
        (b'{"data": []}', "non-empty"),
        (b'{"data": "1,2,3"}', "non-empty list of rows"),
    ],
)
def test_client_mistakes_are_400(ridge: Service, raw: bytes, says: str) -> None:
    reply = ridge.request("POST", "/score", raw=raw, headers={"Content-Type": "application/json"})
    assert reply.status == 400, reply.body
    assert says in reply.json()["error"]


def test_client_mistakes_leave_no_traceback_in_the_log(ridge: Service) -> None:
    """A RecursionError from the JSON parser was a logged 500 with its traceback."""
    mistakes = [
        b'{"data": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        b'{"instances": [[false, 0, 1, 2, 3, 4, 5, 6, 7, 8]]}',
        b'{"dataframe_records": [{"a": true, "b": 1}]}',
    ]
    for path in ("/score", "/invocations"):
        for raw in mistakes:
            reply = ridge.request(
                "POST", path, raw=raw, headers={"Content-Type": "application/json"}
            )
            assert reply.status == 400, (path, raw[:40], reply.body)
    log = ridge.log.read_text()
    assert "Traceback" not in log and "RecursionError" not in log


def test_a_boolean_is_refused_in_a_column_named_true_too(ridge: Service, data: Data) -> None:
    """Only a body that spells true or false is searched for a boolean: a column's name may."""
    columns = [f"true{i}" if i else "false" for i in range(10)]
    with_bool = [[True, *rows(data)[0][1:]]]
    body = {"dataframe_split": {"columns": columns, "data": with_bool}}
    reply = ridge.request("POST", "/invocations", body)
    assert reply.status == 400 and "booleans" in reply.json()["error"]
    body = {"dataframe_split": {"columns": columns, "data": rows(data)}}
    reply = ridge.request("POST", "/invocations", body)
    assert reply.status == 200, reply.body
    assert reply.json() == {"predictions": data.ridge.predict(data.x_test[:2]).tolist()}


def test_wrong_content_type_is_415(ridge: Service, data: Data) -> None:
    body = json.dumps({"data": rows(data)}).encode()
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        reply = ridge.request("POST", "/score", raw=body, headers={"Content-Type": content_type})
        assert reply.status == 415
        assert "application/json" in reply.json()["error"]
    charset = {"Content-Type": "Application/JSON; charset=utf-8"}
    assert ridge.request("POST", "/score", raw=body, headers=charset).status == 200


def test_announced_oversize_body_is_refused_before_it_is_sent(ridge: Service) -> None:
    assert ridge.keys is not None
    with socket.create_connection(("127.0.0.1", ridge.port), timeout=5) as sock:
        sock.sendall(
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + ridge.keys[0].encode() + b"\r\n"
            b"Content-Length: 5000000\r\n\r\n"
        )  # and not one byte of the body: the answer must not wait for it
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 413
        assert response.getheader("connection") == "close"
        assert "at most 1048576" in json.loads(response.read())["error"]


def test_a_client_expecting_100_continue_gets_the_413_instead(ridge: Service) -> None:
    assert ridge.keys is not None
    with socket.create_connection(("127.0.0.1", ridge.port), timeout=5) as sock:
        sock.sendall(
            b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer " + ridge.keys[0].encode() + b"\r\n"
            b"Expect: 100-continue\r\nContent-Length: 2097152\r\n\r\n"
        )
        response = http.client.HTTPResponse(sock)
        response.begin()  # the final answer, not "100 Continue"
        assert response.status == 413
        assert response.getheader("connection") == "close"
        assert "at most 1048576" in json.loads(response.read())["error"]
        assert sock.recv(1) == b""  # and the connection is closed: no body is coming


def urllib_post(service: Service, body: bytes, key: str | None) -> urllib.error.HTTPError:
    """POSTs like urllib does (Connection: close, the whole body written before reading)."""
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(
        f"http://127.0.0.1:{service.port}/score", data=body, headers=headers
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)  # a reset would raise URLError instead
    return refused.value


def test_urllib_reads_the_413_of_a_body_it_sends_whole(ridge: Service) -> None:
    """Answered and closed before the body is read, the client got a reset, not the 413."""
    assert ridge.keys is not None
    body = b'{"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]' + b" " * (2 << 20) + b"}"  # 2 MiB
    for _ in range(5):  # the reset was a race the server nearly always won: try a few times
        refused = urllib_post(ridge, body, ridge.keys[0])
        assert refused.code == 413
        assert refused.headers["content-type"] == "application/json"
        error = json.loads(refused.read())["error"]
        assert f"the body has {len(body)} bytes" in error and "at most 1048576" in error
    assert ridge.score([[1.0] * 10]).status == 200  # the worker serves on


def test_urllib_reads_a_401_sent_before_its_body(ridge: Service) -> None:
    body = json.dumps({"data": [[0.5] * 10] * 40000}).encode()  # ~2 MiB: the key is checked first
    for _ in range(5):
        refused = urllib_post(ridge, body, "wrong-" + "k" * 40)
        assert refused.code == 401 and "wrong key" in json.loads(refused.read())["error"]
        assert refused.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("connection", ["keep-alive", "close"])
def test_streamed_oversize_body_is_cut_at_the_limit(ridge: Service, connection: str) -> None:
    assert ridge.keys is not None
    chunk = b" " * 65536

    def body() -> Iterator[bytes]:
        yield b'{"data": [[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]]'
        for _ in range(40):  # 2.5 MiB, no Content-Length
            yield chunk
        yield b"}"

    conn = http.client.HTTPConnection("127.0.0.1", ridge.port, timeout=30)
    headers = {
        "Content-Type": "application/json",
        "Authorization": f"Bearer {ridge.keys[0]}",
        "Connection": connection,
    }
    try:
        conn.request("POST", "/score", body=body(), headers=headers, encode_chunked=True)
        response = conn.getresponse()
        assert response.status == 413
        assert "more than" in json.loads(response.read())["error"]
    finally:
        conn.close()


def test_unknown_path_404_and_wrong_verb_405(ridge: Service, data: Data) -> None:
    missing = ridge.request("GET", "/predict")
    assert missing.status == 404 and "error" in missing.json()
    wrong = ridge.request("GET", "/score")
    assert wrong.status == 405 and wrong.headers["allow"] == "POST"
    post_ping = ridge.request("POST", "/ping", {"data": rows(data)})
    assert post_ping.status == 405 and post_ping.headers["allow"] == "GET, HEAD"


@pytest.mark.parametrize("fmt", sorted(MLFLOW_BODIES))
def test_invocations_in_every_mlflow_format(ridge: Service, data: Data, fmt: str) -> None:
    reply = ridge.request("POST", "/invocations", MLFLOW_BODIES[fmt](rows(data)))
    assert reply.status == 200, reply.body
    assert reply.json() == {"predictions": data.ridge.predict(data.x_test[:2]).tolist()}


def test_invocations_mistakes(ridge: Service, data: Data) -> None:
    for body in ({"data": rows(data)}, {"instances": rows(data), "inputs": rows(data)}):
        reply = ridge.request("POST", "/invocations", body)
        assert reply.status == 400 and "exactly one of" in reply.json()["error"]
    records = [{"a": 1.0}, {"b": 2.0}]
    reply = ridge.request("POST", "/invocations", {"dataframe_records": records})
    assert reply.status == 400 and "same columns" in reply.json()["error"]
    narrow = ridge.request("POST", "/invocations", {"instances": [r[:9] for r in rows(data)]})
    assert narrow.status == 422


def test_version(ridge: Service) -> None:
    version = ridge.request("GET", "/version").json()
    assert version["framework"] == "ScikitLearn"
    assert (version["modelName"], version["modelVersion"]) == ("ridge-model", 3)
    assert version["nFeatures"] == 10 and version["scoringVersion"]
    assert "scikit-learn" in version["runtime"] and "onnxruntime" not in version["runtime"]


def test_an_output_that_overflows_is_a_422_not_a_500(
    services: dict[str, Service], data: Data
) -> None:
    """Finite inputs, infinite output: 1e308 × a coefficient overflows, and JSON has no inf."""
    ridge, classifier = services["ridge"], services["classifier"]
    said = {"error": "the model's output is not finite (NaN or infinite) for these inputs"}
    huge = [[1e308] * 10]
    for reply in (
        ridge.score(huge),
        ridge.score(rows(data) + huge),  # one bad row spoils the answer
        ridge.request("POST", "/invocations", {"inputs": huge}),
        classifier.score([[1e308] * 4], method="predict_proba", key=None),  # softmax: NaN
    ):
        assert reply.status == 422, reply.body
        assert reply.json() == said
    assert classifier.score([[1e308] * 4], key=None).status == 200  # its labels are finite
    assert ridge.score(rows(data)).status == 200
    log = ridge.log.read_text()
    assert "predict gave NaN or infinite values for 3 row(s)" in log
    assert "Traceback" not in log and "1e+308" not in log


def test_predict_proba_of_a_regressor_is_a_clean_422(ridge: Service, data: Data) -> None:
    reply = ridge.score(rows(data), method="predict_proba")
    assert reply.status == 422
    assert "no predict_proba" in reply.json()["error"]


def test_classifier_predict_proba_matches_sklearn(services: dict[str, Service], data: Data) -> None:
    classifier, x = services["classifier"], data.iris_x[::30]
    proba = classifier.score(x.tolist(), method="predict_proba", key=None)
    assert proba.status == 200, proba.body
    assert proba.json() == data.classifier.predict_proba(x).tolist()
    labels = classifier.score(x.tolist(), key=None)
    assert labels.json() == data.classifier.predict(x).tolist()
    assert classifier.score(x[:, :3].tolist(), key=None).json() == {
        "error": "expected 4 features per row, got 3"
    }
    spec = classifier.request("GET", "/swagger.json").json()
    validate(spec)
    assert "securityDefinitions" not in spec
    assert spec["definitions"]["ScoreRequest"]["properties"]["method"]["enum"] == [
        "predict",
        "predict_proba",
    ]


def test_model_failure_is_a_generic_500_and_logged(services: dict[str, Service]) -> None:
    broken = services["broken"]
    reply = broken.score([[0.0] * 10], key=None)
    assert reply.status == 500
    assert "internal model failure" not in reply.body.decode()  # the details stay in the log
    assert "service log" in reply.json()["error"]
    assert broken.request("GET", "/ping").status == 200  # and the service lives on
    log = broken.log.read_text()
    assert "Traceback" in log and "internal model failure: weights are corrupt" in log


def test_one_connection_survives_errors(ridge: Service, data: Data) -> None:
    """Keep-alive: 401, 422, 400, then 200 on the same connection."""
    assert ridge.keys is not None
    conn = http.client.HTTPConnection("127.0.0.1", ridge.port, timeout=10)
    auth = {"Content-Type": "application/json", "Authorization": f"Bearer {ridge.keys[1]}"}
    cases = [
        ({"Content-Type": "application/json"}, {"data": rows(data)}, 401),
        (auth, {"data": [[1.0] * 9]}, 422),
        (auth, {"data": [["x"] * 10]}, 400),
        (auth, {"data": rows(data)}, 200),
    ]
    try:
        for headers, body, status in cases:
            conn.request("POST", "/score", body=json.dumps(body).encode(), headers=headers)
            response = conn.getresponse()
            response.read()
            assert response.status == status
    finally:
        conn.close()


def test_log_never_holds_keys_or_bodies(ridge: Service, data: Data) -> None:
    ridge.score([[0.123456789] * 10])
    ridge.score(rows(data), key="wrong-" + "k" * 40)
    log = ridge.log.read_text()
    assert ridge.keys is not None
    assert ridge.keys[0] not in log and ridge.keys[1] not in log
    assert "0.123456789" not in log and "k" * 40 not in log
    assert "loaded in" in log  # it does log its start
