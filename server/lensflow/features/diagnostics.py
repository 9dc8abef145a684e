"""The seed's pitfalls as diagnostics: `sklearn.externals.joblib`, azureml's
`register_model` against a local store, and `mlflow.<flavor>.log_model` against Azure ML.
Their quick fixes are in `code_actions`.

LSP methods: textDocument/didOpen, textDocument/didChange, textDocument/didClose,
textDocument/publishDiagnostics.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lsprotocol import types

from ..analysis import Problem, ScriptFacts
from ..analysis.fixes import LOG_MODEL
from .lenses import to_range

if TYPE_CHECKING:
    from ..server import LensflowServer

SOURCE = "lensflow"
_SEVERITY = {
    # An ImportError on any current scikit-learn: the script cannot run at all.
    "sklearn-externals-joblib": types.DiagnosticSeverity.Error,
    "azureml-register-model": types.DiagnosticSeverity.Warning,
    # The run fails at that line, but only once it gets there: a warning, like the seed's.
    LOG_MODEL: types.DiagnosticSeverity.Warning,
}


def active_problems(ls: LensflowServer, facts: ScriptFacts) -> list[Problem]:
    """azureml's register_model only hurts when the store is not Azure; log_model only when
    it is."""
    settings = ls.settings
    azure = settings.workspace != "local" or (settings.tracking_uri or "").startswith("azureml")
    wrong = LOG_MODEL if not azure else "azureml-register-model"
    return [p for p in facts.problems if p.code != wrong]


def to_diagnostics(ls: LensflowServer, facts: ScriptFacts) -> list[types.Diagnostic]:
    return [
        types.Diagnostic(
            range=to_range(problem.span),
            message=problem.message,
            severity=_SEVERITY.get(problem.code, types.DiagnosticSeverity.Warning),
            code=problem.code,
            source=SOURCE,
        )
        for problem in active_problems(ls, facts)
    ]


def publish(ls: LensflowServer, uri: str) -> None:
    facts = ls.facts(uri)
    if facts is None:
        return
    doc = ls.workspace.get_text_document(uri)
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(
            uri=uri, diagnostics=to_diagnostics(ls, facts), version=doc.version
        )
    )


def publish_all(ls: LensflowServer) -> None:
    for uri in list(ls.workspace.text_documents):
        publish(ls, uri)


def register(server: LensflowServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: LensflowServer, params: types.DidOpenTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)
        facts = ls.facts(params.text_document.uri)
        if facts is not None and facts.uses_mlflow:
            ls.warm()  # lenses will want the store next
            script = ls.script_key(params.text_document.uri)
            if facts.log_calls and script is not None:
                ls.history.ensure(script)  # and inlay hints and hovers its runs

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: LensflowServer, params: types.DidChangeTextDocumentParams) -> None:
        publish(ls, params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LensflowServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        ls.analyses.forget(uri)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )
