"""`lensflow` / `python -m lensflow`: serve LSP over stdio (default) or TCP."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import BinaryIO


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lensflow", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="serve over stdin/stdout (default)")
    mode.add_argument("--tcp", metavar="HOST:PORT", help="serve over TCP, e.g. 127.0.0.1:2087")
    parser.add_argument("--log-level", default="INFO", help="stderr log level (default INFO)")
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    ns = parser.parse_args(argv)

    from . import __version__

    if ns.version:
        print(f"lensflow {__version__}")
        return 0
    # stdout carries the protocol: every log line goes to stderr.
    logging.basicConfig(
        stream=sys.stderr,
        level=ns.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # pygls logs every message it sends at INFO: far too chatty for an editor's log.
    logging.getLogger("pygls").setLevel(max(logging.WARNING, logging.getLogger().level))
    logging.getLogger("pygls.protocol.json_rpc").addFilter(_answered_errors_in_one_line)
    from .app import build_server
    from .processes import kill_at_exit

    kill_at_exit()  # whatever the server starts (runs, MLflow's UI) is SIGKILLed if it is left
    server = build_server()
    # Start-up objects live for good; without this every full collection walks them again
    # (~30 ms every few edits on a large file, measured in bench/bench_codelens.py).
    import gc

    gc.freeze()
    from .lsp.transport import RECURSION_LIMIT, FrameReader

    sys.setrecursionlimit(RECURSION_LIMIT)
    if ns.tcp:
        host, _, port = ns.tcp.rpartition(":")
        if not host or not port.isdigit():
            parser.error("--tcp takes HOST:PORT, e.g. 127.0.0.1:2087")
        server.start_tcp(host, int(port))
    else:
        server.start_io(FrameReader(sys.stdin.buffer), _protocol_stdout())  # type: ignore[arg-type]
    return 0


def _protocol_stdout() -> BinaryIO:
    """fd 1 for the protocol alone: it moves to a private fd, and fd 1 becomes stderr, so a
    stray print (an SDK's sign-in hint, say) or a child that inherits fd 1 cannot break a frame."""
    protocol = os.fdopen(os.dup(1), "wb")
    sys.stdout.flush()
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return protocol


def _answered_errors_in_one_line(record: logging.LogRecord) -> bool:
    """pygls logs a traceback for every error response. A bad argument or a domain error is
    the client's answer, not the server's fault: one INFO line says it (INFO is below pygls's
    level, so by default nothing). Only -32603 keeps its traceback."""
    error = record.exc_info[1] if record.exc_info else None
    code = getattr(error, "code", None)
    if isinstance(code, int) and code != -32603:
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg, record.args, record.exc_info = "answered %s: %s", (code, error), None
        return logging.getLogger(record.name).isEnabledFor(logging.INFO)
    return True


if __name__ == "__main__":
    sys.exit(main())
