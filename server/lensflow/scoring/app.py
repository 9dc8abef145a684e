"""The scoring app: a raw ASGI application (no framework) that serves one loaded model.

    uvicorn --factory lensflow.scoring.app:create_app   (LENSFLOW_SERVICE_CONFIG=<config.json>)

The scoring path is deliberately short: json.loads → np.asarray → float64 → predict →
json.dumps. Routing is one dict lookup, static answers are encoded once at start-up, and the
model is called on the event loop: one worker serves one request at a time anyway, and a thread
hop would cost more than a small model's prediction. A slow prediction so delays /ping too, and
that is accepted: a scikit-learn model holds the GIL for most of its run (a thread would barely
free the loop), and a /ping held up by a busy worker tells a load balancer the truth, that this
worker cannot take another request yet.

A request refused before its body was read (401, 415, 413) is answered at once, then the rest of
the body is read and thrown away, up to a bound: closing a socket with unread data makes the
kernel reset the connection, and a client that sends its whole body before reading (urllib,
requests) would get that reset instead of the answer.
"""

from __future__ import annotations

import asyncio
import hmac
import importlib.metadata
import json
import logging
import math
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from .config import ConfigError, ServiceConfig, read_keys
from .inputs import invocations_input, score_input, to_matrix
from .loaders import LoadError, Matrix, Model, ScoringError, load_model
from .openapi import build_openapi

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]
Handler = Callable[[Scope, Receive, Send], Awaitable[None]]

log = logging.getLogger("lensflow.scoring")

SERVER_ERROR = "the model failed to score this request; the service log has the details"
NOT_FINITE = "the model's output is not finite (NaN or infinite) for these inputs"
DRAIN_MIN_BYTES = 4 << 20  # a refused body is drained up to max(8 × maxBodyBytes, 4 MiB) …
DRAIN_SECONDS = 10.0  # … for at most this long
_ENCODE = json.JSONEncoder(allow_nan=False, separators=(",", ":")).encode  # NaN is not JSON


def _version() -> str:
    try:
        return importlib.metadata.version("lensflow")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def _headers(content_type: bytes, body: bytes, extra: Headers | None = None) -> Headers:
    headers = [(b"content-type", content_type), (b"content-length", b"%d" % len(body))]
    return headers + extra if extra else headers


async def _answer(send: Send, status: int, body: bytes, headers: Headers) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _json_content_type(value: bytes) -> bool:
    """application/json, with or without parameters (charset=utf-8), in any case."""
    return value.split(b";", 1)[0].strip().lower() == b"application/json"


