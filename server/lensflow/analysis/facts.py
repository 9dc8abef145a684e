"""The facts an analysis yields: immutable, so cached results can be shared freely."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """LSP-style range: 0-based lines, columns in UTF-16 code units."""

    start_line: int
    start_col: int
    end_line: int
    end_col: int


@dataclass(frozen=True, slots=True)
class TextEdit:
    span: Span
    new_text: str


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    message: str
    span: Span
    fix_title: str
    fix: tuple[TextEdit, ...]


@dataclass(frozen=True, slots=True)
class ModelSite:
    span: Span
    model_path: str | None


@dataclass(frozen=True, slots=True)
class ScriptFacts:
    uses_mlflow: bool
    track_anchor: Span | None
    experiment_name: str | None
    model_sites: tuple[ModelSite, ...]
    registered_model_name: str | None
    problems: tuple[Problem, ...]
