"""Comparing runs: the `lensflow.compareRuns` command (the `Compare runs` lens is in `lenses`).

LSP methods: workspace/executeCommand (lensflow.compareRuns).
The table and plot come from `workspaces.insight.compare`, which draws in a child process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lensflow_protocol import names

from ..lsp.feature import Feature, command
from ..paths import script_path

if TYPE_CHECKING:
    from lensflow_protocol.insight import CompareRunsArgs, CompareRunsResult


class Compare(Feature):
    @command(names.COMPARE_RUNS)
    async def compare_runs(self, args: CompareRunsArgs) -> CompareRunsResult:
        from ..workspaces.insight.compare import compare_runs

        if args.script is not None:
            args = args.model_copy(
                update={"script": str(script_path(args.script, self.server.root))}
            )
        plots = self.server.resolved.home / "plots"
        return await compare_runs(self.server.active_workspace(), args, plots)
