"""`lensflow` / `python -m lensflow`: serve LSP over stdio (default) or TCP."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import BinaryIO

TOKEN_HELP = (
    "with --tcp: the file holding the token a client must send as initializationOptions.token;"
    " made (256 random bits, mode 0600) when missing (default: $XDG_STATE_HOME/lensflow/tcp-token,"
    " else ~/.local/state/lensflow/tcp-token)"
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lensflow", description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--stdio", action="store_true", help="serve over stdin/stdout (default)")
    mode.add_argument(
        "--tcp", metavar="HOST:PORT", help="serve one client over TCP, e.g. 127.0.0.1:2087"
    )
    parser.add_argument("--token-file", metavar="PATH", type=Path, help=TOKEN_HELP)
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="with --tcp: listen on an address that is not loopback (whoever reaches it and"
        " has the token can run code on this machine)",
    )
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
    if not ns.tcp and (ns.token_file or ns.allow_remote):
        parser.error("--token-file and --allow-remote go with --tcp")
    tcp = _tcp_options(parser, ns) if ns.tcp else None
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
    if tcp:
        from .lsp.tcp import serve_tcp

        try:
            serve_tcp(server, *tcp)
        except OSError as exc:  # the port is taken, the address is not this machine's
            logging.getLogger("lensflow").error("cannot serve on %s: %s", ns.tcp, exc)
            return 1
    else:
        server.start_io(FrameReader(sys.stdin.buffer), _protocol_stdout())  # type: ignore[arg-type]
    return 0


def _tcp_options(parser: argparse.ArgumentParser, ns: argparse.Namespace) -> tuple[str, int, str]:
    """Host, port and token; refuses an address anyone else could reach, unless asked to."""
    from .lsp.tcp import is_loopback
    from .lsp.tcp_token import TokenFileError, default_token_path, load_or_create_token

    host, _, port = ns.tcp.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")  # [::1]:2087
    if not host or not port.isdigit() or int(port) > 65535:
        parser.error("--tcp takes HOST:PORT, e.g. 127.0.0.1:2087")
    if not is_loopback(host) and not ns.allow_remote:
        parser.error(
            f"--tcp {ns.tcp}: {host} is no loopback address (127.0.0.1, ::1, localhost), and"
            " whoever reaches the port can run code here. Serve on 127.0.0.1 (from another"
            " machine, through `ssh -L`), or add --allow-remote if you mean it."
        )
    if not is_loopback(host):
        logging.getLogger("lensflow").warning(
            "listening on %s, not loopback: anyone who reaches it and has the token runs code", host
        )
    path = ns.token_file or default_token_path()
    try:
        token = load_or_create_token(path)
    except TokenFileError as exc:
        parser.exit(2, f"lensflow: {exc}\n")
    logging.getLogger("lensflow").info("TCP clients must send the token in %s", path)
    return host, int(port), token


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
