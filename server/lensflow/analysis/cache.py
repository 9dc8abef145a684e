"""One analysis per document version, however many requests ask for it; a new version costs
what its edit touched (`Incremental`)."""

from __future__ import annotations

from .facts import ScriptFacts
from .incremental import Incremental


class AnalysisCache:
    """Per-document cache keyed by (uri, version): one update per document version."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int | None, str, Incremental]] = {}
        self.analysed = 0  # versions analysed so far (each one made new objects)

    def get(self, uri: str, version: int | None, source: str) -> ScriptFacts:
        hit = self._entries.get(uri)
        if (
            hit
            and hit[2].facts
            and (hit[0] == version if version is not None else hit[1] == source)
        ):
            return hit[2].facts
        analysis = hit[2] if hit else Incremental()
        facts = analysis.update(source)
        self.analysed += 1
        self._entries[uri] = (version, source, analysis)
        return facts

    def forget(self, uri: str) -> None:
        self._entries.pop(uri, None)
