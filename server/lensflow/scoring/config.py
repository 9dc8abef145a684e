"""The service's configuration: one JSON file (camelCase keys) named by `LENSFLOW_SERVICE_CONFIG`.

The deployer prepares a service folder with `write_keys` and `write_config`; the scoring app
reads it back with `ServiceConfig.from_env()` and the keys with `read_keys`.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from lensflow_protocol.frameworks import ModelFramework

CONFIG_ENV = "LENSFLOW_SERVICE_CONFIG"
# The protocol's names, spelled again because the app imports nothing outside
# lensflow.scoring; mypy checks each against ModelFramework, tests/unit that none is missing.
FRAMEWORKS: tuple[ModelFramework, ...] = ("ScikitLearn", "Onnx", "TensorFlow", "MLflow")
DEFAULT_MAX_BODY_BYTES = 100 << 20  # 100 MiB: a deploy's maxRequestMb default

_KEY_NAMES = ("primaryKey", "secondaryKey")


class ConfigError(Exception):
    """The service cannot start: the message says what to fix."""


# camelCase JSON key -> (attribute, expected type, required)
_FIELDS: dict[str, tuple[str, type, bool]] = {
    "serviceName": ("service_name", str, True),
    "modelName": ("model_name", str, True),
    "modelVersion": ("model_version", int, True),
    "framework": ("framework", str, True),
    "modelPath": ("model_path", str, True),
    "authEnabled": ("auth_enabled", bool, True),
    "keysFile": ("keys_file", str, False),
    "maxBodyBytes": ("max_body_bytes", int, False),
}


@dataclass(frozen=True)
class ServiceConfig:
    service_name: str
    model_name: str
    model_version: int
    framework: ModelFramework
    model_path: str
    auth_enabled: bool
    keys_file: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    @classmethod
    def from_dict(cls, data: Any, source: str = "the service config") -> ServiceConfig:
        """Validates the JSON object; every problem is a `ConfigError` naming the key."""
        if not isinstance(data, dict):
            raise ConfigError(f"{source} must be a JSON object")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"{source} has unknown keys: {', '.join(unknown)}")
        values: dict[str, Any] = {}
        for key, (attr, kind, required) in _FIELDS.items():
            if key not in data or (data[key] is None and not required):
                if required:
                    raise ConfigError(f"{source} lacks {key!r}")
                continue
            value = data[key]
            # bool is an int subclass: a `true` must not pass as a version or a size.
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise ConfigError(f"{source}: {key!r} must be a {kind.__name__}, not {value!r}")
            values[attr] = value
        if values["framework"] not in FRAMEWORKS:
            raise ConfigError(
                f"{source}: framework {values['framework']!r} is not one of {', '.join(FRAMEWORKS)}"
            )
        for key in ("modelPath", "keysFile"):
            attr = _FIELDS[key][0]
            if attr in values and not os.path.isabs(values[attr]):
                raise ConfigError(f"{source}: {key!r} must be an absolute path")
        if values["auth_enabled"] and "keys_file" not in values:
            raise ConfigError(f"{source}: authEnabled is true but there is no keysFile")
        if values.get("max_body_bytes", DEFAULT_MAX_BODY_BYTES) <= 0:
            raise ConfigError(f"{source}: maxBodyBytes must be positive")
        return cls(**values)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> ServiceConfig:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read the service config {path}: {exc.strerror}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the service config {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data, source=f"the service config {path}")

    @classmethod
    def from_env(cls) -> ServiceConfig:
        path = os.environ.get(CONFIG_ENV)
        if not path:
            raise ConfigError(f"set {CONFIG_ENV} to the path of the service's config.json")
        return cls.from_file(path)

    def as_json(self) -> dict[str, Any]:
        """The camelCase JSON object this config is read from."""
        out = {key: getattr(self, attr) for key, (attr, _, _) in _FIELDS.items()}
        return {key: value for key, value in out.items() if value is not None}


def read_keys(path: str | os.PathLike[str]) -> tuple[str, str]:
    """The (primary, secondary) keys; refuses a file that anyone but its owner may read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # a symlink could lend someone's file
    except OSError as exc:
        raise ConfigError(f"cannot open the keys file {path}: {exc.strerror}") from exc
    with os.fdopen(fd, "rb") as file:
        # fstat on the open file: no race between the check and the read.
        mode = stat.S_IMODE(os.fstat(file.fileno()).st_mode)
        if mode & 0o077:
            raise ConfigError(
                f"the keys file {path} has mode {mode:04o}: group and others may use it; "
                f"it must be readable by its owner only (chmod 600 '{path}')"
            )
        raw = file.read()
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"the keys file {path} is not valid JSON") from exc
    keys = [data.get(name) if isinstance(data, dict) else None for name in _KEY_NAMES]
    if not all(isinstance(key, str) and len(key) >= 16 for key in keys):
        raise ConfigError(
            f"the keys file {path} must hold primaryKey and secondaryKey (16+ characters each)"
        )
    return cast(str, keys[0]), cast(str, keys[1])


def write_keys(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Creates a new 0600 keys file with two 256-bit random urlsafe keys; refuses to overwrite."""
    primary, secondary = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    body = json.dumps({"primaryKey": primary, "secondaryKey": secondary}).encode()
    # O_EXCL + mode 0600 at creation: the file is never readable by others, not even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the mode is the owner's alone, whatever the umask
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    return primary, secondary


def write_config(path: str | os.PathLike[str], **fields: Any) -> ServiceConfig:
    """Validates `fields` (camelCase keys) and writes them atomically as the service's config."""
    config = ServiceConfig.from_dict(fields, source="write_config")
    target = Path(path)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(config.as_json(), indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, target)  # a reader never sees half a file
    return config
