"""On-disk state of local clusters and services: their records and folders under `<home>`.

State lives on disk, not in the server, because services outlive the editor: a restarted
server or a second window reads the same files and asks the processes for their live state.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from lensflow_protocol.deployment import (
    ClusterInfo,
    ClusterPurpose,
    ServiceInfo,
    ServiceState,
    Termination,
)
from lensflow_protocol.errors import StoreError
from pydantic import BaseModel, ConfigDict, ValidationError

from lensflow.scoring.config import CONFIG_ENV, write_config, write_keys
from lensflow.scoring.serving import SCORING_APP, uvicorn_command

from .files import damaged, read_json, runtime_dir, socket_for, write_json
from .supervisor import Program

# The file helpers stay importable from here, where deployments and tests have found them.
__all__ = [
    "SCORING_APP",
    "ClusterRecord",
    "ServiceRecord",
    "Store",
    "ping",
    "read_json",
    "runtime_dir",
    "socket_for",
    "write_json",
]

LAUNCHER = Path(__file__).with_name("supervisor.py")

_NAME = re.compile(r"^[a-z][a-z0-9-]{1,31}$")


class Record(BaseModel):
    # Unknown keys are kept out, not refused: a newer Lensflow may have written the file.
    model_config = ConfigDict(extra="ignore")


class ClusterRecord(Record):
    name: str
    vm_size: str
    node_count: int
    cluster_purpose: ClusterPurpose
    location: str | None = None
    cpu_cores: float
    memory_gb: float
    socket: str
    error: str | None = None

    def info(self, alive: bool, services: list[str]) -> ClusterInfo:
        """`services`: the names of the services on this cluster."""
        error = self.error
        if error is None and not alive:
            error = (f"The supervisord of cluster {self.name} is not running (machine restarted "
                     "or process killed): clean the cluster up and create it again.")  # fmt: skip
        return ClusterInfo(
            name=self.name, state="Failed" if error else "Succeeded", vm_size=self.vm_size,
            node_count=self.node_count, cluster_purpose=self.cluster_purpose,
            cpu_cores=self.cpu_cores, memory_gb=self.memory_gb, location=self.location,
            services=services, error=error,
        )  # fmt: skip


class ServiceRecord(Record):
    name: str
    cluster: str
    model_name: str
    model_version: int
    model_framework: str
    model_path: str
    port: int
    auth_enabled: bool
    cpu_cores: float
    memory_gb: float
    replicas: int
    max_request_mb: int = 100  # a record from before the setting: the scoring app's default
    placement: list[int]
    healthy_once: bool = False
    error: str | None = None
    script: str | None = None
    limits_enforced: bool = False  # a record from before cgroups: counted only
    limits_note: str | None = "deployed before Lensflow enforced limits"

    def info(
        self, state: ServiceState, error: str | None, last_termination: Termination | None = None
    ) -> ServiceInfo:
        base = f"http://127.0.0.1:{self.port}"
        return ServiceInfo(
            service_name=self.name, state=state, cluster_name=self.cluster,
            model_name=self.model_name, model_version=self.model_version,
            model_framework=self.model_framework, scoring_uri=f"{base}/score",
            swagger_uri=f"{base}/swagger.json", auth_enabled=self.auth_enabled,
            cpu_cores=self.cpu_cores, memory_gb=self.memory_gb, replicas=self.replicas,
            max_request_mb=self.max_request_mb, error=error, script=self.script,
            limits_enforced=self.limits_enforced,
            limits_note=None if self.limits_enforced else self.limits_note,
            last_termination=last_termination,
        )  # fmt: skip


R = TypeVar("R", bound=Record)


def ping(port: int, timeout: float = 1.0) -> bool:
    """Live state: True when the service answers GET /ping on 127.0.0.1 with 200. /ping is
    open, so no key goes with it: whoever holds a crashed service's port must not get one."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", "/ping")
        return conn.getresponse().status == 200
    except (OSError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class Store:
    """Folders and records under `<home>`: clusters/<name>/ and services/<name>/."""

    def __init__(self, home: Path) -> None:
        # Resolved: paths derived from it identify processes, so every reader must agree on them.
        self.home = home.resolve()
        self.clusters = self.home / "clusters"
        self.services = self.home / "services"

    @staticmethod
    def valid(name: str) -> bool:
        # Names become folder and program names: refuse anything that could escape the folder.
        return bool(_NAME.match(name))

    def cluster_dir(self, name: str) -> Path:
        return self.clusters / name

    def service_dir(self, name: str) -> Path:
        return self.services / name

    @contextlib.contextmanager
    def lock(self, wait: bool = True) -> Iterator[bool]:
        """Serialises changes across threads and processes sharing this home (flock). With
        `wait` false it yields False at once, holding nothing, when someone else holds it."""
        self.home.mkdir(parents=True, exist_ok=True)
        with open(self.home / "deployments.lock", "a+b") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                yield False
                return
            try:
                yield True
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _load(self, path: Path, kind: type[R]) -> R | None:
        data = read_json(path)
        if data is None:
            return None
        try:
            return kind.model_validate(data)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise damaged(path, f"{where}: {first['msg']}") from exc

    def cluster(self, name: str) -> ClusterRecord | None:
        if not self.valid(name):
            return None
        return self._load(self.cluster_dir(name) / "cluster.json", ClusterRecord)

    def service(self, name: str) -> ServiceRecord | None:
        if not self.valid(name):
            return None
        return self._load(self.service_dir(name) / "service.json", ServiceRecord)

    def save(self, record: ClusterRecord | ServiceRecord) -> None:
        if isinstance(record, ClusterRecord):
            path = self.cluster_dir(record.name) / "cluster.json"
        else:
            path = self.service_dir(record.name) / "service.json"
        write_json(path, record.model_dump(mode="json"))

    def prepare_service(self, record: ServiceRecord, source: Path) -> None:
        """The service's folder: its own copy of the model, keys, the scoring app's config.
        The record itself is saved once the program runs: readers never see a half service,
        and a folder without one, seen under the lock, is an interrupted deploy's leftover."""
        folder = self.service_dir(record.name)
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)  # its keys, model and log are the owner's alone, whatever the umask
        target = Path(record.model_path)
        target.parent.mkdir(parents=True)
        # The service loads only from Lensflow's own copy: the registry's file may move or go.
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copy2(source, target)
        write_keys(folder / "keys.json")
        write_config(
            folder / "config.json", serviceName=record.name, modelName=record.model_name,
            modelVersion=record.model_version, framework=record.model_framework,
            modelPath=str(target), authEnabled=record.auth_enabled,
            keysFile=str(folder / "keys.json"), maxBodyBytes=record.max_request_mb << 20,
        )  # fmt: skip

    def marker(self, name: str) -> str:
        """The environment entry every process of the service carries: how strays are found."""
        return f"{CONFIG_ENV}={self.service_dir(name) / 'config.json'}"

    def program(self, record: ServiceRecord, python: str) -> Program:
        """The service as a supervisord program: uvicorn behind the launcher that reaps strays."""
        folder = self.service_dir(record.name)
        uvicorn = uvicorn_command(python, record.port, record.replicas)
        launcher = [
            python, str(LAUNCHER), "--reap-env", self.marker(record.name),
            "--back-off", str(folder), "--",
        ]  # fmt: skip
        # supervisord restarts the launcher at once, forever; the launcher waits the crash
        # loop's back-off (lensflow.crashloop). supervisord's own startsecs, linear back-off and
        # FATAL are left to a launcher that cannot run at all: only a first restart, with no
        # back-off, can end within 1 s, and the next one waits 1 s before it runs.
        return Program(
            name=record.name, command=[*launcher, *uvicorn], directory=folder,
            log_file=folder / "service.log", startsecs=1, startretries=3,
            environment={CONFIG_ENV: str(folder / "config.json"), "PYTHONUNBUFFERED": "1"},
        )  # fmt: skip

    def keys(self, name: str) -> dict[str, str]:
        path = self.service_dir(name) / "keys.json"
        data = read_json(path)
        if not isinstance(data, dict) or not {"primaryKey", "secondaryKey"} <= data.keys():
            raise StoreError(
                f"The keys file {path} is missing or damaged: clean the service {name} up "
                "(lensflow.cleanUp) and deploy it again.",
                path=str(path),
            )
        return {"primaryKey": data["primaryKey"], "secondaryKey": data["secondaryKey"]}

    def cluster_names(self) -> list[str]:
        return self._names(self.clusters)

    def service_names(self) -> list[str]:
        return self._names(self.services)

    @staticmethod
    def _names(folder: Path) -> list[str]:
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and _NAME.match(p.name))

    def program_conf(self, cluster: str, service: str) -> Path:
        """The service's program in its cluster's supervisord: outlives a damaged record."""
        return self.cluster_dir(cluster) / "programs" / f"{service}.conf"

    @staticmethod
    def remove(folder: Path) -> None:
        shutil.rmtree(folder, ignore_errors=True)
