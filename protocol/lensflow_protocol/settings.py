"""Settings, from `initializationOptions` and `workspace/didChangeConfiguration`."""

from __future__ import annotations

from typing import Literal

from pydantic import ConfigDict, Field

from .base import SafeStr, WireModel


class Settings(WireModel):
    # Editors send their whole configuration section; keys we don't know are not an error here.
    model_config = ConfigDict(extra="ignore")

    workspace: SafeStr = Field(
        default="local", description='"local" or the path of an Azure ML config.json.'
    )
    tracking_uri: SafeStr | None = Field(
        default=None, description="Any MLflow tracking URI; default: the workspace's own store."
    )
    python: SafeStr | None = Field(
        default=None,
        description=(
            "Interpreter for training scripts; default: the workspace's .venv, else the server's."
        ),
    )
    home: SafeStr | None = Field(
        default=None, description="State folder; default: <first workspace folder>/.lensflow."
    )
    azure_auth: Literal["auto", "servicePrincipal", "cli", "msi", "interactive"] = Field(
        default="auto",
        description=(
            "Azure ML sign-in. auto: a service principal from AZURE_TENANT_ID/AZURE_CLIENT_ID/"
            "AZURE_CLIENT_SECRET, else the Azure CLI login, else a managed identity. "
            "interactive (a browser) only when chosen here."
        ),
    )
    azure_sdk: Literal["v1", "v2"] = Field(
        default="v2",
        description=(
            "Which Azure ML SDK an Azure workspace drives. v2: azure-ai-ml, managed online "
            "endpoints or an attached Kubernetes cluster. v1: azureml-core (past its end of "
            "support, 2026-06-30), the seed's AKS path."
        ),
    )


class GetWorkspaceArgs(WireModel):
    pass


class WorkspaceInfo(WireModel):
    """Which workspace the settings select: the result of `getWorkspace` and the params of
    `lensflow/workspaceChanged`. Described from the settings alone: nothing signs in for it."""

    kind: Literal["local", "azureml"]
    name: str = Field(description="The folder's name (local) or the Azure ML workspace's name.")
    home: str | None = Field(default=None, description="The local state folder.")
    tracking_uri: str | None = Field(
        default=None, description="Where runs go; null for Azure until it is asked for."
    )
    config_path: str | None = Field(default=None, description="The Azure ML config.json.")
    subscription_id: str | None = None
    resource_group: str | None = None