def _all_finite(value: Any) -> bool:
    """No NaN or infinity anywhere in a model's (nested) output."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list | tuple):
        return all(_all_finite(item) for item in value)
    if isinstance(value, dict):
        return all(_all_finite(item) for item in value.values())
    return True


class _Disconnected(Exception):
    """The client went away before sending its whole body: nothing to answer."""


class _Refused(ScoringError):
    """A request refused before its whole body was read.

    `unread` is how many body bytes the client may still send (None: unknown, a chunked body);
    `waiting` is True when the client waits for "100 Continue" and will send no body at all.
    """

    def __init__(self, message: str, status: int, unread: int | None, waiting: bool) -> None:
        super().__init__(message, status)
        self.unread = unread
        self.waiting = waiting


class ScoringApp:
    """The ASGI callable. Everything that depends only on the model is computed here, once."""

    def __init__(self, config: ServiceConfig, model: Model, keys: tuple[str, str] | None) -> None:
        self.config = config
        self.model = model
        self._keys = tuple(key.encode() for key in keys) if keys else None
        self._max_body = config.max_body_bytes
        self._drain_bytes = max(8 * config.max_body_bytes, DRAIN_MIN_BYTES)
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
        swagger = build_openapi(
            service_name=config.service_name, model_name=config.model_name,
            model_version=config.model_version, framework=model.framework,
            n_features=model.n_features, methods=model.methods, auth=self._keys is not None,
        )  # fmt: skip
        healthy = json.dumps({"status": "Healthy"}).encode()
        statics = {
            "/": (b"text/plain; charset=utf-8", b"Healthy"),
            "/ping": (json_type, healthy),
            "/health": (json_type, healthy),
            "/version": (json_type, json.dumps(version).encode()),
            "/swagger.json": (json_type, json.dumps(swagger).encode()),
        }
        self._routes: dict[str, dict[str, Handler]] = {
            "/score": {"POST": self._score},
            "/invocations": {"POST": self._invocations},
        }
        for path, (content_type, body) in statics.items():
            handler = self._static(content_type, body)
            self._routes[path] = {"GET": handler, "HEAD": handler}

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
            await self._error(send, 404, f"no route {scope['path'][:100]!r}; try POST /score")
            return
        handler = route.get(scope["method"])
        if handler is None:
            allow = ", ".join(route).encode()
            await self._error(
                send, 405, f"{scope['method']} is not allowed here", [(b"allow", allow)]
            )
            return
        await handler(scope, receive, send)

    def _static(self, content_type: bytes, body: bytes) -> Handler:
        headers = _headers(content_type, body)

        async def handler(scope: Scope, receive: Receive, send: Send) -> None:
            await _answer(send, 200, body, headers)  # uvicorn drops the body of a HEAD answer

        return handler

    @staticmethod
    async def _error(send: Send, status: int, message: str, extra: Headers | None = None) -> None:
        body = json.dumps({"error": message}).encode()
        await _answer(send, status, body, _headers(b"application/json", body, extra))

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
            body = await self._body(scope, receive)
            try:
                document = json.loads(body)
            except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
                raise ScoringError("the body is not valid JSON", 400) from None
            rows, method = parse(document)
            result = self._predict(method, to_matrix(rows, self._width))
        except _Refused as exc:
            await self._refuse(receive, send, exc)
            return
        except ScoringError as exc:
            await self._error(send, exc.status, str(exc))
            return
        except _Disconnected:
            return
        except Exception:  # a bug of ours or the model's: the client sees a generic 500
            log.exception("unexpected error on %s", scope["path"])
            await self._error(send, 500, SERVER_ERROR)
            return
        out = prefix + result + b"}" if prefix else result
        await _answer(send, 200, out, _headers(b"application/json", out))

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        """Checks key, content type and announced size before reading a byte of the body."""
        authorization = content_type = length = None
        chunked = waiting = False
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-type":
                content_type = value
            elif name == b"content-length":
                length = value
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"expect":
                waiting = value.lower() == b"100-continue"
        # What the client may still send when refused now; the HTTP parser has checked the value.
        unread = None if chunked else int(length) if length is not None and length.isdigit() else 0
        if self._keys is not None and not self._authorized(authorization):
            why = "missing" if authorization is None else "wrong"
            error = f"{why} key: send 'Authorization: Bearer <service key>'"
            raise _Refused(error, 401, unread, waiting)
        if content_type is not None and not _json_content_type(content_type):
            shown = content_type.decode("latin-1")[:60]
            error = f"Content-Type must be application/json, not {shown!r}"
            raise _Refused(error, 415, unread, waiting)
        if unread is not None and unread > self._max_body:
            raise _Refused(self._too_large(unread), 413, unread, waiting)
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body: bytes = message.get("body", b"")
        if not message.get("more_body", False):  # the usual case: one chunk
            if len(body) > self._max_body:
                raise ScoringError(self._too_large(len(body)), 413)
            return body
        # Chunked (or split) bodies: count while streaming, stop at the limit.
        chunks, size = [body], len(body)
        while True:
            if size > self._max_body:  # how much more will come is unknown
                raise _Refused(self._too_large(size, more=True), 413, None, False)
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                break
        if size > self._max_body:
            raise ScoringError(self._too_large(size), 413)
        return b"".join(chunks)

    async def _refuse(self, receive: Receive, send: Send, refused: _Refused) -> None:
        """Answers at once, then reads and drops the rest of the body before ending the answer.

        HTTP lets a server answer before the body is in, if it then reads the rest or closes.
        Reading it matters: closing with unread data resets the connection, and a client still
        writing its body loses the answer. So: the answer (whole, by Content-Length) goes out
        first, and clients that read it at once are not kept waiting; the body is drained, up
        to `_drain_bytes` and DRAIN_SECONDS; then the answer ends, closing the connection after
        a 413, a chunked body or an undrained one (a 401 or 415 keeps the connection alive).
        """
        unread, waiting = refused.unread, refused.waiting
        drain = not waiting and (unread is None or unread <= self._drain_bytes)
        body = json.dumps({"error": str(refused)}).encode()
        extra: Headers = []
        if refused.status == 401:
            extra.append((b"www-authenticate", b'Bearer realm="lensflow"'))
        if refused.status == 413 or unread is None or not drain:
            extra.append((b"connection", b"close"))
        headers = _headers(b"application/json", body, extra)
        await send({"type": "http.response.start", "status": refused.status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": drain})
        if not drain:
            return
        try:
            async with asyncio.timeout(DRAIN_SECONDS):
                drained = 0
                while drained <= self._drain_bytes:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        break
                    drained += len(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            pass  # a slow client: the connection is closed (or its leftover discarded) as is
        await send({"type": "http.response.body", "body": b""})

    def _too_large(self, size: int, more: bool = False) -> str:
        got = f"more than {size}" if more else str(size)
        return f"the body has {got} bytes; this service accepts at most {self._max_body}"

    def _authorized(self, header: bytes | None) -> bool:
        if header is None or self._keys is None:
            return False
        scheme, _, token = header.partition(b" ")
        token = token.strip()
        # Both keys are always compared, in constant time: the timing says nothing of either.
        primary = hmac.compare_digest(token, self._keys[0])
        secondary = hmac.compare_digest(token, self._keys[1])
        return scheme.lower() == b"bearer" and (primary | secondary)

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
        keys = read_keys(service.keys_file) if service.auth_enabled and service.keys_file else None
        model = load_model(service.framework, service.model_path)
    except (ConfigError, LoadError) as exc:
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
