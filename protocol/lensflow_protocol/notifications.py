"""Notifications the server sends (past tense, or a stream)."""

from __future__ import annotations

from typing import Literal

from .base import WireModel
from .tracking import RunStatus


class RunOutputParams(WireModel):
    run_id: str
    stream: Literal["stdout", "stderr"]
    text: str


class RunUpdatedParams(WireModel):
    run_id: str
    status: RunStatus
    script: str
    experiment_name: str
