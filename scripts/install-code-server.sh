#!/usr/bin/env bash
# Installs code-server (VS Code in the browser, from npm) into .cache/code-server/<version>/ in
# the repository (git-ignored), for tests/clients/test_vscode_workbench.py. Only the package
# registries are used: npm for code-server and its modules, Debian's apt for the build tools and
# ripgrep. code-server's own postinstall would fetch parts from GitHub (argon2's and ripgrep's
# prebuilt binaries, a git dependency of VS Code), so it is done by hand here:
#   - `npm install --ignore-scripts`, then argon2 built from source against the system's Node
#     headers (/usr/include/node, --nodedir=/usr: node-gyp downloads no headers);
#   - lib/vscode's lock points @vscode/proxy-agent 0.27.0 at the npm registry's tarball, which
#     has the very integrity the lock names (npm checks it);
#   - VS Code's native modules rebuilt from source the same way;
#   - Debian's ripgrep (/usr/bin/rg) as @vscode/ripgrep's binary;
#   - the links and the built-in extensions' modules the postinstall would make.
# npm's cache is .cache/npm in the repository: nothing is cached outside it.
# Idempotent: does nothing when this version is installed (the marker file is written last).
# Fails loudly: any failed step stops the script with its error. Root, or sudo, for apt-get.
set -euo pipefail
VERSION=4.96.4
PROXY_AGENT=0.27.0
PROXY_AGENT_GIT="git+ssh://git@github.com/microsoft/vscode-proxy-agent.git#0803e0a7d1249bcb64ae9d256d0ee732b7246ea5"
PROXY_AGENT_TGZ="https://registry.npmjs.org/@vscode/proxy-agent/-/proxy-agent-$PROXY_AGENT.tgz"
NATIVE=(@parcel/watcher @vscode/deviceid @vscode/spdlog kerberos native-watchdog node-pty)

start=$(date +%s)
repo=$(cd "$(dirname "$0")/.." && pwd)
home="$repo/.cache/code-server"
target="$home/$VERSION"
marker="$target/.installed"
entry="$target/node_modules/code-server/out/node/entry.js"
say() { echo "install-code-server: $*"; }
die() { echo "install-code-server: $*" >&2; exit 1; }

if [ -f "$marker" ] && [ "$(cat "$marker")" = "$VERSION" ] && [ -f "$entry" ]; then
  say "code-server $VERSION already installed in ${target#"$repo"/}"
  exit 0
fi

# Node.js 20 (code-server 4.96 runs on it and no other), with its headers for the native builds.
command -v node >/dev/null || die "no node on PATH: code-server $VERSION needs Node.js 20"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" = 20 ] || die "code-server $VERSION needs Node.js 20, this is $(node --version)"
[ -f /usr/include/node/node_api.h ] && [ -f /usr/include/node/common.gypi ] ||
  die "no Node.js headers in /usr/include/node (Debian's or NodeSource's nodejs package has them)"

# Debian's build tools, the headers the native modules link against, and ripgrep.
packages=(build-essential pkg-config libsecret-1-dev libkrb5-dev ripgrep)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
  command -v apt-get >/dev/null || die "no apt-get here: install ${missing[*]} by hand"
  sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  say "apt-get install ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -x /usr/bin/rg ] || die "/usr/bin/rg missing after installing ripgrep"

# A fresh staging folder, renamed into place once everything worked.
staging="$home/.staging-$VERSION"
rm -rf "$staging"
mkdir -p "$staging"
export npm_config_cache="$repo/.cache/npm"
export npm_config_nodedir=/usr       # node-gyp: the system's headers, never a download
export npm_config_update_notifier=false
npm_flags=(--ignore-scripts --no-audit --no-fund --loglevel=error)

cd "$staging"
cat >package.json <<EOF
{"name": "lensflow-code-server", "private": true, "dependencies": {"code-server": "$VERSION"}}
EOF
say "npm install code-server@$VERSION (no install scripts)"
npm install "${npm_flags[@]}"
cs="$staging/node_modules/code-server"
[ "$(node -p "require('$cs/package.json').version")" = "$VERSION" ] || die "npm installed another version"

