"""Facts about a Python training script for lenses, code actions and diagnostics.

Tree-sitter (not ``ast``) so half-typed, broken code still yields facts for its well-formed
parts; matching runs C-side in one compiled query and Python only sees the matched nodes.
Importing this package stays cheap: the parser and queries are built on the first analysis.
"""

from __future__ import annotations

from .cache import AnalysisCache
from .extract import analyze
from .facts import LogSite, ModelSite, Problem, ScriptFacts, Span, TextEdit

__all__ = [
    "AnalysisCache",
    "LogSite",
    "ModelSite",
    "Problem",
    "ScriptFacts",
    "Span",
    "TextEdit",
    "analyze",
]
