"""One analysis per document version, however many requests ask for it."""

from __future__ import annotations

from .extract import analyze
from .facts import ScriptFacts


class AnalysisCache:
    """Per-document cache keyed by (uri, version): one parse per document version."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[int | None, str, ScriptFacts]] = {}

    def get(self, uri: str, version: int | None, source: str) -> ScriptFacts:
        hit = self._entries.get(uri)
        if hit and (hit[0] == version if version is not None else hit[1] == source):
            return hit[2]
        facts = analyze(source)
        self._entries[uri] = (version, source, facts)
        return facts

    def forget(self, uri: str) -> None:
        self._entries.pop(uri, None)
