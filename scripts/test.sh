#!/usr/bin/env bash
# Sets up Lensflow with its test extras, then lints, type-checks and runs the whole suite.
# This is the command CI runs (.ci/run) and the README gives.
set -euo pipefail
cd "$(dirname "$0")/.."
# The scoring app's tests serve ONNX and TensorFlow models: those extras come too.
bash scripts/setup.sh test,onnx,tensorflow

echo "== ruff"
.venv/bin/ruff check server protocol tests bench client-sample/python
.venv/bin/ruff format --check server protocol tests bench client-sample/python
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
