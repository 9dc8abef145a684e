"""Comparing runs: the `lensflow.compareRuns` command, and the `Compare runs` lens above
`with mlflow.start_run()` once the script has two runs.

LSP methods: workspace/executeCommand (lensflow.compareRuns); the lens is served through
textDocument/codeLens (wired in `lenses`) and may ask for workspace/codeLens/refresh.
The lens is only ever sent with its command: a lens that resolved to nothing would show as
"Unresolved lens" in some editors. So it is offered once the runs cached for the lenses say
there are two; when they are not cached yet, they are fetched aside and lenses refreshed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from lensflow_protocol import names
from lsprotocol import types

from .. import commands
from ..paths import script_path

if TYPE_CHECKING:
    from lensflow_protocol.insight import CompareRunsArgs, CompareRunsResult
    from lensflow_protocol.tracking import RunInfo

    from ..server import LensflowServer

log = logging.getLogger(__name__)
# Fetches in flight, by script: one per script, however often the editor asks for lenses.
_filling: dict[str, asyncio.Task[None]] = {}


def _before_key(script: str, newest_run_id: str) -> str:
    # Keyed by the newest run, so the answer goes stale by itself when a new run arrives.
    return f"{script}\0before\0{newest_run_id}"


def remember_previous(ls: LensflowServer, script: str, runs: Sequence[RunInfo]) -> None:
    """Keeps the run before the newest, from a fresh newest-first list of the script's runs."""
    if runs:
        ls.last_runs[_before_key(script, runs[0].run_id)] = runs[1] if len(runs) > 1 else None


def _has_two_runs(ls: LensflowServer, script: str) -> bool | None:
    """True or False from the cache; None when the cache cannot tell yet."""
    if script not in ls.last_runs:
        return None
    newest = ls.last_runs[script]
    if newest is None:
        return False
    before = _before_key(script, newest.run_id)
    return None if before not in ls.last_runs else ls.last_runs[before] is not None


def compare_lenses(ls: LensflowServer, uri: str, where: types.Range) -> list[types.CodeLens]:
    """`Compare runs`, if the cache says so; building lenses never waits on the store."""
    script = ls.script_key(uri)
    if script is None:
        return []
    known = _has_two_runs(ls, script)
    if known is None:
        _fill_later(ls, uri, script)
    if not known:
        return []
    command = types.Command(
        title="Compare runs", command=names.COMPARE_RUNS, arguments=[{"script": uri}]
    )
    return [types.CodeLens(range=where, command=command)]


def _fill_later(ls: LensflowServer, uri: str, script: str) -> None:
    if script not in _filling:
        _filling[script] = asyncio.ensure_future(_fill(ls, uri, script))


async def _fill(ls: LensflowServer, uri: str, script: str) -> None:
    from lensflow_protocol.errors import LensflowError
    from lensflow_protocol.tracking import ListRunsArgs

    from .lenses import last_run  # lenses imports this module
    from .tracking import refresh_lenses

    try:
        if await last_run(ls, uri) is not None and _has_two_runs(ls, script) is None:
            listed = await ls.active_workspace().list_runs(ListRunsArgs(script=script, limit=2))
            remember_previous(ls, script, listed.runs)
        if _has_two_runs(ls, script):
            await refresh_lenses(ls)  # the lens left out above can be shown now
    except LensflowError as exc:  # the Last run lens says what is wrong
        log.info("runs of %s for the Compare lens: %s", script, exc.message)
    except Exception:
        log.warning("runs of %s for the Compare lens", script, exc_info=True)
    finally:
        _filling.pop(script, None)


def register(server: LensflowServer) -> None:
    @commands.register(server, names.COMPARE_RUNS)
    async def compare_runs(ls: LensflowServer, args: CompareRunsArgs) -> CompareRunsResult:
        from ..workspaces.insight.compare import compare_runs

        if args.script is not None:
            args = args.model_copy(update={"script": str(script_path(args.script, ls.root))})
        return await compare_runs(ls.active_workspace(), args, ls.resolved.home / "plots")
