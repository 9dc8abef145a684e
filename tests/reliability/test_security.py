"""Security: loopback-only services, 256-bit keys compared in constant time, private key files,
artifact paths and model sources that cannot leave the run, no shell anywhere, and no key or
secret in any log, notification or error.

One workflow runs once for the module, over stdio, under watch: the server's stderr (DEBUG) is
kept, an audit hook (audit_hook.py as sitecustomize) records every process start in every Python
process it leads to, and http_proxy points at a listener that must never be called.
Already covered: registerModel with `../outside.pkl`, `/etc/passwd`, `a/../../b`, `..`, `.`
→ invalidPath (tests/e2e/test_bad_input.py::test_domain_errors).
"""

from __future__ import annotations

import ast
import asyncio
import base64
import hashlib
import hmac
import json
import os
import secrets
import shutil
import socket
import stat
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import pytest
from lensflow.scoring.app import create_app
from lensflow.scoring.config import write_config, write_keys
from lensflow.workspaces.local.state import runtime_dir
from pygls.exceptions import JsonRpcException
from pytest_lsp import LanguageClient
from sklearn.linear_model import Ridge

from tests.conftest import REPO, SAMPLE, execute
from tests.e2e.test_deploy import http, seed_split

from .support import close, data, listening, new_server, port_of

SECRET = "lensflow-test-secret-" + secrets.token_hex(16)
HERE = Path(__file__).resolve().parent

USES_SECRET = """\
import hashlib, os, mlflow
token = os.environ["API_TOKEN"]
mlflow.log_param("token_sha256", hashlib.sha256(token.encode()).hexdigest()[:12])
print("calling the upstream with a token of", len(token), "characters", flush=True)
raise RuntimeError("the upstream refused the request")
"""

PLANTS_LINKS = """\
import os, shutil, mlflow
outside = os.environ["OUTSIDE"]
shutil.copy(os.path.join(outside, "evil.pkl"), "model.pkl")
mlflow.log_artifact("model.pkl")
mlflow.log_artifact("model.pkl", "folder")
root = mlflow.get_artifact_uri().removeprefix("file://")
os.symlink(os.path.join(outside, "evil.pkl"), os.path.join(root, "link.pkl"))
os.symlink(outside, os.path.join(root, "linked-dir"))
os.symlink(os.path.join(outside, "evil.pkl"), os.path.join(root, "folder", "inner.pkl"))
print("planted links", flush=True)
"""

SERVER_TO_FILE = (
    "import os, runpy, sys; "
    "fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600); "
    "os.dup2(fd, 2); sys.argv = ['lensflow', '--log-level', 'DEBUG']; "
    "runpy.run_module('lensflow', run_name='__main__', alter_sys=True)"
)
"""The server, with its stderr (and its children's) going to a file the test reads."""


