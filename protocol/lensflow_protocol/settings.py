"""Settings, from `initializationOptions` and `workspace/didChangeConfiguration`."""

from __future__ import annotations

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
