#!/usr/bin/env bash
# Sets up Lensflow with its test extras, then lints, type-checks and runs the whole suite.
# This is the command CI runs (.ci/run) and the README gives.
set -euo pipefail
cd "$(dirname "$0")/.."
# The scoring app's tests serve ONNX and TensorFlow models, and the Azure ML workspace's tests
# load the real azureml SDK classes they substitute: those extras come too.
bash scripts/setup.sh test,onnx,tensorflow,azureml,notebooks

# Slow steps that need not hold up the next ones run in the background: `background NAME LINES
# COMMAND...` runs COMMAND in a session of its own, its output in .cache/setup-jobs/NAME.log and
# its exit status in NAME.status once done (NAME.pid meanwhile). `finish_background [NAME...]`
# waits for those jobs (all by default), shows how each ended, and fails if one failed. The
# tests that need an install made in the background wait for it themselves
# (tests/setup_jobs.py: they fail with its log if it failed); every job is waited for before
# this script ends.
jobs_dir=.cache/setup-jobs
background_names=()
background_pids=()
background_done=()
background_show=()
background() {  # LINES: how much of the job's log to show once it is done
  local name=$1 show=$2
  shift 2
  mkdir -p "$jobs_dir"
  rm -f "$jobs_dir/$name".{pid,status,status.part,log}
  # The job's shell writes its own pid (its process group's id: setsid made it the leader).
  setsid --wait bash -c 'echo $$ >"$1.pid"; "${@:2}" >"$1.log" 2>&1 </dev/null
    echo $? >"$1.status.part"; mv "$1.status.part" "$1.status"' _ "$jobs_dir/$name" "$@" &
  background_names+=("$name")
  background_pids+=("$!")
  background_show+=("$show")
  echo "== $name: in the background (log: $jobs_dir/$name.log)"
}
finish_background() {
  local i name status failed=0
  for i in "${!background_names[@]}"; do
    name=${background_names[$i]}
    if [ "$#" -gt 0 ] && [[ " $* " != *" $name "* ]]; then
      continue
    fi
    [ -z "${background_done[$i]:-}" ] || continue
    wait "${background_pids[$i]}" || true
    background_done[$i]=1
    status=$(cat "$jobs_dir/$name.status" 2>/dev/null || echo "none")
    if [ "$status" = 0 ]; then
      echo "== $name: done"
      tail -"${background_show[$i]}" "$jobs_dir/$name.log"
    else
      echo "== $name FAILED (exit status $status); the end of $jobs_dir/$name.log:" >&2
      tail -40 "$jobs_dir/$name.log" >&2
      failed=1
    fi
  done
  return "$failed"
}
# On any exit: no job outlives this script (an early exit: ruff failed, say), and no pid or
# status file is left, so that a later pytest run by hand does not wait for a job.
stop_background() {
  local i prefix group
  for i in "${!background_names[@]}"; do
    prefix="$jobs_dir/${background_names[$i]}"
    if [ ! -f "$prefix.status" ]; then
      group=$(cat "$prefix.pid" 2>/dev/null || true)
      [ -z "$group" ] || kill -- "-$group" 2>/dev/null || true
      kill "${background_pids[$i]}" 2>/dev/null || true
    fi
    rm -f "$prefix.pid" "$prefix.status" "$prefix.status.part"
  done
}
trap stop_background EXIT
# mypy (~100-140 s on a clean clone, with no cache; one core) runs while the installs below
# wait on the network and apt; it is waited for, and must pass, before pytest starts.
background mypy 1000 .venv/bin/mypy
# The client samples' tests: Node.js for the VS Code extension and the Node client (the
# machine's own, else Debian's), Neovim and Emacs for the editor set-ups.
if ! command -v npm >/dev/null; then
  sudo=(); [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq nodejs npm >/dev/null
fi
# tests/scoring/test_postman.py: Postman's converter and newman, exactly as locked (the test
# waits for this job).
background postman 3 \
  bash -c 'cd tests/clients/postman && npm ci --no-audit --no-fund --loglevel=error'
# Debian's packages, one after the other (apt takes a lock), in the background: Neovim and
# Emacs for tests/clients/test_editor_setups.py, Chromium (headless) for the tracking UI and
# workbench tests, PostgreSQL for tests/team (which starts a private cluster on 127.0.0.1).
background system-packages 3 bash -c 'bash scripts/install-editors.sh &&
  bash scripts/install-browser.sh && bash scripts/postgres.sh install'

# tests/clients/test_vscode_workbench.py: code-server, then the extension's .vsix.
background vscode-workbench 3 \
  bash -c 'bash scripts/install-code-server.sh && bash scripts/package-vscode.sh'

echo "== ruff"
.venv/bin/ruff check server protocol tests bench client-sample/python
.venv/bin/ruff format --check server protocol tests bench client-sample/python
echo "== mypy"
finish_background mypy
# Two workers (one per core of the CI machine); the tests that measure time or load (marked
# `serial`) run alone afterwards, so a neighbour's load cannot fail them. Exit code 5 is
# "collected nothing": fine for one part, not for both.
echo "== pytest (parallel)"
set +e
.venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist worksteal -m "not serial" \
  --durations=25 "$@"
parallel=$?
echo "== pytest (serial)"
# Only the files that mark tests serial are collected (all of them took ~21 s to select five).
serial_args=("$@")
if [ "$#" -eq 0 ]; then
  mapfile -t serial_args < <(grep -rlE --include='test_*.py' 'pytest\.mark\.serial' tests | sort)
fi
.venv/bin/python -m pytest -q -p no:cacheprovider -m serial --durations=5 "${serial_args[@]}"
serial=$?
set -e
finish_background
if [ "$parallel" -eq 5 ] && [ "$serial" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
for status in "$parallel" "$serial"; do
  if [ "$status" -ne 0 ] && [ "$status" -ne 5 ]; then
    exit "$status"
  fi
done
