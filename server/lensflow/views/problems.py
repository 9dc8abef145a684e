"""The seed's pitfalls as diagnostics: `sklearn.externals.joblib`, azureml's `register_model`
against a local store, and `mlflow.<flavor>.log_model` against Azure ML. Which of them apply
depends on the workspace the settings select."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..analysis.fixes import LOG_MODEL
from ..lsp.utils import to_range

if TYPE_CHECKING:
    from lensflow_protocol.settings import Settings

    from ..analysis import Problem, ScriptFacts

SOURCE = "lensflow"
_SEVERITY = {
    # An ImportError on any current scikit-learn: the script cannot run at all.
    "sklearn-externals-joblib": types.DiagnosticSeverity.Error,
    "azureml-register-model": types.DiagnosticSeverity.Warning,
    # The run fails at that line, but only once it gets there: a warning, like the seed's.
    LOG_MODEL: types.DiagnosticSeverity.Warning,
}


def active_problems(settings: Settings, facts: ScriptFacts) -> list[Problem]:
    """azureml's register_model only hurts when the store is not Azure; log_model only when
    it is."""
    azure = settings.workspace != "local" or (settings.tracking_uri or "").startswith("azureml")
    wrong = LOG_MODEL if not azure else "azureml-register-model"
    return [p for p in facts.problems if p.code != wrong]


def to_diagnostics(settings: Settings, facts: ScriptFacts) -> list[types.Diagnostic]:
    return [
        types.Diagnostic(
            range=to_range(problem.span),
            message=problem.message,
            severity=_SEVERITY.get(problem.code, types.DiagnosticSeverity.Warning),
            code=problem.code,
            source=SOURCE,
        )
        for problem in active_problems(settings, facts)
    ]
