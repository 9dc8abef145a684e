"""Tracking URIs shown in logs and errors never carry a password."""

from __future__ import annotations

import pytest
from lensflow.workspaces.tracking.uris import is_server_uri, redacted


@pytest.mark.parametrize(
    ("uri", "shown"),
    [
        ("postgresql://bob:s3cr%40t@db:5432/ml", "postgresql://bob:***@db:5432/ml"),
        ("https://u:tok@mlflow.example/x?y=1", "https://u:***@mlflow.example/x?y=1"),
        ("http://u:p@[::1]:80/x", "http://u:***@[::1]:80/x"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("https://user@host/", "https://user@host/"),
        ("sqlite:////home/me/.lensflow/mlflow.db", "sqlite:////home/me/.lensflow/mlflow.db"),
        (
            "azureml://westeurope.api.azureml.ms/mlflow/v1.0/x",
            "azureml://westeurope.api.azureml.ms/mlflow/v1.0/x",
        ),
    ],
)
def test_redacted_hides_only_the_password(uri: str, shown: str) -> None:
    assert redacted(uri) == shown


@pytest.mark.parametrize(
    ("uri", "server"),
    [("http://h:5000", True), ("HTTPS://h", True), ("sqlite:///a.db", False),
     ("postgresql://h/db", False), ("file:///tmp/mlruns", False), ("mlruns", False)],
)  # fmt: skip
def test_is_server_uri(uri: str, server: bool) -> None:
    assert is_server_uri(uri) is server
