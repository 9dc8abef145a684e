"""The embedded `local` workspace: MLflow on SQLite under `.lensflow/`, no account, no network."""

from .workspace import LocalWorkspace

__all__ = ["LocalWorkspace"]
