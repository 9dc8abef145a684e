"""The service folder the deployer prepares (keys, config), and refusing to start on a bad one."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from lensflow.scoring.config import (
    CONFIG_ENV,
    DEFAULT_MAX_BODY_BYTES,
    ConfigError,
    ServiceConfig,
    read_keys,
    write_config,
    write_keys,
)

from .conftest import Data, free_port, launch, prepare


def fields(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict(
        serviceName="svc", modelName="m", modelVersion=1, framework="ScikitLearn",
        modelPath=str(tmp_path / "model.pkl"), authEnabled=True,
        keysFile=str(tmp_path / "keys.json"),
    )  # fmt: skip
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_write_keys_makes_a_0600_file_with_two_random_keys(tmp_path: Path) -> None:
    primary, secondary = write_keys(tmp_path / "keys.json")
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    assert primary != secondary and len(primary) == len(secondary) == 43  # 32 bytes, base64url
    assert read_keys(tmp_path / "keys.json") == (primary, secondary)
    assert json.loads((tmp_path / "keys.json").read_text()) == {
        "primaryKey": primary,
        "secondaryKey": secondary,
    }
    with pytest.raises(FileExistsError):  # never overwrites keys clients already hold
        write_keys(tmp_path / "keys.json")


def test_write_keys_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        write_keys(tmp_path / "keys.json")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_read_keys_refuses_a_file_others_can_read(tmp_path: Path, mode: int) -> None:
    write_keys(tmp_path / "keys.json")
    os.chmod(tmp_path / "keys.json", mode)
    with pytest.raises(ConfigError, match=f"mode {mode:04o}.*chmod 600"):
        read_keys(tmp_path / "keys.json")


def test_read_keys_refuses_a_damaged_file(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'{"primaryKey": "short"}')
    os.close(fd)
    with pytest.raises(ConfigError, match="primaryKey and secondaryKey"):
        read_keys(path)
    with pytest.raises(ConfigError, match="cannot open"):
        read_keys(tmp_path / "missing.json")


def test_write_config_round_trips(tmp_path: Path) -> None:
    written = write_config(tmp_path / "config.json", **fields(tmp_path, maxBodyBytes=2048))
    read = ServiceConfig.from_file(tmp_path / "config.json")
    assert read == written
    assert (read.framework, read.model_version, read.max_body_bytes) == ("ScikitLearn", 1, 2048)
    default = write_config(
        tmp_path / "c2.json", **fields(tmp_path, authEnabled=False, keysFile=None)
    )
    assert default.max_body_bytes == DEFAULT_MAX_BODY_BYTES and default.keys_file is None


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"framework": "PyTorch"}, "not one of"),
        ({"modelVersion": "1"}, "'modelVersion' must be a int"),
        ({"modelVersion": True}, "'modelVersion' must be a int"),
        ({"authEnabled": "yes"}, "'authEnabled' must be a bool"),
        ({"modelPath": "relative/model.pkl"}, "absolute path"),
        ({"keysFile": None}, "no keysFile"),
        ({"maxBodyBytes": 0}, "positive"),
        ({"modelName": None}, "lacks 'modelName'"),
        ({"colour": "blue"}, "unknown keys: colour"),
    ],
)
def test_write_config_refuses_bad_fields(
    tmp_path: Path, changes: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=says):
        write_config(tmp_path / "config.json", **fields(tmp_path, **changes))
    assert not (tmp_path / "config.json").exists()


def test_from_env_needs_the_variable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    with pytest.raises(ConfigError, match=CONFIG_ENV):
        ServiceConfig.from_env()
    (tmp_path / "bad.json").write_text("{nope")
    monkeypatch.setenv(CONFIG_ENV, str(tmp_path / "bad.json"))
    with pytest.raises(ConfigError, match="not valid JSON"):
        ServiceConfig.from_env()


def fails_to_start(config: Path, log: Path) -> str:
    proc = launch(config, free_port(), log)
    try:
        assert proc.wait(60) != 0
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    return log.read_text()


def test_service_refuses_to_start_with_a_readable_keys_file(tmp_path: Path, data: Data) -> None:
    config, _ = prepare(tmp_path / "svc", "ScikitLearn", data.ridge_pkl)
    os.chmod(tmp_path / "svc" / "keys.json", 0o644)
    out = fails_to_start(config, tmp_path / "log")
    assert "cannot start" in out and "mode 0644" in out and "chmod 600" in out
    assert "Traceback" not in out  # one clear line, not a stack


def test_service_refuses_to_start_without_its_model(tmp_path: Path, data: Data) -> None:
    config, _ = prepare(tmp_path / "svc", "Onnx", tmp_path / "gone.onnx", auth=False)
    out = fails_to_start(config, tmp_path / "log")
    assert "cannot start" in out and "gone.onnx does not exist" in out
    # A CSV where the model should be: the unpickler itself only says "pop from empty list".
    (tmp_path / "not-a-model.pkl").write_bytes(b"a,b,c\n1,2,3\n")
    config, _ = prepare(tmp_path / "svc2", "ScikitLearn", tmp_path / "not-a-model.pkl", auth=False)
    out = fails_to_start(config, tmp_path / "log2")
    assert (
        f"the ScikitLearn model {tmp_path / 'not-a-model.pkl'} is not a joblib/pickle file" in out
    )
    assert "pop from empty list" not in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1  # one clear line


LEAN = """
import json, sys
from lensflow.scoring.app import create_app
from lensflow.scoring.config import ServiceConfig
create_app(ServiceConfig("s", "m", 1, "ScikitLearn", sys.argv[1], auth_enabled=False))
print(json.dumps(sorted(sys.modules)))
"""


def test_the_app_imports_nothing_else_of_lensflow_nor_other_frameworks(data: Data) -> None:
    out = subprocess.run(
        [sys.executable, "-c", LEAN, str(data.ridge_pkl)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    modules = set(json.loads(out.stdout))
    ours = {m for m in modules if m == "lensflow" or m.startswith("lensflow.")}
    assert all(m == "lensflow" or m.startswith("lensflow.scoring") for m in ours), ours
    for other in ("lensflow_protocol", "pydantic", "pygls", "mlflow", "onnxruntime", "tensorflow",
                  "fastapi", "starlette", "flask"):  # fmt: skip
        assert other not in modules, other
