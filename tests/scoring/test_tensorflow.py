"""A TensorFlow service: a SavedModel's `serving_default` signature computing x @ w + b."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openapi_spec_validator import validate

from .conftest import Service

# Built in a child process: TensorFlow (and its threads) stay out of the test process.
BUILD = """
import sys
import numpy as np
import tensorflow as tf

w, b, out = np.load(sys.argv[1]), np.load(sys.argv[2]), sys.argv[3]

class Linear(tf.Module):
    def __init__(self):
        super().__init__()
        self.w = tf.Variable(w)
        self.b = tf.Variable(b)

    @tf.function(input_signature=[tf.TensorSpec([None, 10], tf.float32, name="x")])
    def serve(self, x):
        return {"y": tf.matmul(x, self.w) + self.b}

model = Linear()
tf.saved_model.save(model, out, signatures={"serving_default": model.serve})
"""


@pytest.fixture(scope="module")
def weights() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(size=(10, 1)).astype(np.float32), np.array([0.5], dtype=np.float32)


@pytest.fixture(scope="module")
def service(
    start_services: Any, weights: tuple[np.ndarray, np.ndarray], tmp_path_factory: Any
) -> Service:
    folder: Path = tmp_path_factory.mktemp("tf")
    np.save(folder / "w.npy", weights[0])
    np.save(folder / "b.npy", weights[1])
    saved = folder / "saved_model"
    subprocess.run(
        [sys.executable, "-c", BUILD, str(folder / "w.npy"), str(folder / "b.npy"), str(saved)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return start_services(linear=("TensorFlow", saved, {}))["linear"]  # type: ignore[no-any-return]


def test_tensorflow_output_is_x_at_w_plus_b(
    service: Service, weights: tuple[np.ndarray, np.ndarray]
) -> None:
    x = np.random.default_rng(1).normal(size=(5, 10))
    reply = service.score(x.tolist())
    assert reply.status == 200, reply.body
    expected = (x.astype(np.float32) @ weights[0] + weights[1])[:, 0]
    np.testing.assert_allclose(reply.json(), expected, rtol=1e-6)
    invocations = service.request("POST", "/invocations", {"instances": x.tolist()})
    np.testing.assert_allclose(invocations.json()["predictions"], expected, rtol=1e-6)


def test_tensorflow_signature_gives_the_width(service: Service) -> None:
    spec = service.request("GET", "/swagger.json").json()
    validate(spec)
    row = spec["definitions"]["ScoreRequest"]["properties"]["data"]["items"]
    assert row["minItems"] == row["maxItems"] == 10
    version = service.request("GET", "/version").json()
    assert version["framework"] == "TensorFlow" and "tensorflow" in version["runtime"]
    assert service.score([[1.0] * 9]).json() == {"error": "expected 10 features per row, got 9"}
    proba = service.score([[1.0] * 10], method="predict_proba")
    assert proba.status == 422 and "no predict_proba" in proba.json()["error"]
    assert service.score([[1.0] * 10], key=None).status == 401
