"""The scoring app: a raw ASGI application (no framework) that serves one loaded model.

    uvicorn --factory lensflow.scoring.app:create_app   (LENSFLOW_SERVICE_CONFIG=<config.json>)

The scoring path is deliberately short: json.loads → np.asarray → float64 → predict →
json.dumps (a big /score body of numbers is parsed a slice at a time instead: matrix_text.py).
Routing is one dict lookup, static answers are encoded once at start-up, and the model is called
on the event loop: one worker serves one request at a time anyway, and a thread hop would cost
more than a small model's prediction. A slow prediction so delays /ping too, and that is
accepted: a scikit-learn model holds the GIL for most of its run (a thread would barely free the
loop), and a /ping held up by a busy worker tells a load balancer the truth, that this
worker cannot take another request yet.

Key, content type and size are checked by the gate (gate.py) before the body is read; /version
needs the key too.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .asgi import Handler, Receive, Scope, Send, answer, answer_error, headers_for
from .cgroups import join_cpu, join_replica
from .config import CONFIG_ENV, ConfigError, ServiceConfig, read_keys
from .documents import document_routes
from .gate import BodyGate, Disconnected, Refused
from .inputs import checked, invocations_input, score_input, to_matrix
from .loaders import LoadError, Matrix, Model, ScoringError, load_model
from .matrix_text import score_matrix
from .schemas import ApiFacts

log = logging.getLogger("lensflow.scoring")

SERVER_ERROR = "the model failed to score this request; the service log has the details"
NOT_FINITE = "the model's output is not finite (NaN or infinite) for these inputs"
TOO_DEEP = 'the JSON is nested too deeply: send rows of numbers, {"data": [[...], ...]}'
_ENCODE = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode  # NaN is not JSON


def _version() -> str:
    try:
        return importlib.metadata.version("lensflow")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _all_finite(value: Any) -> bool:
    """No NaN or infinity anywhere in a model's (nested) output."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_all_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    return True


