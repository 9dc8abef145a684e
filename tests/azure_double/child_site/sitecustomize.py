"""Test-only: in a child process, resolve ``*.localhost`` to 127.0.0.1 as the tests' shim does.

A training script or a Lensflow server started by a test cannot get the in-process
``getaddrinfo`` monkeypatch (``conftest._resolve_localhost_names``): Python imports this module at
start-up from PYTHONPATH, and it patches only when LENSFLOW_TEST_RESOLVE_LOCALHOST=1, so the
folder can stay on a path without changing anything else.
"""

from __future__ import annotations

import os
import socket
from typing import Any

if os.environ.get("LENSFLOW_TEST_RESOLVE_LOCALHOST") == "1":
    _real_getaddrinfo = socket.getaddrinfo

    def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # RFC 6761, 6.3: a blob account at <account>.blob.localhost:<port> is the double.
        name = host.decode() if isinstance(host, bytes) else host
        if isinstance(name, str) and name.lower().rstrip(".").endswith(".localhost"):
            host = "127.0.0.1"
        return _real_getaddrinfo(host, *args, **kwargs)

    socket.getaddrinfo = _getaddrinfo
