"""MLflow's shapes ↔ Lensflow's: the flavor a framework is served as, the scoring request for
what `predict` is given, and a service as the dict MLflow's CLI prints.
"""

from __future__ import annotations

from typing import Any

from lensflow_protocol.deployment import ServiceInfo

from lensflow.workspaces.local.deployments import ModelArtifact

from .errors import invalid

# The MLflow flavor each framework is served as (what `flavor` reports, and may name).
FLAVORS = {"ScikitLearn": "sklearn", "Onnx": "onnx", "TensorFlow": "tensorflow",
           "MLflow": "python_function"}  # fmt: skip
MLFLOW_FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


def described(info: ServiceInfo) -> dict[str, Any]:
    flavor = FLAVORS.get(info.model_framework, info.model_framework)
    return {"name": info.service_name, "flavor": flavor, **info.model_dump(exclude_none=True)}


def check_flavor(flavor: str | None, model: ModelArtifact) -> None:
    if flavor is None:
        return
    served = {model.framework.lower(), FLAVORS.get(model.framework, "")}
    if model.framework == "MLflow":  # any flavor the model folder has: it is loaded as pyfunc
        from mlflow.models import Model

        served |= set(Model.load(str(model.path)).flavors)
    if flavor not in served:
        raise invalid(f"{model.name} is a {model.framework} model: the lensflow target serves it "
                      f"as flavor {FLAVORS.get(model.framework)}, not {flavor}.")  # fmt: skip


def scoring_request(inputs: Any) -> dict[str, Any]:
    """A body of the scoring app's MLflow route (/invocations) for what `predict` was given."""
    import pandas as pd  # type: ignore[import-untyped]

    if isinstance(inputs, dict) and sum(key in inputs for key in MLFLOW_FORMATS) == 1:
        return inputs  # already a scoring request
    if isinstance(inputs, dict):  # {column: values}, as pyfunc's predict reads a dict
        try:
            inputs = pd.DataFrame(inputs)
        except ValueError as exc:  # scalars, or columns of unequal lengths
            raise invalid(f"predict's dict must map columns to lists of values: {exc}") from exc
    if isinstance(inputs, pd.DataFrame):
        split = inputs.to_dict(orient="split")
        frame = {"data": split["data"]}
        # Named columns are matched to the model's; `pd.read_json` of a list of rows gives
        # 0, 1, 2…, which name nothing.
        if all(isinstance(column, str) for column in split["columns"]):
            frame["columns"] = split["columns"]
        return {"dataframe_split": frame}
    if hasattr(inputs, "tolist"):  # a numpy array
        inputs = inputs.tolist()
    if isinstance(inputs, list):
        return {"inputs": inputs}
    raise invalid(f"predict takes a pandas DataFrame, a dict or a list, not {type(inputs)}.")
