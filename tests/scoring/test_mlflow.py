"""An MLflow service: a pyfunc model folder, with a tensor signature and with named columns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openapi_spec_validator import validate
from sklearn.datasets import load_diabetes
from sklearn.linear_model import Ridge

from .conftest import Data, Service


@pytest.fixture(scope="module")
def frame_ridge() -> tuple[Ridge, Any]:
    """The seed's Ridge fitted on a DataFrame: its MLflow signature names the 10 columns."""
    frame = load_diabetes(as_frame=True).frame.drop(columns="target")
    target = load_diabetes().target
    return Ridge(alpha=0.03).fit(frame, target), frame


@pytest.fixture(scope="module")
def services(
    start_services: Any, data: Data, frame_ridge: tuple[Ridge, Any], tmp_path_factory: Any
) -> dict[str, Service]:
    import mlflow.sklearn
    from mlflow.models import infer_signature

    folder: Path = tmp_path_factory.mktemp("mlflow")
    tensor = folder / "tensor"
    signature = infer_signature(data.x_test, data.ridge.predict(data.x_test))
    mlflow.sklearn.save_model(data.ridge, str(tensor), signature=signature)
    model, frame = frame_ridge
    named = folder / "named"
    mlflow.sklearn.save_model(model, str(named), signature=infer_signature(frame[:5]))
    return start_services(  # type: ignore[no-any-return]
        tensor=("MLflow", tensor, {}), named=("MLflow", named, {"auth": False})
    )


def test_mlflow_pyfunc_scores_like_the_model(services: dict[str, Service], data: Data) -> None:
    service, x = services["tensor"], data.x_test[:2]
    reply = service.score(x.tolist())
    assert reply.status == 200, reply.body
    np.testing.assert_allclose(reply.json(), data.ridge.predict(x), rtol=1e-12)
    split = service.request("POST", "/invocations", {"dataframe_split": {"data": x.tolist()}})
    np.testing.assert_allclose(split.json()["predictions"], data.ridge.predict(x), rtol=1e-12)
    assert service.score([[1.0] * 9]).status == 422
    assert service.score(x.tolist(), key=None).status == 401
    version = service.request("GET", "/version").json()
    assert version["framework"] == "MLflow" and "mlflow" in version["runtime"]
    validate(service.request("GET", "/swagger.json").json())


def test_mlflow_named_columns_are_put_in_order(
    services: dict[str, Service], frame_ridge: tuple[Ridge, Any]
) -> None:
    service, (model, frame) = services["named"], frame_ridge
    expected = model.predict(frame[:3]).tolist()
    assert service.score(frame[:3].to_numpy().tolist()).json() == pytest.approx(expected)
    reverse = list(frame.columns)[::-1]
    body = {"dataframe_split": {"columns": reverse, "data": frame[reverse][:3].to_numpy().tolist()}}
    reply = service.request("POST", "/invocations", body)
    assert reply.status == 200, reply.body
    assert reply.json()["predictions"] == pytest.approx(expected)
    records = frame[reverse][:3].to_dict(orient="records")
    by_record = service.request("POST", "/invocations", {"dataframe_records": records})
    assert by_record.json()["predictions"] == pytest.approx(expected)
    short = {"dataframe_split": {"columns": reverse[1:], "data": [[1.0] * 9]}}
    missing = service.request("POST", "/invocations", short)
    assert missing.status == 422 and "missing columns" in missing.json()["error"]
    # The regressor has no predict_proba: a 4xx, even through MLflow.
    assert service.score([[0.0] * 10], method="predict_proba").status == 422