class Listener:
    """A TCP listener on 127.0.0.1 that keeps whatever anyone sends it: the fake proxy."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                try:
                    while chunk := conn.recv(65536):
                        self.received += chunk
                except OSError:
                    pass

    def close(self) -> None:
        self.sock.close()


@dataclass
class Workflow:
    project: Path
    home: Path
    outside: Path
    stderr: Path
    audit: Path
    proxy: Listener
    results: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, JsonRpcException] = field(default_factory=dict)
    keys: dict[str, dict[str, str]] = field(default_factory=dict)
    seen: list[Any] = field(default_factory=list)  # notifications, progress, messages


async def expect_error(flow: Workflow, name: str, client: LanguageClient, *call: Any) -> None:
    try:
        flow.results[name] = await execute(client, *call)
    except JsonRpcException as exc:
        flow.errors[name] = exc


async def run_workflow(flow: Workflow) -> None:
    site = flow.audit.parent / "site"
    site.mkdir()
    shutil.copy(HERE / "audit_hook.py", site / "sitecustomize.py")
    proxy = f"http://127.0.0.1:{flow.proxy.port}"
    env = {
        "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
        "LENSFLOW_AUDIT_LOG": str(flow.audit),
        "http_proxy": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "HTTPS_PROXY": proxy,
        "no_proxy": "", "NO_PROXY": "",
    }  # fmt: skip
    command = [sys.executable, "-c", SERVER_TO_FILE, str(flow.stderr)]
    client = await new_server(flow.project, command=command, env=env)
    secret_env = {"API_TOKEN": SECRET}
    try:
        train = await execute(
            client, "lensflow.trackRun", {"script": "train.py", "env": secret_env}
        )
        flow.results["train"] = train
        flow.results["usesSecret"] = await execute(
            client, "lensflow.trackRun", {"script": "uses_secret.py", "env": secret_env}
        )
        await expect_error(
            flow, "missingScript", client, "lensflow.trackRun",
            {"script": "nowhere.py", "env": secret_env},
        )  # fmt: skip
        await execute(
            client, "lensflow.registerModel",
            {"runId": train["runId"], "modelName": "diabetes_model", "modelPath": "model.pkl"},
        )  # fmt: skip

        # MLflow itself will not list a folder that leads out of the run: the run ends FAILED
        # and its trackRun answers a storeError naming it.
        await expect_error(
            flow, "plant", client, "lensflow.trackRun",
            {"script": "plant.py", "env": {"OUTSIDE": str(flow.outside)}},
        )  # fmt: skip
        plant = {"runId": data(flow.errors["plant"])["runId"]}
        for name, path, framework in (
            ("linkFile", "link.pkl", None),
            ("linkDir", "linked-dir", "TensorFlow"),
            ("linkInside", "folder", "MLflow"),
        ):
            args = {"runId": plant["runId"], "modelName": "planted", "modelPath": path}
            if framework:
                args["modelFramework"] = framework
            await expect_error(flow, name, client, "lensflow.registerModel", args)
        await execute(
            client, "lensflow.registerModel",
            {"runId": plant["runId"], "modelName": "tampered", "modelPath": "model.pkl"},
        )  # fmt: skip
        forge_versions(flow, train["runId"], plant["runId"])

        await execute(client, "lensflow.createCluster", {"name": "aks-dev"})
        for name, model in (("rogue", "rogue"), ("orphan", "orphan"), ("tampered", "tampered")):
            await expect_error(
                flow, f"deploy-{name}", client, "lensflow.deploy",
                {"serviceName": f"svc-{name}", "modelName": model, "clusterName": "aks-dev"},
            )  # fmt: skip
        for service in ("svc-a", "svc-b"):
            info = await execute(
                client, "lensflow.deploy",
                {"serviceName": service, "modelName": "diabetes_model", "clusterName": "aks-dev"},
            )  # fmt: skip
            flow.results[service] = info
            flow.keys[service] = await execute(
                client, "lensflow.getServiceKeys", {"serviceName": service}
            )
        x_head, _ = seed_split()
        flow.results["invoke"] = await execute(
            client, "lensflow.invokeEndpoint",
            {"serviceName": "svc-a", "input": {"data": x_head}},
        )  # fmt: skip
        flow.results["invokeBad"] = await execute(
            client, "lensflow.invokeEndpoint",
            {"serviceName": "svc-a", "input": {"data": [[1.0, 2.0]]}},
        )  # fmt: skip
        flow.results["invokeExample"] = await execute(
            client, "lensflow.invokeEndpoint", {"serviceName": "svc-b"}
        )
        flow.results["wrongKey"] = http(
            flow.results["svc-a"]["scoringUri"], {"data": x_head}, flow.keys["svc-b"]["primaryKey"]
        )
        flow.results["rightKey"] = http(
            flow.results["svc-a"]["scoringUri"],
            {"data": x_head},
            flow.keys["svc-a"]["secondaryKey"],
        )
        await expect_error(
            flow, "duplicate", client, "lensflow.deploy",
            {"serviceName": "svc-a", "modelName": "diabetes_model", "clusterName": "aks-dev"},
        )  # fmt: skip
        await expect_error(
            flow, "noKeys", client, "lensflow.getServiceKeys", {"serviceName": "svc-none"}
        )
        flow.results["logs"] = await execute(
            client, "lensflow.getServiceLogs", {"serviceName": "svc-a", "tail": 200}
        )
        flow.results["services"] = await execute(client, "lensflow.listServices", {})
        flow.results["runs"] = await execute(client, "lensflow.listRuns", {})
        flow.results["models"] = await execute(client, "lensflow.listModels", {})
        flow.results["detail"] = await execute(
            client, "lensflow.getRun", {"runId": flow.results["usesSecret"]["runId"]}
        )
        await asyncio.sleep(1.0)  # a few rounds of the service monitor, in the log too
    finally:
        flow.seen += [
            client.lensflow,  # type: ignore[attr-defined]
            client.progress_reports,
            client.messages,
            client.log_messages,
        ]
        await close(client)


def forge_versions(flow: Workflow, train_run: str, plant_run: str) -> None:
    """Registry entries Lensflow did not make from a run: a source elsewhere, no run at all;
    and a registered file swapped for a link after registration."""
    from mlflow.tracking import MlflowClient

    store = MlflowClient(tracking_uri=f"sqlite:///{flow.home / 'mlflow.db'}")
    tags = {"lensflow.modelFramework": "ScikitLearn", "lensflow.modelPath": "model.pkl"}
    for name, run_id in (("rogue", train_run), ("orphan", None)):
        store.create_registered_model(name)
        store.create_model_version(name, str(flow.outside / "evil.pkl"), run_id=run_id, tags=tags)
    registered = Path(store.get_run(plant_run).info.artifact_uri.removeprefix("file://"))
    (registered / "model.pkl").unlink()
    (registered / "model.pkl").symlink_to(flow.outside / "evil.pkl")


@pytest.fixture(scope="module")
def workflow(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workflow]:
    base = tmp_path_factory.mktemp("security")
    project, outside = base / "project", base / "outside"
    project.mkdir()
    outside.mkdir()
    shutil.copy(SAMPLE, project / "train.py")
    (project / "uses_secret.py").write_text(USES_SECRET)
    (project / "plant.py").write_text(PLANTS_LINKS)
    x, y = seed_split()
    joblib.dump(Ridge().fit(x, y), outside / "evil.pkl")  # any pickle from outside the store
    flow = Workflow(
        project, project / ".lensflow", outside, base / "stderr.log", base / "audit.jsonl",
        Listener(),
    )  # fmt: skip
    try:
        asyncio.run(run_workflow(flow))
        yield flow
    finally:
        flow.proxy.close()
        from lensflow.workspaces.local.deployments import LocalDeployments

        LocalDeployments(flow.home).clean_up(all=True)


# --- loopback only ---------------------------------------------------------------------------
def test_services_listen_on_loopback_only(workflow: Workflow) -> None:
    for service in ("svc-a", "svc-b"):
        info = workflow.results[service]
        assert info["state"] == "Healthy" and info["scoringUri"].startswith("http://127.0.0.1:")
        assert listening(port_of(info["scoringUri"])) == [("tcp", "127.0.0.1")], service
    assert workflow.results["invoke"]["statusCode"] == 200
    assert workflow.results["invokeExample"]["statusCode"] == 200
    # Called directly, not through the http_proxy the server was given: the key stayed here.
    assert workflow.proxy.received == b""


# --- keys ------------------------------------------------------------------------------------
def test_keys_are_256_bit_random_and_distinct(workflow: Workflow) -> None:
    keys = [
        k for pair in workflow.keys.values() for k in (pair["primaryKey"], pair["secondaryKey"])
    ]
    assert len(keys) == 4 and len(set(keys)) == 4
    for key in keys:
        assert len(key) == 43 and set(key) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
        assert len(base64.urlsafe_b64decode(key + "=")) == 32
    assert workflow.results["wrongKey"][0] == 401  # another service's key opens nothing
    assert workflow.results["rightKey"][0] == 200


def test_auth_compares_keys_in_constant_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Behaviour, not source: every request compares the token with both keys through
    hmac.compare_digest, whether it matches the first, the second or neither."""
    primary, secondary = write_keys(tmp_path / "keys.json")
    x, y = seed_split()
    joblib.dump(Ridge().fit(x, y), tmp_path / "model.pkl")
    config = write_config(
        tmp_path / "config.json", serviceName="svc", modelName="m", modelVersion=1,
        framework="ScikitLearn", modelPath=str(tmp_path / "model.pkl"), authEnabled=True,
        keysFile=str(tmp_path / "keys.json"),
    )  # fmt: skip
    app = create_app(config)
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def recording(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", recording)

    async def status(token: str) -> int:
        body = json.dumps({"data": x}).encode()
        scope = {
            "type": "http", "method": "POST", "path": "/score", "headers": [
                (b"authorization", f"Bearer {token}".encode()),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }  # fmt: skip
        sent: list[dict[str, Any]] = []
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(message: Any) -> None:
            sent.append(message)

        await app(scope, receive, send)
        return int(sent[0]["status"])

    wrong = "x" * 43
    for token, expected in ((wrong, 401), (primary, 200), (secondary, 200)):
        calls.clear()
        assert asyncio.run(status(token)) == expected
        assert sorted(calls) == sorted([(token.encode(), primary.encode()),
                                        (token.encode(), secondary.encode())])  # fmt: skip


def test_key_files_and_folders_are_private(workflow: Workflow) -> None:
    for service in ("svc-a", "svc-b"):
        folder = workflow.home / "services" / service
        keys = folder / "keys.json"
        assert stat.S_IMODE(keys.stat().st_mode) == 0o600 and keys.stat().st_uid == os.getuid()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert json.loads(keys.read_text()) == workflow.keys[service]
        # The config names the keys file; it holds no key itself.
        config = (folder / "config.json").read_text()
        assert all(k not in config for k in workflow.keys[service].values())
    assert stat.S_IMODE(runtime_dir().stat().st_mode) == 0o700  # supervisord's RPC sockets
    conf = (workflow.home / "clusters" / "aks-dev" / "supervisord.conf").read_text()
    sock = Path(conf.split("[unix_http_server]\nfile=", 1)[1].split("\n", 1)[0])
    assert sock.parent == runtime_dir() and stat.S_IMODE(sock.stat().st_mode) & 0o077 == 0


# --- paths and model sources -----------------------------------------------------------------
def test_artifact_links_out_of_the_run_are_refused(workflow: Workflow) -> None:
    plant = workflow.errors["plant"]
    assert data(plant)["kind"] == "storeError" and "outside the artifact directory" in plant.message
    assert "planted links" in data(plant)["outputTail"]
    for name in ("linkFile", "linkDir", "linkInside"):
        error = workflow.errors.get(name)
        assert error is not None, f"{name} was registered: {workflow.results.get(name)}"
        assert (error.code, data(error)["kind"]) == (-32003, "invalidPath"), name
        assert "leads out of the run's artifacts" in error.message
        assert str(workflow.outside) in error.message
    registered = {m["name"] for m in workflow.results["models"]["models"]}
    assert "planted" not in registered and "tampered" in registered


def test_models_deploy_only_from_their_own_run(workflow: Workflow) -> None:
    for name in ("rogue", "orphan", "tampered"):
        error = workflow.errors.get(f"deploy-{name}")
        assert error is not None, f"{name} was deployed"
        assert (error.code, data(error)["kind"]) == (-32003, "invalidPath"), name
    assert "points outside its run's artifacts" in workflow.errors["deploy-rogue"].message
    assert "leads out of the run's artifacts" in workflow.errors["deploy-tampered"].message
    assert not [p for p in (workflow.home / "services").iterdir() if p.name != "svc-a"
                and p.name != "svc-b"]  # fmt: skip
    # A deployed service loads its own copy, inside its folder, of the run's registered file.
    from mlflow.tracking import MlflowClient

    store = MlflowClient(tracking_uri=f"sqlite:///{workflow.home / 'mlflow.db'}")
    run = store.get_run(workflow.results["train"]["runId"])
    registered = Path(run.info.artifact_uri.removeprefix("file://")) / "model.pkl"
    for service in ("svc-a", "svc-b"):
        folder = workflow.home / "services" / service
        config = json.loads((folder / "config.json").read_text())
        copy = Path(config["modelPath"])
        assert copy == folder / "model" / "model.pkl" and not copy.is_symlink()
        assert copy.read_bytes() == registered.read_bytes()
        assert copy.stat().st_ino != registered.stat().st_ino
    assert isinstance(
        joblib.load(workflow.home / "services" / "svc-a" / "model" / "model.pkl"), Ridge
    )


# --- no shell --------------------------------------------------------------------------------
SHELLS = {"sh", "bash", "dash", "zsh", "ksh", "csh", "tcsh", "fish", "busybox"}


def shell_like(event: dict[str, Any]) -> bool:
    if event["event"] in ("os.system", "pty.spawn"):
        return True
    argv = event["argv"] or []
    names = {os.path.basename(x) for x in [event["exe"] or "", *argv[:1]]}
    return bool(names & SHELLS) or (len(argv) > 2 and argv[1] == "-c" and "python" not in argv[0])


def test_no_process_starts_through_a_shell(workflow: Workflow) -> None:
    events = [json.loads(line) for line in workflow.audit.read_text().splitlines()]
    started = [" ".join(e["argv"] or []) for e in events]

    def seen(*needles: str) -> bool:
        return any(all(n in s for n in needles) for s in started)

    # The hook saw every kind of start the workflow makes (so it would see a shell too):
    assert seen("-m", "lensflow.workspaces.tracking.store_worker")  # server → store worker
    assert seen("run_bootstrap.py", "train.py")  # server → training run
    assert seen("-m", "supervisor.supervisord")  # deployments → supervisord
    assert seen("supervisor.py", "--reap-env")  # supervisord → launcher (os.exec)
    assert seen("-m", "uvicorn", "lensflow.scoring.app:create_app")  # launcher → uvicorn
    assert len({e["pid"] for e in events}) >= 4
    shells = [e for e in events if shell_like(e)]
    assert shells == [], shells


FORBIDDEN_CALLS = {
    ("os", "system"), ("os", "popen"), ("subprocess", "getoutput"),
    ("subprocess", "getstatusoutput"), ("asyncio", "create_subprocess_shell"),
    ("pty", "spawn"),
}  # fmt: skip


def shell_uses(source: str, filename: str) -> list[str]:
    """Every call that goes through a shell: shell=<anything but False>, os.system, os.popen,
    subprocess.getoutput, create_subprocess_shell, loop.subprocess_shell…"""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        where = f"{filename}:{node.lineno}"
        for keyword in node.keywords:
            if keyword.arg == "shell" and not (
                isinstance(keyword.value, ast.Constant) and keyword.value.value is False
            ):
                found.append(f"{where} shell=")
        func = node.func
        if isinstance(func, ast.Attribute):
            owner = func.value.id if isinstance(func.value, ast.Name) else None
            if (owner, func.attr) in FORBIDDEN_CALLS or func.attr == "subprocess_shell":
                found.append(f"{where} {owner}.{func.attr}")
        elif isinstance(func, ast.Name) and func.id in {n for _, n in FORBIDDEN_CALLS}:
            found.append(f"{where} {func.id}")
    return found


def test_no_shell_in_the_source() -> None:
    planted = """\
import os, subprocess, asyncio
from os import system
subprocess.run("ls", shell=True)
subprocess.Popen(["ls"], shell=flag)
os.system("ls"); os.popen("ls"); system("ls")
asyncio.create_subprocess_shell("ls")
loop.subprocess_shell(factory, "ls")
subprocess.getoutput("ls")
subprocess.run(["ls"], shell=False)
"""
    assert len(shell_uses(planted, "planted.py")) == 8  # the checker sees each form
    files = [
        path
        for folder in ("server", "protocol", "client-sample/python", "scripts", "bench")
        for path in sorted((REPO / folder).rglob("*.py"))
        if ".venv" not in path.parts and "node_modules" not in path.parts
    ]
    assert len(files) > 40
    found = [hit for path in files for hit in shell_uses(path.read_text(), str(path))]
    assert found == []


# --- no secret in any log, notification or error ---------------------------------------------
def test_keys_and_secrets_never_appear_outside_their_file(workflow: Workflow) -> None:
    # The premise: the secret reached the script, and the keys were used.
    token_sha = hashlib.sha256(SECRET.encode()).hexdigest()[:12]
    assert workflow.results["detail"]["params"] == {"token_sha256": token_sha}
    assert workflow.results["usesSecret"]["status"] == "FAILED"
    assert "the upstream refused the request" in workflow.results["usesSecret"]["outputTail"]
    assert 400 <= workflow.results["invokeBad"]["statusCode"] < 500
    assert data(workflow.errors["missingScript"])["kind"] == "notFound"
    assert {"duplicate", "noKeys"} <= workflow.errors.keys()

    texts: dict[str, bytes] = {
        "server stderr": workflow.stderr.read_bytes(),
        "notifications and progress": repr(workflow.seen).encode(),
        "errors": repr(
            [(e.code, e.message, getattr(e, "data", None)) for e in workflow.errors.values()]
        ).encode(),
        "results": json.dumps(workflow.results, default=repr).encode(),
        "proxy": workflow.proxy.received,
    }
    for path in sorted(workflow.home.rglob("*")):  # logs, configs, mlflow.db, run artifacts…
        if path.is_file() and path.name != "keys.json":
            texts[str(path)] = path.read_bytes()
    assert len(texts["server stderr"]) > 1000 and any("service.log" in t for t in texts)
    assert b"DEBUG" in texts["server stderr"]
    needles = {"API_TOKEN secret": SECRET}
    for service, pair in workflow.keys.items():
        needles |= {f"{service} {name}": key for name, key in pair.items()}
    leaks = [
        (what, where)
        for what, needle in needles.items()
        for where, text in texts.items()
        if needle.encode() in text
    ]
    assert leaks == []
