"""The SDK v2 adapter's sign-in choices and error mapping, with no request made."""

from __future__ import annotations

import pytest
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from lensflow.workspaces.azureml.errors import map_error
from lensflow.workspaces.azureml.interface import AuthMode
from lensflow.workspaces.azureml.sdk_v2 import make_credential
from lensflow_protocol.errors import NotSignedIn

SP = {"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}


@pytest.mark.parametrize(
    ("mode", "env", "expected"),
    [
        ("auto", SP, "ClientSecretCredential"),
        ("auto", {}, "DefaultAzureCredential"),
        ("servicePrincipal", SP, "ClientSecretCredential"),
        ("cli", {}, "AzureCliCredential"),
        ("msi", {}, "ManagedIdentityCredential"),
        ("msi", {"AZURE_CLIENT_ID": "c"}, "ManagedIdentityCredential"),
        ("interactive", {}, "InteractiveBrowserCredential"),
    ],
)
def test_each_sign_in_choice_is_an_azure_identity_credential(
    mode: AuthMode, env: dict[str, str], expected: str
) -> None:
    assert type(make_credential(mode, env)).__name__ == expected


def test_auto_never_opens_a_browser() -> None:
    credential = make_credential("auto", {})
    names = {type(c).__name__ for c in credential.credentials}
    assert "InteractiveBrowserCredential" not in names


def test_a_service_principal_without_its_variables_says_how_to_sign_in() -> None:
    with pytest.raises(NotSignedIn) as raised:
        make_credential("servicePrincipal", {"AZURE_TENANT_ID": "t"})
    assert "AZURE_CLIENT_SECRET" in raised.value.message and "az login" in raised.value.message


def _http(cls: type[HttpResponseError], status: int) -> HttpResponseError:
    error = cls(message=f"Operation returned an invalid status '{status}'")
    error.status_code = status
    return error


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (_http(ClientAuthenticationError, 401), "notSignedIn"),
        (_http(HttpResponseError, 403), "notSignedIn"),
        (_http(ResourceNotFoundError, 404), "notFound"),
        (_http(ResourceExistsError, 409), "conflict"),
        (_http(HttpResponseError, 400), "storeError"),
        (ServiceRequestError("Connection refused"), "unreachable"),
    ],
)
def test_azure_core_errors_map_by_class_and_status(exc: Exception, kind: str) -> None:
    assert map_error(exc, "list models").kind.value == kind


def _caused_by(exc: Exception, cause: Exception) -> Exception:
    exc.__cause__ = cause
    return exc


def test_a_token_request_that_never_reached_the_sign_in_service_is_the_network() -> None:
    """azure-identity wraps a refused token request in ClientAuthenticationError: unreachable,
    not "sign in"; a credential that is unavailable stays a sign-in matter."""
    from azure.identity import CredentialUnavailableError

    refused = ServiceRequestError("('Unable to connect to proxy', Connection refused)")
    wrapped = _caused_by(ClientAuthenticationError("Authentication failed: refused"), refused)
    assert map_error(wrapped, "list models").kind.value == "unreachable"
    unavailable = _caused_by(CredentialUnavailableError("no response from IMDS"), refused)
    assert map_error(unavailable, "list models").kind.value == "notSignedIn"
    assert map_error(ClientAuthenticationError("AADSTS7000215"), "x").kind.value == "notSignedIn"
