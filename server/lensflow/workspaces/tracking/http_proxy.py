"""Which HTTP proxy MLflow's client would go through to reach a tracking server: requests' own
choice (MLflow's client is a requests session that trusts the environment), so the up-check
and the run agree on `<scheme>_proxy`, `all_proxy` and `no_proxy` by construction."""

from __future__ import annotations


def proxy_for(uri: str) -> str | None:
    """The proxy (a URL with a scheme) a request to `uri` goes through, from this process's
    environment; None: it goes direct. Raises ValueError for a URI with a bad port."""
    # requests is MLflow's dependency, loaded only when a run asks for the check.
    from requests.utils import get_environ_proxies, prepend_scheme_if_needed, select_proxy

    proxy = select_proxy(uri, get_environ_proxies(uri, no_proxy=None))
    return prepend_scheme_if_needed(proxy, "http") if proxy else None
