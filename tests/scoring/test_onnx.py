"""An Onnx service is its own framework: onnxruntime on float32 input, close to sklearn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openapi_spec_validator import validate
from skl2onnx import to_onnx

from .conftest import Data, Service


def convert(model: Any, x: np.ndarray, path: Path, **options: Any) -> Path:
    onnx_model = to_onnx(model, x[:1].astype(np.float32), target_opset=17, **options)
    path.write_bytes(onnx_model.SerializeToString())
    return path


@pytest.fixture(scope="module")
def services(start_services: Any, data: Data) -> dict[str, Service]:
    ridge = convert(data.ridge, data.x_test, data.folder / "model.onnx")
    # skl2onnx's default ZipMap output: probabilities as one {class: p} map per row.
    classifier = convert(data.classifier, data.iris_x, data.folder / "classifier.onnx")
    raw = convert(
        data.classifier,
        data.iris_x,
        data.folder / "classifier-nozipmap.onnx",
        options={id(data.classifier): {"zipmap": False}},
    )
    return start_services(  # type: ignore[no-any-return]
        ridge=("Onnx", ridge, {}),
        classifier=("Onnx", classifier, {"auth": False}),
        nozipmap=("Onnx", raw, {"auth": False}),
    )


def test_onnx_ridge_is_close_to_sklearn(services: dict[str, Service], data: Data) -> None:
    ridge = services["ridge"]
    reply = ridge.score(data.x_test[:2].tolist())
    assert reply.status == 200, reply.body
    np.testing.assert_allclose(reply.json(), data.ridge.predict(data.x_test[:2]), rtol=1e-4)
    assert reply.json() == pytest.approx([235.11, 246.80], abs=0.01)
    everything = ridge.request("POST", "/invocations", {"inputs": data.x_test.tolist()})
    np.testing.assert_allclose(
        everything.json()["predictions"], data.ridge.predict(data.x_test), rtol=1e-4
    )


def test_onnx_is_its_own_framework(services: dict[str, Service]) -> None:
    version = services["ridge"].request("GET", "/version").json()
    assert version["framework"] == "Onnx"
    assert "onnxruntime" in version["runtime"] and "scikit-learn" not in version["runtime"]
    spec = services["ridge"].request("GET", "/swagger.json").json()
    validate(spec)
    row = spec["definitions"]["ScoreRequest"]["properties"]["data"]["items"]
    assert row["minItems"] == row["maxItems"] == 10


def test_onnx_width_auth_and_methods(services: dict[str, Service], data: Data) -> None:
    ridge = services["ridge"]
    assert ridge.score([[1.0] * 9]).json() == {"error": "expected 10 features per row, got 9"}
    assert ridge.score(data.x_test[:2].tolist(), key=None).status == 401
    assert ridge.score(data.x_test[:2].tolist(), key="secondary").status == 200
    proba = ridge.score(data.x_test[:2].tolist(), method="predict_proba")
    assert proba.status == 422 and "no predict_proba" in proba.json()["error"]


@pytest.mark.parametrize("name", ["classifier", "nozipmap"])
def test_onnx_classifier_predict_proba(services: dict[str, Service], data: Data, name: str) -> None:
    service, x = services[name], data.iris_x[::30]
    labels = service.score(x.tolist())
    assert labels.json() == data.classifier.predict(x).tolist()
    proba = service.score(x.tolist(), method="predict_proba")
    assert proba.status == 200, proba.body
    np.testing.assert_allclose(proba.json(), data.classifier.predict_proba(x), atol=1e-5)


def test_onnx_output_overflow_is_a_422(services: dict[str, Service]) -> None:
    """1e308 is finite in float64 but not in the model's float32: the output is not finite."""
    for reply in (
        services["ridge"].score([[1e308] * 10]),
        services["nozipmap"].score([[1e308] * 4], method="predict_proba"),
    ):
        assert reply.status == 422, reply.body
        assert "output is not finite" in reply.json()["error"]
