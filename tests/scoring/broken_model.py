"""A model whose predict always fails: the service must answer a generic 500 and log why."""

from __future__ import annotations

from typing import Any


class BrokenModel:
    n_features_in_ = 10

    def predict(self, x: Any) -> Any:
        raise RuntimeError("internal model failure: weights are corrupt")
