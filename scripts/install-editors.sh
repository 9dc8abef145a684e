#!/usr/bin/env bash
# Installs the two editors whose Lensflow set-ups client-sample/editors/ ships, and that
# tests/clients/test_editor_setups.py tries: Neovim and Emacs (no X), from Debian's packages.
# Emacs 28 (Debian bookworm) has no built-in eglot (29+ has): Debian's elpa-eglot brings it.
# Idempotent: does nothing when nvim, emacs and eglot are already there. Root, or sudo.
set -euo pipefail
start=$(date +%s)

have() { command -v "$1" >/dev/null 2>&1; }
# Debian's elpa-* packages load through package-initialize (site-lisp/elpa).
have_eglot() {
  have emacs && emacs --batch --eval "(progn (package-initialize) (require 'eglot))" >/dev/null 2>&1
}

if have nvim && have_eglot; then
  echo "install-editors: nvim, emacs and eglot already present"
  exit 0
fi
if ! have apt-get; then
  echo "install-editors: no apt-get here: install Neovim and Emacs (with eglot) by hand" >&2
  exit 1
fi
sudo=()
[ "$(id -u)" -eq 0 ] || sudo=(sudo)
apt_install() {
  echo "install-editors: apt-get install $*"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

"${sudo[@]}" apt-get update -qq
packages=()
have nvim || packages+=(neovim)
have emacs || packages+=(emacs-nox)
# An Emacs older than 29 (bookworm's is 28.2) needs eglot from elpa-eglot.
if ! have emacs && ! apt-cache policy emacs-nox | grep -q 'Candidate: 1:\(29\|[3-9][0-9]\)'; then
  packages+=(elpa-eglot)
fi
[ "${#packages[@]}" -eq 0 ] || apt_install "${packages[@]}"
if ! have_eglot; then
  apt_install elpa-eglot
fi
have_eglot || { echo "install-editors: emacs still cannot (require 'eglot)" >&2; exit 1; }
echo "install-editors: $(nvim --version | head -1), $(emacs --version | head -1), done in $(($(date +%s) - start)) s"
