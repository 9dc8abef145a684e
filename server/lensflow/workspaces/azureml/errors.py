"""Turns whatever the Azure SDK raises into a domain error a person can act on.

Matching goes by class names along the exception's MRO and its cause chain, so this module
needs no azureml import and tests can raise look-alike classes.
"""

from __future__ import annotations

import errno
import socket
from collections.abc import Mapping

from lensflow_protocol.errors import (
    Conflict,
    LensflowError,
    NotFound,
    NotSignedIn,
    StoreError,
    Unreachable,
)

SIGN_IN_HELP = (
    "Sign in one of these ways, then retry: set AZURE_TENANT_ID, AZURE_CLIENT_ID and "
    "AZURE_CLIENT_SECRET (a service principal) in the server's environment; run `az login` "
    "(Azure CLI); or run on an Azure machine with a managed identity."
)
SERVICE_PRINCIPAL_VARS = ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")


def uses_service_principal(mode: str, env: Mapping[str, str]) -> bool:
    """Whether a service principal signs in: when asked for, or (auto) when its variables are
    all set. Asked for without them is a sign-in error a person can fix."""
    has_sp = all(env.get(name) for name in SERVICE_PRINCIPAL_VARS)
    if mode == "servicePrincipal" and not has_sp:
        needed = ", ".join(SERVICE_PRINCIPAL_VARS)
        raise NotSignedIn(f"A service principal needs {needed}. {SIGN_IN_HELP}")
    return mode == "servicePrincipal" or (mode == "auto" and has_sp)


NETWORK_HELP = (
    "Check the network connection (proxy, VPN, firewall) and that the workspace in config.json "
    "still exists, then retry."
)

_AUTH_NAMES = {
    "AuthenticationException",
    "ClientAuthenticationError",
    "CredentialUnavailableError",
    "AdalError",
    "MsalError",
    "MsalServiceError",
    "AuthenticationError",
}
_NETWORK_NAMES = {
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "Timeout",
    "NewConnectionError",
    "MaxRetryError",
    "NameResolutionError",
    "ServiceRequestError",
    "ServiceResponseError",
    "gaierror",
}
_NET_ERRNOS = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ECONNREFUSED, errno.ETIMEDOUT}
_AUTH_WORDS = ("unauthorized", "authentication", "aadsts", "az login", "credential")
_NOT_FOUND_WORDS = ("not found", "notfound", "does not exist", "no such", "404")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        inner = getattr(current, "inner_exception", None)
        current = current.__cause__ or current.__context__ or inner
    return seen


def _names(exc: BaseException) -> set[str]:
    return {cls.__name__ for cls in type(exc).__mro__}


def _status(chain: list[BaseException]) -> int | None:
    """The HTTP status of azure-core's HttpResponseError (and its subclasses), if any."""
    for e in chain:
        status = getattr(e, "status_code", None)
        if isinstance(status, int) and "HttpResponseError" in _names(e):
            return status
    return None


def _is_network(exc: BaseException) -> bool:
    return bool(
        _names(exc) & _NETWORK_NAMES
        or isinstance(exc, socket.gaierror | ConnectionError | TimeoutError)
        or (isinstance(exc, OSError) and exc.errno in _NET_ERRNOS)
    )


def map_error(exc: BaseException, doing: str) -> LensflowError:
    """The domain error for `exc`, raised while `doing` (e.g. "create cluster aks-1")."""
    if isinstance(exc, LensflowError):
        return exc
    chain = _chain(exc)
    text = " ".join(str(e) for e in chain).lower()
    first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
    signed_out = NotSignedIn(
        f"Azure ML refused the sign-in while trying to {doing} ({first}). {SIGN_IN_HELP}"
    )
    not_found = NotFound(f"Azure ML found nothing to {doing} ({first}).")
    # azure-identity wraps a token request that never reached the sign-in service in a
    # ClientAuthenticationError ("Authentication failed: ...Connection refused"): that is the
    # network, not the sign-in. A credential that is unavailable stays a sign-in matter.
    if any(_is_network(e) for e in chain) and not any(
        "CredentialUnavailableError" in _names(e) for e in chain
    ):
        return Unreachable(f"Azure ML could not be reached to {doing} ({first}). {NETWORK_HELP}")
    status = _status(chain)
    if any(_names(e) & _AUTH_NAMES for e in chain) or status in (401, 403):
        return signed_out
    if status == 404:
        return not_found
    if status == 409:
        return Conflict(f"Azure ML refused to {doing}: it conflicts with what is there ({first}).")
    if "401" in text or "403" in text or any(word in text for word in _AUTH_WORDS):
        return signed_out
    if any(word in text for word in _NOT_FOUND_WORDS):
        return not_found
    return StoreError(f"Azure ML failed to {doing}: {type(exc).__name__}: {first}")


def deadline_error(doing: str, seconds: float) -> Unreachable:
    return Unreachable(
        f"Azure ML did not answer within {seconds:.0f}s while trying to {doing}. {NETWORK_HELP} "
        "If a browser sign-in is waiting, finish it or use one of the non-interactive sign-ins.",
        timeoutS=seconds,
    )
