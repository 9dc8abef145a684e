"""The store worker's calls, named once for both ends of the pipe.

Each `StoreCall` says how its typed arguments travel (`encode`: the JSON "args" list), which
`MlflowStore` method the worker calls with them (`method`), and how the JSON "result" comes back
typed (`decode`). `StoreClient`'s methods go through `encode`/`decode`; the worker's dispatch is
`dispatch(store)`, built from the same table, so a call cannot exist on one side only.

Wire models are imported inside the functions: this module loads with the editor's server (via
`StoreClient`), which has no use for pydantic until a call is made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from .store_types import ModelFiles, RegistrationPlan, RunData

if TYPE_CHECKING:
    from lensflow_protocol.tracking import (
        ListExperimentsResult,
        ListModelsResult,
        ListRunsResult,
        RegisterModelArgs,
        RegisterModelResult,
        RunDetail,
    )

    from .mlflow_store import MlflowStore

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class StoreCall(Generic[P, R]):
    """One call: its name on the wire, and its three conversions."""

    name: str
    encode: Callable[P, list[object]]
    # The store's method that serves it; a WireModel result travels as its `.wire()`.
    method: Callable[[MlflowStore], Callable[..., object]]
    decode: Callable[[Any], R]


# --- argument encodings: positional JSON lists, in the order the store's method takes them ---
def _nothing() -> list[object]:
    return []


def _run_id(run_id: str) -> list[object]:
    return [run_id]


def _list_runs(experiment_name: str | None, script: str | None, limit: int) -> list[object]:
    return [experiment_name, script, limit]


def _register(args: RegisterModelArgs) -> list[object]:
    return [args.wire()]


def _finish(run_id: str, status: str, log_text: str) -> list[object]:
    return [run_id, status, log_text]


def _artifact(name: str, version: int | None) -> list[object]:
    return [name, version]


# --- worker side ---------------------------------------------------------------------------
def _taking_register_args(
    method: Callable[[MlflowStore], Callable[[RegisterModelArgs], R]],
) -> Callable[[MlflowStore], Callable[[object], R]]:
    """A store method on RegisterModelArgs, taking the wire dict the client sent (validated
    again here)."""

    def bind(store: MlflowStore) -> Callable[[object], R]:
        def call(raw: object) -> R:
            from lensflow_protocol.tracking import RegisterModelArgs

            return method(store)(RegisterModelArgs.model_validate(raw))

        return call

    return bind


# --- result decodings: wire dicts validated back into their models -------------------------
def _experiments(raw: Any) -> ListExperimentsResult:
    from lensflow_protocol.tracking import ListExperimentsResult

    return ListExperimentsResult.model_validate(raw)


def _runs(raw: Any) -> ListRunsResult:
    from lensflow_protocol.tracking import ListRunsResult

    return ListRunsResult.model_validate(raw)


def _run(raw: Any) -> RunDetail:
    from lensflow_protocol.tracking import RunDetail

    return RunDetail.model_validate(raw)


def _models(raw: Any) -> ListModelsResult:
    from lensflow_protocol.tracking import ListModelsResult

    return ListModelsResult.model_validate(raw)


def _registered(raw: Any) -> RegisterModelResult:
    from lensflow_protocol.tracking import RegisterModelResult

    return RegisterModelResult.model_validate(raw)


def _plan(raw: Any) -> RegistrationPlan:
    target = raw.get("mlflowPath")
    return RegistrationPlan(
        framework=str(raw["framework"]), path=str(raw["path"]),
        mlflowPath=None if target is None else str(target), ready=bool(raw["ready"]),
    )  # fmt: skip


def _none(raw: Any) -> None:
    return None


def _run_data(raw: Any) -> RunData:
    params, metrics, artifacts = raw  # a tuple travels as a JSON list
    return RunData(dict(params), {k: float(v) for k, v in metrics.items()}, list(artifacts))


def _model_files(raw: Any) -> ModelFiles:
    script = raw.get("script")
    return ModelFiles(
        name=str(raw["name"]), version=int(raw["version"]), framework=str(raw["framework"]),
        path=str(raw["path"]), script=None if script is None else str(script),
    )  # fmt: skip


def _optional_str(raw: Any) -> str | None:
    return None if raw is None else str(raw)


def _pong(raw: Any) -> str:
    return str(raw)


LIST_EXPERIMENTS = StoreCall(
    "list_experiments", _nothing, lambda store: store.list_experiments, _experiments
)
LIST_RUNS = StoreCall("list_runs", _list_runs, lambda store: store.list_runs, _runs)
GET_RUN = StoreCall("get_run", _run_id, lambda store: store.get_run, _run)
LIST_MODELS = StoreCall("list_models", _nothing, lambda store: store.list_models, _models)
PLAN_REGISTRATION = StoreCall(
    "plan_registration",
    _register,
    _taking_register_args(lambda store: store.plan_registration),
    _plan,
)
REGISTER_MODEL = StoreCall(
    "register_model", _register, _taking_register_args(lambda store: store.register_model),
    _registered,
)  # fmt: skip
FINISH_RUN = StoreCall("finish_run", _finish, lambda store: store.finish_run, _none)
RUN_DATA = StoreCall("run_data", _run_id, lambda store: store.run_data, _run_data)
MODEL_ARTIFACT = StoreCall(
    "model_artifact", _artifact, lambda store: store.model_artifact, _model_files
)
SHARE_RUNS_VIEW = StoreCall(
    "share_runs_view", _run_id, lambda store: store.share_runs_view, _optional_str
)
# Answered by the worker itself: it is alive and reading.
PING = StoreCall("ping", _nothing, lambda store: lambda: "pong", _pong)

CALLS: tuple[StoreCall[..., Any], ...] = (
    LIST_EXPERIMENTS, LIST_RUNS, GET_RUN, LIST_MODELS, PLAN_REGISTRATION, REGISTER_MODEL,
    FINISH_RUN, RUN_DATA, MODEL_ARTIFACT, SHARE_RUNS_VIEW, PING,
)  # fmt: skip


def dispatch(store: MlflowStore) -> dict[str, Callable[..., object]]:
    """The worker's method table: each call's name, bound to this store."""
    return {call.name: call.method(store) for call in CALLS}
