"""Tracking URIs: which kind of store one names, and how to show it without its password.

A team's `trackingUri` may carry credentials (`postgresql://user:secret@db/mlflow`,
`https://user:token@mlflow.example`); logs and error messages get the URI with `***` in
their place, since both end up in editors' output panes and bug reports.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def scheme(uri: str) -> str:
    return uri.split(":", 1)[0].lower() if ":" in uri else ""


def is_server_uri(uri: str) -> bool:
    """An MLflow tracking server (it chooses artifact locations), not a store written directly."""
    return scheme(uri) in ("http", "https")


def redacted(uri: str) -> str:
    """`uri` with the password of its user info, if any, replaced by `***`."""
    try:
        parts = urlsplit(uri)
        password = parts.password
    except ValueError:  # not a URL at all (a bad port, say): nothing is shown but the scheme
        return f"{scheme(uri)}://***" if scheme(uri) else uri
    if not password:
        return uri
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
