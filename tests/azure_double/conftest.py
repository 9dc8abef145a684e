"""Fixtures: the Azure double on 127.0.0.1 and a real azure-ai-ml MLClient pointed at it.

Every test that uses ``azure_double`` has all the double's JSON answers checked against
Microsoft's REST spec when it ends (``spec_validation.assert_conforms``).
"""

from __future__ import annotations

import socket
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from azure.core.credentials import AccessToken

from tests.azure_double.children import azure_child_env, fake_az  # noqa: F401
from tests.azure_double.server import AzureDouble, serve
from tests.azure_double.spec_validation import assert_conforms
from tests.azure_double.tls import make_tls_files
from tests.azure_double.tracking import azure_tracking, mlflow_server, tracking_service  # noqa: F401

with warnings.catch_warnings():
    # azure-ai-ml 1.23 declares marshmallow fields that marshmallow 3.26 warns about, hundreds
    # of times, when it is first imported: import it once here, quietly.
    warnings.simplefilter("ignore", DeprecationWarning)
    import azure.ai.ml.entities  # noqa: F401


class StaticTokenCredential:
    """A TokenCredential that hands out one fixed bearer token and remembers the scopes asked."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(
        self,
        *scopes: str,
        claims: str | None = None,
        tenant_id: str | None = None,
        **kwargs: Any,
    ) -> AccessToken:
        self.scopes.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


@pytest.fixture(scope="session")
def azure_double_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzureDouble]:
    tls = make_tls_files(
        tmp_path_factory.mktemp("azure-double-tls"), ["localhost", "*.blob.localhost"]
    )
    with serve(AzureDouble(), tls) as double:
        try:
            yield double
        finally:
            double.online.close()  # no scorer outlives the session


def _resolve_localhost_names(monkeypatch: pytest.MonkeyPatch) -> None:
    """Resolve ``*.localhost`` to 127.0.0.1 in this process (RFC 6761, section 6.3).

    azure-ai-ml reaches a datastore at ``https://<account>.blob.<storage suffix>``; the double's
    suffix is ``localhost:<port>``. systemd-resolved answers such names with the loopback
    address, but this machine's glibc (``hosts: files dns``) does not, so the tests do.
    """
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(host, str) and host.lower().endswith(".localhost"):
            host = "127.0.0.1"
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def azure_double(
    azure_double_server: AzureDouble, monkeypatch: pytest.MonkeyPatch
) -> Iterator[AzureDouble]:
    """A fresh workspace on the double, this process's SDKs pointed at it, the spec checked."""
    double = azure_double_server
    double.reset()
    monkeypatch.setenv("ARM_CLOUD_METADATA_URL", double.metadata_url)
    assert double.ca_bundle is not None
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(double.ca_bundle))
    monkeypatch.setenv("AZUREML_SDKV2_TELEMETRY_OPTOUT", "1")
    # azure-ai-ml writes the cloud it found into AZUREML_CURRENT_CLOUD: start without it and
    # put back what was there before (setenv first, so that delenv records the original).
    monkeypatch.setenv("AZUREML_CURRENT_CLOUD", "")
    monkeypatch.delenv("AZUREML_CURRENT_CLOUD")
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost,.localhost")
    _resolve_localhost_names(monkeypatch)
    yield double
    assert_conforms(double.exchanges)


@pytest.fixture
def credential(azure_double: AzureDouble) -> StaticTokenCredential:
    return StaticTokenCredential(next(iter(azure_double.accepted_tokens)))


@pytest.fixture
def ml_client(azure_double: AzureDouble, credential: StaticTokenCredential) -> Any:
    from azure.ai.ml import MLClient

    return MLClient(
        credential,
        subscription_id=azure_double.subscription_id,
        resource_group_name=azure_double.resource_group,
        workspace_name=azure_double.workspace_name,
        enable_telemetry=False,
        show_progress=False,
    )


@pytest.fixture
def model_file(tmp_path: Path) -> Path:
    path = tmp_path / "model.pkl"
    path.write_bytes(b"\x80\x04lensflow custom model bytes\x00")
    return path


@pytest.fixture
def mlflow_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "mlflow-model"
    folder.mkdir()
    (folder / "MLmodel").write_text(
        "artifact_path: model\n"
        "flavors:\n"
        "  python_function:\n"
        "    env: conda.yaml\n"
        "    loader_module: mlflow.sklearn\n"
        "    model_path: model.pkl\n"
        "    python_version: 3.11.7\n"
        "  sklearn:\n"
        "    pickled_model: model.pkl\n"
        "    serialization_format: cloudpickle\n"
        "    sklearn_version: 1.5.2\n"
        "mlflow_version: 3.15.0\n"
    )
    (folder / "model.pkl").write_bytes(b"\x80\x04lensflow mlflow model bytes\x00")
    (folder / "conda.yaml").write_text("name: model\ndependencies:\n  - python=3.11\n")
    return folder
