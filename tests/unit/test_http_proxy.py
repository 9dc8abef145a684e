"""`proxy_for` chooses the proxy that requests (MLflow's HTTP client) chooses, case by case."""

from __future__ import annotations

import os

import pytest
from lensflow.workspaces.tracking.http_proxy import proxy_for
from requests.utils import get_environ_proxies, prepend_scheme_if_needed, select_proxy

P = "http://proxy.test:3128"
CASES = [
    ("http://mlflow.test:5000", {}),
    ("http://mlflow.test:5000", {"http_proxy": P}),
    ("https://mlflow.test", {"http_proxy": P}),
    ("https://mlflow.test", {"HTTPS_PROXY": P}),
    ("https://mlflow.test", {"https_proxy": "", "HTTPS_PROXY": P}),  # empty lowercase clears
    ("https://mlflow.test", {"https_proxy": P, "HTTPS_PROXY": "http://other:1"}),
    ("http://mlflow.test", {"all_proxy": P}),
    ("http://mlflow.test", {"ALL_PROXY": P, "http_proxy": "http://other:1"}),
    ("http://mlflow.test", {"http_proxy": "proxy.test:3128"}),  # no scheme: http
    ("http://mlflow.example.com:5000", {"http_proxy": P, "no_proxy": "example.com"}),
    ("http://mlflow.example.com:5000", {"http_proxy": P, "no_proxy": ".example.com"}),
    ("http://mlflow.example.com:5000", {"http_proxy": P, "no_proxy": "ample.com"}),
    ("http://mlflow.example.com:5000", {"http_proxy": P, "no_proxy": "mlflow.example.com:5000"}),
    ("http://mlflow.example.com:5000", {"http_proxy": P, "no_proxy": "mlflow.example.com:80"}),
    ("http://MLflow.Example.com", {"http_proxy": P, "no_proxy": "example.COM"}),
    ("http://10.1.2.3:5000", {"http_proxy": P, "no_proxy": "10.0.0.0/8"}),
    ("http://10.1.2.3:5000", {"http_proxy": P, "no_proxy": "10.0.0.0/16"}),
    ("http://10.1.2.3:5000", {"http_proxy": P, "no_proxy": "10.1.2.3"}),
    ("http://10.1.2.3:5000", {"http_proxy": P, "no_proxy": "2.3"}),
    ("http://10.1.2.3:5000", {"http_proxy": P, "no_proxy": "10.1.2.3:5000"}),
    ("http://[::1]:5000", {"http_proxy": P, "no_proxy": "::1"}),
    ("http://mlflow.test", {"http_proxy": P, "no_proxy": "*"}),
    ("http://mlflow.test", {"http_proxy": P, "NO_PROXY": "mlflow.test"}),
    ("http://mlflow.test", {"http_proxy": P, "no_proxy": "", "NO_PROXY": "mlflow.test"}),
    ("http://mlflow.test", {"http_proxy": P, "no_proxy": " other.test , mlflow.test "}),
    ("http://mlflow.test", {"http_proxy": P, "REQUEST_METHOD": "GET"}),
    ("http://mlflow.test", {"HTTP_PROXY": P, "REQUEST_METHOD": "GET"}),  # CGI: not trusted
]


def requests_choice(uri: str) -> str | None:
    """What a requests Session that trusts the environment sends `uri` through."""
    proxy = select_proxy(uri, get_environ_proxies(uri, no_proxy=None))
    return prepend_scheme_if_needed(proxy, "http") if proxy else None


@pytest.mark.parametrize(("uri", "env"), CASES)
def test_proxy_for_agrees_with_requests(
    uri: str, env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(os.environ):
        if name.lower().endswith("_proxy") or name == "REQUEST_METHOD":
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert proxy_for(uri, env) == requests_choice(uri)
    assert proxy_for(uri) == requests_choice(uri)  # the server's own environment by default


def test_the_cases_cover_both_answers() -> None:
    answers = {proxy_for(uri, env) is None for uri, env in CASES}
    assert answers == {True, False}
