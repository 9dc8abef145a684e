#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium, which tests/e2e/test_tracking_ui.py drives to read
# MLflow's tracking UI as a person sees it. Nothing downloads a browser at test time: the test
# uses /usr/bin/chromium (via playwright's bundled driver, never `playwright install`).
# Idempotent: does nothing when /usr/bin/chromium exists. Root, or sudo.
set -euo pipefail
start=$(date +%s)

if [ -x /usr/bin/chromium ]; then
  echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null || echo chromium) already present"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get here: install Chromium as /usr/bin/chromium by hand" >&2
  exit 1
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends chromium >/dev/null
[ -x /usr/bin/chromium ] || { echo "install-browser: /usr/bin/chromium still missing" >&2; exit 1; }
echo "install-browser: $(/usr/bin/chromium --version 2>/dev/null), done in $(($(date +%s) - start)) s"