class ScoringApp:
    """The ASGI callable. Everything that depends only on the model is computed here, once."""

    def __init__(self, config: ServiceConfig, model: Model, keys: tuple[str, str] | None) -> None:
        self.config = config
        self.model = model
        self._gate = BodyGate(keys, config.max_body_bytes)
        self._width = model.n_features
        json_type = b"application/json"
        version = {
            "scoringVersion": _version(),
            "serviceName": config.service_name,
            "modelName": config.model_name,
            "modelVersion": config.model_version,
            "framework": model.framework,
            "nFeatures": model.n_features,
            "methods": model.methods,
            "runtime": model.runtime,
        }
        facts = ApiFacts(
            service_name=config.service_name, model_name=config.model_name,
            model_version=config.model_version, framework=model.framework,
            n_features=model.n_features, methods=model.methods, auth=self._gate.auth,
        )  # fmt: skip
        healthy = json.dumps({"status": "Healthy"}).encode()
        statics = {
            "/": (b"text/plain; charset=utf-8", b"Healthy"),
            "/ping": (json_type, healthy),
            "/health": (json_type, healthy),
        }
        self._routes: dict[str, dict[str, Handler]] = {
            "/score": {"POST": self._score},
            "/invocations": {"POST": self._invocations},
        }
        for path, (content_type, body) in statics.items():
            handler = self._static(content_type, body)
            self._routes[path] = {"GET": handler, "HEAD": handler}
        self._routes.update(document_routes(facts))  # /swagger.json (2.0), /openapi.json (3.1)
        # The model's name and the runtime's versions tell an attacker what to try: keyed, as
        # /score is. Liveness and the API documents stay open, as Azure's are.
        keyed = self._keyed(self._static(json_type, json.dumps(version).encode()))
        self._routes["/version"] = {"GET": keyed, "HEAD": keyed}

    # ---------------------------------------------------------------- ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            await self._http(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(receive, send)
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1008})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        # The model is loaded before uvicorn binds its port: start-up has nothing left to do.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get(scope["path"])
        if route is None:
            await answer_error(send, 404, f"no route {scope['path'][:100]!r}; try POST /score")
            return
        handler = route.get(scope["method"])
        if handler is None:
            allow = ", ".join(route).encode()
            await answer_error(
                send, 405, f"{scope['method']} is not allowed here", [(b"allow", allow)]
            )
            return
        await handler(scope, receive, send)

    def _static(self, content_type: bytes, body: bytes) -> Handler:
        headers = headers_for(content_type, body)

        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            await answer(send, 200, body, headers)  # uvicorn drops the body of a HEAD answer

        return handler

    def _keyed(self, handler: Handler) -> Handler:
        if not self._gate.auth:
            return handler

        async def keyed(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                self._gate.check_key(scope)
            except Refused as exc:
                await self._gate.refuse(receive, send, exc)
                return
            await handler(scope, receive, send)

        return keyed

    # ---------------------------------------------------------------- scoring routes
    async def _score(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._scoring(scope, receive, send, score_input, b"")

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._scoring(scope, receive, send, self._mlflow_input, b'{"predictions":')

    def _mlflow_input(self, document: Any) -> tuple[Any, str]:
        return invocations_input(document, self.model.columns), "predict"

    async def _scoring(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        parse: Callable[[Any], tuple[Any, str]],
        prefix: bytes,
    ) -> None:
        try:
            body = await self._gate.read(scope, receive)
            method, x = self._input(body, parse)
            result = self._predict(method, x)
        except Refused as exc:
            await self._gate.refuse(receive, send, exc)
            return
        except ScoringError as exc:
            await answer_error(send, exc.status, str(exc))
            return
        except Disconnected:
            return
        except Exception:  # a bug of ours or the model's: the client sees a generic 500
            log.exception("unexpected error on %s", scope["path"])
            await answer_error(send, 500, SERVER_ERROR)
            return
        out = prefix + result + b"}" if prefix else result
        await answer(send, 200, out, headers_for(b"application/json", out))

    def _input(
        self, body: bytes | bytearray, parse: Callable[[Any], tuple[Any, str]]
    ) -> tuple[str, Matrix]:
        """The method and the rows of a request's body, or the ScoringError that says why."""
        if parse is score_input and (big := score_matrix(body)) is not None:
            _, method = parse(big[1])  # a big {"data": [[numbers]]}, parsed a slice at a time
            return method, checked(big[0], self._width)
        try:
            document = json.loads(body)
        except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
            raise ScoringError("the body is not valid JSON", 400) from None
        except RecursionError:  # the parser's depth limit: the client's doing, not a bug
            raise ScoringError(TOO_DEEP, 400) from None
        rows, method = parse(document)
        # A quick scan of the bytes: only a body that spells a boolean is walked for one.
        maybe_bool = b"true" in body or b"false" in body
        return method, to_matrix(rows, self._width, maybe_bool)

    # ---------------------------------------------------------------- model → output
    def _predict(self, method: str, x: Matrix) -> bytes:
        """The guard around the model: its unexpected failures become a logged generic 500."""
        try:
            score = self.model.predict if method == "predict" else self.model.predict_proba
            result = score(x)
            try:
                return _ENCODE(result).encode()
            except ValueError:  # allow_nan=False: JSON has no NaN nor Infinity
                if _all_finite(result):
                    raise
            # Finite inputs can still overflow (a 1e308 feature): the input's doing, not a bug.
            log.warning("%s gave NaN or infinite values for %d row(s)", method, x.shape[0])
            raise ScoringError(NOT_FINITE, 422)
        except ScoringError:
            raise
        except Exception:
            log.exception("%s failed on %d row(s) of %d features", method, x.shape[0], x.shape[1])
            raise ScoringError(SERVER_ERROR, 500) from None


def _setup_logging() -> None:
    if not log.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)
        log.propagate = False


def create_app(config: ServiceConfig | None = None) -> ScoringApp:
    """The app for `config`, else for the file named by LENSFLOW_SERVICE_CONFIG.

    Loads the keys and the model before uvicorn binds its port, so the first answer to /ping
    means the model is ready. Under uvicorn (no `config` given) a bad config or model logs one
    clear line and exits 1; called with a config, it raises ConfigError / LoadError.
    """
    _setup_logging()
    started = time.perf_counter()
    try:
        service = config if config is not None else ServiceConfig.from_env()
        folder, replica = None, None
        if config is None:  # a deployed replica: its memory limit counts the model too
            folder = Path(os.environ[CONFIG_ENV]).parent
            replica = join_replica(folder)
        keys = read_keys(service.keys_file) if service.auth_enabled and service.keys_file else None
        model = load_model(service.framework, service.model_path)
        if folder is not None and replica is not None:
            join_cpu(folder, replica)
            log.info("replica %d: in its cgroups (memory and CPU limits)", replica)
    except (ConfigError, LoadError, OSError) as exc:
        if config is not None:
            raise
        log.error("the scoring service cannot start: %s", exc)
        raise SystemExit(1) from None
    log.info(
        "service %s: model %s version %d (%s, %s features) loaded in %.2f s; auth %s",
        service.service_name, service.model_name, service.model_version, model.framework,
        model.n_features if model.n_features is not None else "any number of",
        time.perf_counter() - started, "on" if keys else "off",
    )  # fmt: skip
    return ScoringApp(service, model, keys)
