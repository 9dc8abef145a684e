"""Lensflow benchmarks: each figure is a ratio to a peer measured in the same run.

Run them all with `python -m bench` from the repository root; see bench/README.md.
These are not pytest tests (no `test_*` names, and pytest only collects `tests/`).
"""
