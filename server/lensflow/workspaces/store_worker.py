"""Serves `MlflowStore` calls in a process of their own.

    python -m lensflow.workspaces.store_worker TRACKING_URI


mlflow, pandas, SQLAlchemy and friends weigh ~200 MB; loaded in the editor's server they would
stay there for good. Here they live in a child the server can restart, and a crash or a
hang in them cannot take the server down.

JSON lines on stdin/stdout: {"id", "method", "args"} -> {"id", "result"} | {"id", "error"},
where error = {"kind", "message", "details"} (a LensflowError's fields).
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from typing import Any

from lensflow_protocol.base import WireModel
from lensflow_protocol.errors import LensflowError
from lensflow_protocol.tracking import RegisterModelArgs

from .mlflow_store import MlflowStore

log = logging.getLogger("lensflow.store_worker")


def _methods(store: MlflowStore) -> dict[str, Callable[..., Any]]:
    return {
        "list_experiments": store.list_experiments,
        "list_runs": store.list_runs,
        "get_run": store.get_run,
        "list_models": store.list_models,
        "register_model": lambda args: store.register_model(RegisterModelArgs.model_validate(args)),
        "finish_run": store.finish_run,
        "run_data": store.run_data,
        "model_artifact": store.model_artifact,
        "ping": lambda: "pong",
    }


def handle(methods: dict[str, Callable[..., Any]], request: dict[str, Any]) -> dict[str, Any]:
    reply: dict[str, Any] = {"id": request.get("id")}
    try:
        method = methods[request["method"]]
        result = method(*request.get("args", []))
        reply["result"] = result.wire() if isinstance(result, WireModel) else result
    except LensflowError as exc:
        reply["error"] = {"kind": exc.kind.value, "message": exc.message, "details": exc.details}
    except Exception as exc:
        log.exception("store call %s failed", request.get("method"))
        reply["error"] = {
            "kind": "storeError",
            "message": f"The tracking store failed: {type(exc).__name__}: {exc}",
            "details": {},
        }
    return reply


def main(argv: list[str]) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
    # The protocol keeps the real stdout; anything else printing there goes to stderr.
    channel = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    methods = _methods(MlflowStore(argv[0]))
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = handle(methods, json.loads(line))
        channel.write(json.dumps(reply) + "\n")
        channel.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
