"""Serves `MlflowStore` calls in a process of their own.

    python -m lensflow.workspaces.tracking.store_worker TRACKING_URI


mlflow, pandas, SQLAlchemy and friends weigh ~200 MB; loaded in the editor's server they would
stay there for good. Here they live in a child the server can restart, and a crash or a
hang in them cannot take the server down.

JSON lines on stdin/stdout: {"id", "method", "args"} -> {"id", "result"} | {"id", "error"},
where error = {"kind", "message", "details"} (a LensflowError's fields). The methods are the
calls of `store_calls`, the table `StoreClient` calls through. mlflow loads in a thread from
the start; until it is ready, `ping` and a local SQLite store's `list_runs` are answered without
it (an editor's first hover), every other call waits for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import sys
import threading
from collections.abc import Callable
from typing import Any

from lensflow_protocol.base import WireModel
from lensflow_protocol.errors import LensflowError, StoreError, Unreachable

from .azureml_token import use_tracking_token
from .server_check import server_down
from .sqlite_runs import SqliteRuns
from .store_calls import dispatch
from .uris import is_server_uri

log = logging.getLogger("lensflow.store_worker")


def unreachable(exc: BaseException, tracking_uri: str | None) -> Unreachable | None:
    """A tracking server that is down or silent, told as such rather than as a store failure."""
    if not tracking_uri or not is_server_uri(tracking_uri):
        return None
    import requests

    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    network = (ConnectionError, TimeoutError, requests.ConnectionError, requests.Timeout)
    # Behind a proxy a stopped server is the proxy's 502/503/504, which MLflow retries and
    # then gives up on as "too many 50x error responses".
    gateway = any(
        isinstance(e, requests.exceptions.RetryError)
        and re.search(r"too many 50[234] error responses", str(e))
        for e in chain
    )
    if not gateway and not any(isinstance(e, network) for e in chain):
        return None
    return server_down(tracking_uri, str(chain[-1]).strip() or type(chain[-1]).__name__)


def handle(
    methods: dict[str, Callable[..., Any]],
    request: dict[str, Any],
    tracking_uri: str | None = None,
) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": request.get("id")}
    try:
        method = methods[request["method"]]
        result = method(*request.get("args", []))
        reply["result"] = result.wire() if isinstance(result, WireModel) else result
    except Exception as exc:
        error = unreachable(exc, tracking_uri) or exc
        if not isinstance(error, LensflowError):
            log.exception("store call %s failed", request.get("method"))
            error = StoreError(f"The tracking store failed: {type(exc).__name__}: {exc}")
        reply["error"] = {
            "kind": error.kind.value,
            "message": error.message,
            "details": error.details,
        }
    return reply


class Loader:
    """mlflow's store, made in a thread: imports take seconds, and until they are done a local
    SQLite store's `list_runs` is answered with stdlib sqlite3 (`SqliteRuns`)."""

    def __init__(self, tracking_uri: str, artifact_root: str | None) -> None:
        self.tracking_uri, self.artifact_root = tracking_uri, artifact_root
        self.early = SqliteRuns.for_uri(tracking_uri)
        self.methods: dict[str, Callable[..., Any]] = {}
        self.failed: BaseException | None = None
        self.ready = threading.Event()
        threading.Thread(target=self._load, name="mlflow-store", daemon=True).start()

    def _load(self) -> None:
        try:
            from .mlflow_store import MlflowStore

            store = MlflowStore(self.tracking_uri)
            if self.artifact_root:
                store.make_tables(self.artifact_root)
            store.sweep()  # runs whose process vanished are closed before mlflow reads them
            with contextlib.suppress(Exception):  # a bad URI is said by the call that uses it
                store.client  # noqa: B018 (imports mlflow now, not in the first call)
            self.methods = dispatch(store)
        except BaseException as exc:  # told by the next call: the worker exits then
            self.failed = exc
        finally:
            self.ready.set()

    def answer_early(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """A reply that need not wait for mlflow, or None."""
        if self.ready.is_set():
            return None
        if request.get("method") == "ping":
            return {"id": request.get("id"), "result": "pong"}
        if request.get("method") == "list_runs" and self.early is not None:
            try:
                result = self.early.list_runs(*request.get("args", []))
            except Exception:  # whatever it is, mlflow's answer will say it better
                log.info("the early list_runs failed; waiting for mlflow", exc_info=True)
                result = None
            if result is not None:
                return {"id": request.get("id"), "result": result.wire()}
        return None

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        if (reply := self.answer_early(request)) is not None:
            return reply
        self.ready.wait()
        if self.failed is not None:
            raise self.failed
        return handle(self.methods, request, self.tracking_uri)


def main(argv: list[str]) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    # The protocol keeps the real stdout; anything else printing there goes to stderr.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    use_tracking_token(argv[0])  # an azureml:// store signs with the server's token
    loader = Loader(argv[0], argv[1] if len(argv) > 1 else None)
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = loader.answer(json.loads(line))
        channel.write(json.dumps(reply) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
