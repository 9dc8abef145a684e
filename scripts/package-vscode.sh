#!/usr/bin/env bash
# Packages the VS Code extension (client-sample/vscode) as .cache/vscode/lensflow-vscode.vsix,
# the .vsix that tests/clients/test_vscode_workbench.py installs into code-server.
# It builds in a copy (.cache/vscode/build/), so it never touches the extension's own
# node_modules/ or out/ (tests/clients/test_vscode_extension.py runs `npm ci` there, maybe at the
# same time). The copy's modules come from the extension's package-lock.json (`npm ci`, again
# only when the lock changed), with vsce as locked there (npm run package).
# Idempotent: does nothing when the .vsix was made from the extension's files as they are now
# (a SHA-256 over every file but node_modules/ and out/). npm's cache is .cache/npm.
set -euo pipefail
start=$(date +%s)
repo=$(cd "$(dirname "$0")/.." && pwd)
source_dir="$repo/client-sample/vscode"
home="$repo/.cache/vscode"
build="$home/build"
vsix="$home/lensflow-vscode.vsix"
say() { echo "package-vscode: $*"; }

digest() {  # every file of the extension but its modules and build output, names and contents
  (cd "$1" &&
    find . \( -path ./node_modules -o -path ./out \) -prune -o -type f -print0 | LC_ALL=C sort -z |
    xargs -0 sha256sum | sha256sum | cut -d' ' -f1)
}
wanted=$(digest "$source_dir")
if [ -f "$vsix" ] && [ "$(cat "$home/source.sha256" 2>/dev/null)" = "$wanted" ]; then
  say "${vsix#"$repo"/} is up to date"
  exit 0
fi

mkdir -p "$build"
# The copy: the extension's files as they are, its node_modules kept from the last build.
find "$build" -mindepth 1 -maxdepth 1 ! -name node_modules -exec rm -rf {} +
(cd "$source_dir" && tar --exclude=./node_modules --exclude=./out -cf - .) | tar -xf - -C "$build"
made_from=$(digest "$build")  # what the .vsix is made of, should a file change meanwhile
lock=$(sha256sum "$build/package-lock.json" | cut -d' ' -f1)
export npm_config_cache="$repo/.cache/npm" npm_config_update_notifier=false
if [ "$(cat "$build/node_modules/.lensflow-lock.sha256" 2>/dev/null)" != "$lock" ]; then
  say "npm ci (the extension's package-lock.json)"
  # No install scripts: packaging needs none (they would build keytar, vsce's optional
  # credential store, and fetch nothing that a .vsix carries).
  (cd "$build" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error --prefer-offline)
  echo "$lock" >"$build/node_modules/.lensflow-lock.sha256"
fi
rm -f "$vsix"
# stdin is /dev/null: should vsce ask anything (a missing LICENSE, say), the answer is no.
(cd "$build" && npm run --silent package -- --out "$vsix.part" </dev/null)
[ -s "$vsix.part" ] || { echo "package-vscode: vsce made no .vsix" >&2; exit 1; }
mv "$vsix.part" "$vsix"
echo "$made_from" >"$home/source.sha256"
say "${vsix#"$repo"/} made in $(($(date +%s) - start)) s"