say "argon2 from source"
(cd node_modules/argon2 && ../.bin/node-pre-gyp rebuild --build-from-source --nodedir=/usr >build.log 2>&1) ||
  { tail -30 node_modules/argon2/build.log >&2; die "argon2 did not build"; }
(cd "$cs" && node -e 'require("argon2").hash("x").then(h => { if (!h.startsWith("$argon2")) process.exit(1) })') ||
  die "the argon2 just built does not load"

say "VS Code's modules (lib/vscode), @vscode/proxy-agent $PROXY_AGENT from the registry"
cd "$cs/lib/vscode"
grep -qF "\"resolved\": \"$PROXY_AGENT_GIT\"" npm-shrinkwrap.json ||
  die "lib/vscode/npm-shrinkwrap.json no longer names $PROXY_AGENT_GIT: check the proxy-agent step"
integrity=$(npm view "@vscode/proxy-agent@$PROXY_AGENT" dist.integrity)
grep -qF "\"integrity\": \"$integrity\"" npm-shrinkwrap.json ||
  die "the registry's @vscode/proxy-agent@$PROXY_AGENT ($integrity) is not the one the lock names"
PROXY_AGENT_GIT="$PROXY_AGENT_GIT" PROXY_AGENT_TGZ="$PROXY_AGENT_TGZ" node -e '
  const fs = require("fs");
  const text = fs.readFileSync("npm-shrinkwrap.json", "utf8");
  const was = `"resolved": "${process.env.PROXY_AGENT_GIT}"`;
  fs.writeFileSync("npm-shrinkwrap.json", text.split(was).join(`"resolved": "${process.env.PROXY_AGENT_TGZ}"`));'
! grep -q '"resolved": "git' npm-shrinkwrap.json || die "lib/vscode's lock still has a git dependency"
npm install --omit=dev "${npm_flags[@]}"

say "native modules from source: ${NATIVE[*]}"
npm rebuild --nodedir=/usr "${NATIVE[@]}" >rebuild.log 2>&1 ||
  { tail -40 rebuild.log >&2; die "npm rebuild of the native modules failed (log above)"; }
for built in kerberos/build/Release/kerberos.node @vscode/spdlog/build/Release/spdlog.node \
  native-watchdog/build/Release/watchdog.node node-pty/build/Release/pty.node; do
  [ -f "node_modules/$built" ] || die "node_modules/$built was not built"
done
node -e 'for (const m of ["@parcel/watcher", "@vscode/spdlog", "kerberos", "native-watchdog", "node-pty"]) require(m)' ||
  die "a native module does not load"

say "Debian's ripgrep for @vscode/ripgrep"
mkdir -p node_modules/@vscode/ripgrep/bin
cp /usr/bin/rg node_modules/@vscode/ripgrep/bin/rg
"node_modules/@vscode/ripgrep/bin/rg" --version >/dev/null

# What code-server's postinstall does after its install: the asar link, the CLI scripts.
ln -sfn node_modules node_modules.asar
(cd bin/remote-cli && ln -sfn code-linux.sh code-server)
(cd bin/helpers && ln -sfn browser-linux.sh browser.sh)

say "the built-in extensions' modules"
cd extensions
npm install --omit=dev "${npm_flags[@]}"
node ./postinstall.mjs >/dev/null

cd "$staging"
version=$(XDG_CONFIG_HOME="$staging/.xdg" XDG_DATA_HOME="$staging/.xdg" node "$cs/out/node/entry.js" --version | tail -1)
rm -rf "$staging/.xdg"
case "$version" in
  "$VERSION "*) ;;
  *) die "code-server --version says '$version', not $VERSION" ;;
esac
echo "$VERSION" >.installed
rm -rf "$target"
mv "$staging" "$target"
say "code-server $VERSION in ${target#"$repo"/}, done in $(($(date +%s) - start)) s"
