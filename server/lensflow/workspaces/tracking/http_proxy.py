"""Which HTTP proxy MLflow's client would go through to reach a tracking server.

MLflow talks to a tracking server with a `requests` session that trusts the environment. This
answers as requests 2.x does (`resolve_proxies`, `should_bypass_proxies`, `select_proxy`, and
urllib's `proxy_bypass_environment` on Linux), from the standard library and an environment
given as a mapping: `<scheme>_proxy`, else `all_proxy` (a lowercase name wins over its uppercase
twin), unless `no_proxy` covers the host: `*`, the host or a domain it is in (with or without
the port), an IPv4 address or a CIDR network holding it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from urllib.parse import urlsplit


def environment_proxies(env: Mapping[str, str]) -> dict[str, str]:
    """urllib's `getproxies_environment` over `env`: {scheme: proxy URL, "no": hosts}."""
    found: dict[str, str] = {}
    for name, value in env.items():
        if value and name.lower().endswith("_proxy"):
            found[name.lower()[:-6]] = value
    if "REQUEST_METHOD" in env:  # a CGI script: HTTP_PROXY may come from a client's header
        found.pop("http", None)
    # Names ending in lowercase "_proxy" win; an empty one even clears its uppercase twin.
    for name, value in env.items():
        if name.endswith("_proxy"):
            if value:
                found[name.lower()[:-6]] = value
            else:
                found.pop(name.lower()[:-6], None)
    return found


def _is_ipv4(host: str) -> bool:
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    return True


def _in_domains(names: list[str], host: str, with_port: str) -> bool:
    """True when one of `names` is the host, or a domain it is in (a leading dot changes
    nothing), with or without the port."""
    for name in (n.strip().lstrip(".").lower() for n in names):
        if not name:
            continue
        if name in (host, with_port):
            return True
        if host.endswith(f".{name}") or with_port.endswith(f".{name}"):
            return True
    return False


def bypassed(host: str, port: int | None, env: Mapping[str, str]) -> bool:
    """True when `no_proxy` sends requests to `host` straight to it."""
    host = host.lower()
    no_proxy = env.get("no_proxy") or env.get("NO_PROXY") or ""
    names = [n for n in no_proxy.replace(" ", "").split(",") if n]
    with_port = f"{host}:{port}" if port else host
    if _is_ipv4(host):
        for name in names:
            if "/" in name:
                try:
                    if ipaddress.ip_address(host) in ipaddress.ip_network(name, strict=False):
                        return True
                except ValueError:  # not a network, or a host requests reads as IPv4 alone
                    continue
            elif host == name:
                return True
    elif _in_domains(names, host, with_port):
        return True
    # requests then asks urllib, which reads no_proxy its own way.
    no = environment_proxies(env).get("no", "")
    return no.strip() == "*" or _in_domains(no.split(","), host, host)


def proxy_for(uri: str, env: Mapping[str, str] | None = None) -> str | None:
    """The proxy (a URL with a scheme) a request to `uri` goes through; None: it goes direct.
    Raises ValueError for a URI with a bad port."""
    env = os.environ if env is None else env
    parts = urlsplit(uri)
    if not parts.hostname or bypassed(parts.hostname, parts.port, env):
        return None
    proxies = environment_proxies(env)
    proxy = proxies.get(parts.scheme.lower()) or proxies.get("all")
    if not proxy:
        return None
    return proxy if "://" in proxy else f"http://{proxy}"  # as requests reads "host:port"
