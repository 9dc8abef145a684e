"""Serves `MlflowStore` calls in a process of their own.

    python -m lensflow.workspaces.tracking.store_worker TRACKING_URI


mlflow, pandas, SQLAlchemy and friends weigh ~200 MB; loaded in the editor's server they would
stay there for good. Here they live in a child the server can restart, and a crash or a
hang in them cannot take the server down.

JSON lines on stdin/stdout: {"id", "method", "args"} -> {"id", "result"} | {"id", "error"},
where error = {"kind", "message", "details"} (a LensflowError's fields). The methods are the
calls of `store_calls`, the table `StoreClient` calls through.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
from collections.abc import Callable
from typing import Any

from lensflow_protocol.base import WireModel
from lensflow_protocol.errors import LensflowError, StoreError, Unreachable

from .azureml_token import use_tracking_token
from .mlflow_store import MlflowStore
from .server_check import server_down
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


def main(argv: list[str]) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    # The protocol keeps the real stdout; anything else printing there goes to stderr.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    use_tracking_token(argv[0])  # an azureml:// store signs with the server's token
    store = MlflowStore(argv[0])
    if len(argv) > 1:
        store.make_tables(argv[1])
    store.sweep()  # runs whose process vanished are closed before anyone reads them
    methods = dispatch(store)
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = handle(methods, json.loads(line), argv[0])
        channel.write(json.dumps(reply) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
