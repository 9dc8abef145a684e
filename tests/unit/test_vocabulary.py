"""One vocabulary: framework names and tag names are spelled once, and every copy agrees.

The scoring app and run_bootstrap.py import nothing of the server by design, so they spell
names again; these tests are what keeps those copies equal to the source.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

from lensflow import frameworks
from lensflow.scoring import config
from lensflow.scoring.loaders import LOADERS
from lensflow.workspaces.azureml import convert, sdk
from lensflow.workspaces.tracking import tags
from lensflow_protocol.frameworks import FRAMEWORKS, ModelFramework
from lensflow_protocol.schema import build_schema


def test_the_protocol_names_each_framework_once_in_the_schema() -> None:
    assert FRAMEWORKS == get_args(ModelFramework) == ("ScikitLearn", "Onnx", "TensorFlow", "MLflow")
    register = build_schema()["$defs"]["RegisterModelArgs"]["properties"]["modelFramework"]
    assert [e for option in register["anyOf"] for e in option.get("enum", [])] == list(FRAMEWORKS)


def test_the_scoring_app_serves_exactly_the_protocols_frameworks() -> None:
    assert config.FRAMEWORKS == FRAMEWORKS
    assert set(LOADERS) == set(FRAMEWORKS)


def test_every_framework_has_its_facts() -> None:
    assert set(frameworks.FACTS) == set(FRAMEWORKS)
    assert all(name == facts.name for name, facts in frameworks.FACTS.items())


def test_a_models_files_tell_its_framework() -> None:
    assert frameworks.of_file("outputs/model.PKL") == "ScikitLearn"
    assert frameworks.of_file("m.joblib") == frameworks.of_file("m.pickle") == "ScikitLearn"
    assert frameworks.of_file("m.onnx") == "Onnx"
    assert frameworks.of_file("m.h5") is None
    assert frameworks.of_folder({"saved_model.pb", "variables"}) == "TensorFlow"
    # An MLflow model folder may hold another framework's files: its MLmodel decides.
    assert frameworks.of_folder({"MLmodel", "saved_model.pb"}) == "MLflow"
    assert frameworks.of_folder({"model.pkl"}) is None


def test_azure_names_and_messages() -> None:
    assert sdk._FRAMEWORKS == {
        "ScikitLearn": "SCIKITLEARN",
        "TensorFlow": "TENSORFLOW",
        "Onnx": "ONNX",
    }
    assert {"ScikitLearn", "TensorFlow", "Onnx", "Multi"} == convert.NO_CODE_FRAMEWORKS
    modules = {"ScikitLearn": "sklearn", "TensorFlow": "tensorflow", "Onnx": "onnx"}
    assert modules == frameworks.VERSION_MODULES
    assert frameworks.spoken(tuple(frameworks.AZURE_NAMES)) == "ScikitLearn, TensorFlow or Onnx"
    assert frameworks.spoken(FRAMEWORKS) == "ScikitLearn, Onnx, TensorFlow or MLflow"
    assert frameworks.spoken(("A",), "and") == "A"


def test_run_bootstraps_tag_literals_are_the_tags_modules() -> None:
    bootstrap = Path(tags.__file__).with_name("run_bootstrap.py")
    tree = ast.parse(bootstrap.read_text(encoding="utf-8"))
    spelled = {
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith(("lensflow.", "mlflow."))
    }
    assert spelled == {
        tags.PROCESS_TAG,
        tags.SCRIPT_TAG,
        tags.SOURCE_NAME_TAG,
        tags.SOURCE_TYPE_TAG,
        tags.EXPERIMENT_KIND_TAG,
    }
