"""The Azure ML (SDK v1, azureml-core) workspace. The SDK is imported only in `sdk.py`."""

from __future__ import annotations

from .workspace import AzureMLWorkspace

__all__ = ["AzureMLWorkspace"]
