"""Model framework names: the one spelling every list of frameworks is derived from.

Plain Python like `names`: the language server reads these at start-up, before pydantic.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

ModelFramework = Literal["ScikitLearn", "Onnx", "TensorFlow", "MLflow"]

# In the Literal's order: messages that list them read the same everywhere.
FRAMEWORKS: Final[tuple[ModelFramework, ...]] = get_args(ModelFramework)
