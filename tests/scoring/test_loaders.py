"""A file or folder that is not the framework's model format fails with one clear line."""

from __future__ import annotations

import re
from pathlib import Path

import joblib
import pytest
from lensflow.scoring.loaders import LoadError, load_model

from .conftest import Data

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1\noid sha256:0123\nsize 9\n"


def refusal(framework: str, path: Path) -> str:
    with pytest.raises(LoadError) as refused:
        load_model(framework, str(path))
    message = str(refused.value)
    assert "\n" not in message  # the service logs it as one line
    return message


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"a,b,c\n1,2,3\n", "it starts with b'a,b,c\\n1,2,3\\n'"),  # pickle: "pop from empty list"
        (b"hello world", "it starts with b'hello world'"),  # pickle: "Memo value not found"
        (b"cat,dog\n", "it starts with b'cat,dog\\n'"),  # pickle: No module named 'at,dog'
        (LFS_POINTER, "it starts with b'version https://git-lfs."),
        (b"", "it is empty"),
    ],
)
def test_sklearn_refuses_a_file_that_is_not_a_pickle(
    tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "model.pkl"
    path.write_bytes(content)
    message = refusal("ScikitLearn", path)
    assert message.startswith(f"the ScikitLearn model {path} is not a joblib/pickle file: ")
    assert says in message


def test_sklearn_refuses_a_truncated_pickle_and_a_folder(tmp_path: Path, data: Data) -> None:
    path = tmp_path / "cut.pkl"
    path.write_bytes(data.ridge_pkl.read_bytes()[:60])
    assert f"{path} is a truncated or damaged joblib/pickle file" in refusal("ScikitLearn", path)
    (tmp_path / "folder").mkdir()
    assert refusal("ScikitLearn", tmp_path / "folder") == (
        f"the ScikitLearn model {tmp_path / 'folder'} is a folder, not a joblib/pickle file"
    )


@pytest.mark.parametrize("compress", [0, 3, "gzip", "bz2", "xz", "lzma"])
def test_sklearn_loads_every_joblib_format_and_knows_it_cut(
    tmp_path: Path, data: Data, compress: object
) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump(data.ridge, path, compress=compress)
    model = load_model("ScikitLearn", str(path))
    assert model.predict(data.x_test[:2]) == data.ridge.predict(data.x_test[:2]).tolist()
    path.write_bytes(path.read_bytes()[:40])  # a pickle or joblib file all the same, but cut
    assert f"{path} is a truncated or damaged joblib/pickle file" in refusal("ScikitLearn", path)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"a,b,c\n1,2,3\n", "it starts with b'a,b,c"),  # onnxruntime: INVALID_PROTOBUF
        (b"\x08\x07", "it starts with b'\\x08\\x07'"),  # a protobuf, but no graph
        (LFS_POINTER, "it starts with b'version https://git-lfs."),
        (b"", "it is empty"),
    ],
)
def test_onnx_refuses_a_file_that_is_not_onnx(tmp_path: Path, content: bytes, says: str) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    message = refusal("Onnx", path)
    assert message.startswith(f"the Onnx model {path} is not an ONNX file: ")
    assert says in message


def test_onnx_refuses_a_folder(tmp_path: Path) -> None:
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    assert refusal("Onnx", tmp_path) == (
        f"the Onnx model {tmp_path} is a folder, not an .onnx file "
        "(it is an MLflow model: use framework MLflow)"
    )


def test_tensorflow_refuses_what_is_not_a_saved_model(tmp_path: Path) -> None:
    assert refusal("TensorFlow", tmp_path) == (
        f"the TensorFlow model {tmp_path} is not a SavedModel folder: it has no saved_model.pb"
    )
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    assert refusal("TensorFlow", tmp_path).endswith(
        "it has no saved_model.pb (it is an MLflow model: use framework MLflow)"
    )
    (tmp_path / "model.pb").write_bytes(b"x")
    assert refusal("TensorFlow", tmp_path / "model.pb") == (
        f"the TensorFlow model {tmp_path / 'model.pb'} is a file, not a SavedModel folder"
    )


def test_mlflow_refuses_what_is_not_an_mlflow_model(tmp_path: Path) -> None:
    assert refusal("MLflow", tmp_path) == (
        f"the MLflow model {tmp_path} is not an MLflow model folder: it has no MLmodel file"
    )
    (tmp_path / "saved_model.pb").write_bytes(b"x")
    assert refusal("MLflow", tmp_path).endswith(
        "(it is a TensorFlow SavedModel: use framework TensorFlow)"
    )
    (tmp_path / "MLmodel").write_text("flavors: {}\n")
    assert re.fullmatch(
        f"the MLflow model {re.escape(str(tmp_path / 'MLmodel'))} is a file, not an MLflow "
        "model folder: set modelPath to the folder that holds it",
        refusal("MLflow", tmp_path / "MLmodel"),
    )
