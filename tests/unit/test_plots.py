"""The plot child: a real `python -m lensflow.workspaces.insight.plots` writes an SVG, or
says why not."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from lensflow.workspaces.insight.plots import PlotSpec, Point, draw

SVG = "{http://www.w3.org/2000/svg}"


def texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]


async def test_categorical_param_and_missing_values(tmp_path: Path) -> None:
    path = tmp_path / "plots" / "c.svg"  # the folder does not exist yet
    points = [
        Point("run-a", 0.8, "adam"),
        Point("run-b", None, "sgd"),  # no metric: left out, but still a run on the axis
        Point("run-c", 0.9, "sgd", best=True),
    ]
    spec = PlotSpec(str(path), "accuracy", points, "optimizer", "accuracy of 3 runs", "best")

    assert await draw(spec) is None
    found = texts(path)
    for label in (
        "accuracy over runs",
        "accuracy against optimizer",
        "optimizer",
        "adam",
        "sgd",
        "run-a",
        "run-b",
        "run-c",
        "accuracy of 3 runs",
        "best",
    ):
        assert label in found, (label, found)
    assert not list(path.parent.glob(".*.tmp"))  # written aside, then moved into place
    first = path.read_bytes()
    assert await draw(spec) is None
    assert path.read_bytes() == first  # the same numbers give the same file


async def test_no_param_gives_one_panel(tmp_path: Path) -> None:
    path = tmp_path / "one.svg"
    spec = PlotSpec(str(path), "loss", [Point("a", 1.0), Point("b", 0.5, best=True)])
    assert await draw(spec) is None
    found = texts(path)
    assert "loss over runs" in found
    assert not [t for t in found if "against" in t]


async def test_failure_is_a_sentence_not_an_exception(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    spec = PlotSpec(str(blocker / "x.svg"), "mse", [Point("a", 1.0)])
    error = await draw(spec)
    assert error is not None
    assert error.startswith("Could not draw the plot: ")
    assert str(blocker) in error
