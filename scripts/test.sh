#!/usr/bin/env bash
# Sets up Lensflow with its test extras, then lints, type-checks and runs the whole suite.
# This is the command CI runs (.ci/run) and the README gives.
set -euo pipefail
cd "$(dirname "$0")/.."
# The scoring app's tests serve ONNX and TensorFlow models, and the Azure ML workspace's tests
# load the real azureml SDK classes they substitute: those extras come too.
bash scripts/setup.sh test,onnx,tensorflow,azureml,notebooks
# The client samples' tests: Node.js for the VS Code extension and the Node client (the
# machine's own, else Debian's), Neovim and Emacs for the editor set-ups.
if ! command -v npm >/dev/null; then
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq nodejs npm >/dev/null
fi
# tests/scoring/test_postman.py: Postman's converter and newman, exactly as locked.
(cd tests/clients/postman && npm ci --no-audit --no-fund --loglevel=error)
bash scripts/install-editors.sh
# tests/e2e/test_tracking_ui.py: Debian's chromium (headless). tests/team: Debian's PostgreSQL
# (the tests start a private cluster of their own on 127.0.0.1).
bash scripts/install-browser.sh
bash scripts/install-code-server.sh; bash scripts/package-vscode.sh  # test_vscode_workbench.py
bash scripts/postgres.sh install

echo "== ruff"
.venv/bin/ruff check server protocol tests bench client-sample/python
.venv/bin/ruff format --check server protocol tests bench client-sample/python
echo "== mypy"
.venv/bin/mypy
# Two workers (one per core of the CI machine); the tests that measure time or load (marked
# `serial`) run alone afterwards, so a neighbour's load cannot fail them. Exit code 5 is
# "collected nothing": fine for one part, not for both.
echo "== pytest (parallel)"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist worksteal -m "not serial" \
  --durations=25 "$@"
parallel=$?
echo "== pytest (serial)"
.venv/bin/python -m pytest -q -p no:cacheprovider -m serial --durations=5 "$@"
serial=$?
set -e
if [ "$parallel" -eq 5 ] && [ "$serial" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
for status in "$parallel" "$serial"; do
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
    exit "$status"
  fi
done
