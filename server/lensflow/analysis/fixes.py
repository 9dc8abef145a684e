"""Problems with a quick fix each: the removed sklearn joblib shim, azureml register_model,
and `mlflow.<flavor>.log_model` against an Azure ML store."""

from __future__ import annotations

from tree_sitter import Node

from .facts import Problem, Span, TextEdit
from .parsing import _Doc, _statement, _text

_JOBLIB, _AZURE = "sklearn-externals-joblib", "azureml-register-model"
LOG_MODEL = "mlflow-log-model-azureml"
_JOBLIB_MSG = "sklearn.externals.joblib was removed in scikit-learn 0.23; import joblib directly."
_JOBLIB_FIX = "Replace with `import joblib`"
_AZURE_MSG = (
    "azureml.mlflow.register_model is deprecated and fails against a local MLflow store "
    "(AttributeError: 'aml_store'); use Lensflow's Register model lens or mlflow.register_model."
)
_AZURE_FIX = "Remove the azureml.mlflow.register_model call"
_LOG_MODEL_MSG = (
    "With MLflow >= 2.19, {call} against an Azure ML tracking URI fails with a 404 on "
    "`logged-models`. Save the model file and log it as an artifact instead (the seed's "
    "joblib.dump + mlflow.log_artifact), then register it with the Register model lens."
)
_LOG_MODEL_FIX = "Save with joblib.dump and log with mlflow.log_artifact"


def _joblib_problem(
    doc: _Doc, imp: Node, module: str, items: list[Node], bare: list[str]
) -> Problem:
    """`from sklearn.externals import joblib` -> `import joblib`, keeping the other names."""
    hit = items[bare.index("joblib")]
    alias = _text(hit.child_by_field_name("alias"))
    new = "import joblib" + (f" as {alias}" if alias else "")
    if others := [_text(i) for i in items if i != hit]:
        new += f"\n{' ' * imp.start_point.column}from {module} import {', '.join(others)}"
    fix = (TextEdit(doc.span(imp), new),)
    return Problem(_JOBLIB, _JOBLIB_MSG, doc.span(imp), _JOBLIB_FIX, fix)


# An azureml register_model call's statement, and its deletion (None: a compound header's call
# has no safe one); an azureml import, and what its fix puts in its place.
AzCall = tuple[Span, TextEdit | None]
AzImport = tuple[Span, TextEdit]


def az_records(
    doc: _Doc, calls: list[Node], imports: list[tuple[Node, list[Node]]]
) -> tuple[list[AzCall], list[AzImport]]:
    found: list[AzCall] = []
    for call in calls:
        stmt = _statement(call)
        found.append((doc.span(stmt), doc.delete_lines(stmt) if stmt.type != "call" else None))
    imps: list[AzImport] = []
    for imp, keep in imports:
        kept = f"from azureml.mlflow import {', '.join(_text(k) for k in keep)}"
        imps.append(
            (doc.span(imp), TextEdit(doc.span(imp), kept) if keep else doc.delete_lines(imp))
        )
    return found, imps


def _fix(edits: list[TextEdit]) -> tuple[TextEdit, ...]:
    out: list[TextEdit] = []
    for e in sorted(edits, key=lambda e: (e.span.start_line, e.span.start_col)):
        last = out[-1].span if out else Span(0, 0, 0, 0)
        if (e.span.start_line, e.span.start_col) >= (last.end_line, last.end_col):
            out.append(e)  # LSP forbids overlapping edits in one change
    return tuple(out)


def az_call_problem(span: Span, edit: TextEdit | None, imports: list[AzImport]) -> Problem:
    """A call's problem; its fix takes the imports along when given (the call is the only one)."""
    if edit is None:
        return Problem(_AZURE, _AZURE_MSG, span, _AZURE_FIX, ())
    edits = _fix([edit, *(e for _, e in imports)]) if imports else (edit,)
    return Problem(_AZURE, _AZURE_MSG, span, _AZURE_FIX, edits)


def azure_problems(
    calls: list[AzCall], imports: list[AzImport], made: list[Problem] | None = None
) -> list[Problem]:
    """One problem per call (`made` already, when there are several) and per import; the
    import's fix removes every call, and a call's fix takes the import along when it is the only
    call (the import may only go once no remaining call needs it)."""
    alone = imports if len(calls) == 1 else []
    problems = (
        list(made)
        if made is not None and not alone
        else [az_call_problem(span, edit, alone) for span, edit in calls]
    )
    deletions = {span: edit for span, edit in calls if edit is not None}  # one per statement
    for span, _ in imports:
        edits = _fix([*deletions.values(), *(e for _, e in imports)])
        problems.append(Problem(_AZURE, _AZURE_MSG, span, _AZURE_FIX, edits))
    return problems


def log_model_problem(
    doc: _Doc, call: Node, qual: str, model: Node | None, has_joblib: bool
) -> Problem:
    """Flags `mlflow.<flavor>.log_model`; the sklearn flavor gets the seed's pattern as a fix."""
    stmt = _statement(call)
    edits: tuple[TextEdit, ...] = ()
    if qual == "mlflow.sklearn.log_model" and model is not None and stmt.type != "call":
        indent = " " * stmt.start_point.column
        new = (
            f"joblib.dump(value={_text(model)}, filename='model.pkl')\n"
            f"{indent}mlflow.log_artifact('model.pkl')"
        )
        edits = (TextEdit(doc.span(stmt), new),)
        if not has_joblib:  # the import goes first: edits stay in document order
            edits = (TextEdit(Span(0, 0, 0, 0), "import joblib\n"), *edits)
    message = _LOG_MODEL_MSG.format(call=qual)
    return Problem(LOG_MODEL, message, doc.span(stmt), _LOG_MODEL_FIX, edits)
